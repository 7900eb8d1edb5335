"""Where data files live, how they are verified, fetched, and how parsed arrays are cached.

- Data directory: ``$CORESET_BENCH_DATA`` (default ``~/.cache/coreset-bench/data``), one
  sub-folder per dataset holding its canonical file names. A read-only local mirror works.
- Missing files are downloaded from the canonical source when ``$CORESET_BENCH_DOWNLOAD`` is
  ``auto`` (default) and the network answers; ``never`` turns downloads off.
- Every file is checked against its published checksum before it is parsed; a mismatch is an
  error naming the file, the expected and the found digest. A corrupted file is never used.
- Parsed arrays are cached in ``$CORESET_BENCH_CACHE`` (default ``~/.cache/coreset-bench/arrays``)
  under a key made of the source files' size and mtime, written only after verification, so a
  second load skips parsing and hashing; a source file that changes gets a new key and is
  verified again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import DataError

ENV_DATA = "CORESET_BENCH_DATA"
ENV_CACHE = "CORESET_BENCH_CACHE"
ENV_DOWNLOAD = "CORESET_BENCH_DOWNLOAD"
CACHE_FORMAT = 1  # bump when a parser's output changes


def _user_cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "coreset-bench"


def data_dir() -> Path:
    value = os.environ.get(ENV_DATA)
    return Path(value).expanduser() if value else _user_cache() / "data"


def cache_dir() -> Path:
    value = os.environ.get(ENV_CACHE)
    return Path(value).expanduser() if value else _user_cache() / "arrays"


def downloads_enabled() -> bool:
    value = os.environ.get(ENV_DOWNLOAD, "auto").lower()
    if value not in ("auto", "never"):
        raise DataError(f"{ENV_DOWNLOAD}={value!r} is not valid; use one of: auto, never")
    return value == "auto"


@dataclass(frozen=True)
class FileSpec:
    """One canonical file of a dataset, relative to ``<data_dir>/<dataset>/``.

    ``sha256`` is checked when known, else ``md5`` (the digest the source publishes), else only
    ``size``. ``urls`` are tried in order when the file is missing.
    """

    relpath: str
    sha256: str | None = None
    md5: str | None = None
    size: int | None = None
    urls: tuple[str, ...] = ()

    @property
    def expected(self) -> str:
        if self.sha256:
            return f"sha256 {self.sha256}"
        if self.md5:
            return f"md5 {self.md5}"
        return f"size {self.size} bytes (no published checksum)"


@dataclass(frozen=True)
class FileStatus:
    spec: FileSpec
    path: Path
    state: str  # ok | missing | mismatch
    found: str = ""

    @property
    def ok(self) -> bool:
        return self.state == "ok"

    def describe(self) -> str:
        if self.state == "ok":
            return f"ok        {self.spec.relpath}"
        if self.state == "missing":
            return f"missing   {self.spec.relpath} (expected {self.spec.expected})"
        return f"MISMATCH  {self.spec.relpath}: expected {self.spec.expected}, found {self.found}"


def _digest(path: Path, algorithm: str) -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def check(dataset: str, spec: FileSpec, root: Path | None = None) -> FileStatus:
    """Hash one file and compare it with its reference."""
    path = (root or data_dir()) / dataset / spec.relpath
    if not path.is_file():
        return FileStatus(spec, path, "missing")
    if spec.size is not None and path.stat().st_size != spec.size:
        return FileStatus(spec, path, "mismatch", f"size {path.stat().st_size} bytes")
    if spec.sha256:
        found = _digest(path, "sha256")
        return FileStatus(spec, path, "ok" if found == spec.sha256 else "mismatch", f"sha256 {found}")
    if spec.md5:
        found = _digest(path, "md5")
        return FileStatus(spec, path, "ok" if found == spec.md5 else "mismatch", f"md5 {found}")
    return FileStatus(spec, path, "ok")


def _fetch_url(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=60) as response:
            shutil.copyfileobj(response, out, length=1 << 20)
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def _problem(dataset: str, status: FileStatus, extra: str = "") -> DataError:
    where = f"{ENV_DATA}={data_dir()}"
    if status.state == "missing":
        msg = (f"{dataset}: missing file {status.path} (expected {status.spec.expected}); "
               f"put the canonical file there or point {where} elsewhere")
    else:
        msg = (f"{dataset}: checksum mismatch for {status.path}: expected {status.spec.expected}, "
               f"found {status.found}; the file is corrupted and was not used ({where})")
    return DataError(msg + (f"; {extra}" if extra else ""))


def ensure(dataset: str, specs: Sequence[FileSpec], *, hint: str = "") -> list[Path]:
    """Verify ``specs`` (downloading missing files when allowed); return their paths."""
    paths = []
    for spec in specs:
        status = check(dataset, spec)
        if status.state == "missing" and spec.urls and downloads_enabled():
            errors = []
            for url in spec.urls:
                try:
                    _fetch_url(url, status.path)
                    break
                except OSError as exc:  # URLError, HTTPError, timeouts, permission
                    errors.append(f"{url}: {exc}")
            status = check(dataset, spec)
            if status.state == "missing":
                raise _problem(dataset, status, "download failed: " + " | ".join(errors))
        if not status.ok:
            raise _problem(dataset, status, hint)
        paths.append(status.path)
    return paths


def fetch_archive(dataset: str, url: str, sha256: str, members: Callable[[str], str | None]) -> None:
    """Download a tar archive, verify it, extract the members ``members`` maps to a relpath."""
    if not downloads_enabled():
        raise DataError(f"{dataset}: files missing and downloads are off ({ENV_DOWNLOAD}=never)")
    root = data_dir() / dataset
    archive = root / url.rsplit("/", 1)[-1]
    try:
        if not archive.is_file():
            _fetch_url(url, archive)
        found = _digest(archive, "sha256")
        if found != sha256:
            raise DataError(f"{dataset}: checksum mismatch for {archive}: expected sha256 {sha256}, "
                            f"found sha256 {found}; delete it and retry")
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                rel = members(member.name)
                if rel is None or not member.isfile():
                    continue
                dest = root / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                src = tar.extractfile(member)
                assert src is not None
                with src, open(dest, "wb") as out:
                    shutil.copyfileobj(src, out)
    except OSError as exc:
        raise DataError(f"{dataset}: could not download {url} into {root}: {exc} "
                        f"(offline? point {ENV_DATA} at a mirror)") from exc


def _cache_key(name: str, paths: Iterable[Path], options: dict) -> str:
    parts = [name, CACHE_FORMAT, sorted(options.items())]
    for path in paths:
        st = path.stat()
        parts.append([str(path.resolve()), st.st_size, st.st_mtime_ns])
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:20]


def load_verified(dataset: str, specs: Sequence[FileSpec], options: dict,
                  parse: Callable[[list[Path]], dict[str, np.ndarray]], *, hint: str = ""
                  ) -> dict[str, np.ndarray]:
    """Arrays parsed from the files ``specs``, from the cache when those files are unchanged.

    On a cache miss the files are verified (and fetched if missing) before ``parse`` sees them,
    and the parsed arrays are cached under a key of the files' size and mtime.
    """
    paths = [data_dir() / dataset / spec.relpath for spec in specs]
    if all(p.is_file() for p in paths):
        entry = cache_dir() / f"{dataset}-{_cache_key(dataset, paths, options)}.npz"
        if entry.is_file():
            try:
                with np.load(entry) as npz:
                    return {k: npz[k] for k in npz.files}
            except (OSError, ValueError):
                entry.unlink(missing_ok=True)  # a damaged cache entry is rebuilt, never trusted
    paths = ensure(dataset, specs, hint=hint)
    arrays = parse(paths)
    entry = cache_dir() / f"{dataset}-{_cache_key(dataset, paths, options)}.npz"
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=entry.parent, prefix=f".{entry.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, entry)
    except OSError:
        pass  # an unwritable cache only costs speed
    return arrays
