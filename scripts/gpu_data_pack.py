"""Carry CIFAR-10's training batches to a machine that is reached only through a size-limited copy.

The five ``data_batch_*.bin`` files are 153.6 MB and compress poorly (zstd -19: 86%); a lent
GPU machine takes at most 64 MiB per call. Pixels are coded losslessly as residuals of the
median edge detector predictor (LOCO-I / JPEG-LS: min(a, b), max(a, b) or a + b - c from the left,
upper and upper-left neighbours, per channel), then LZMA: 65% of the raw size, so the train set
travels in two parts of about 50 MB. ``unpack`` rebuilds the ``.bin`` files byte for byte and
checks each against the sha256 the data loader pins (``coreset_bench.data.cifar10``).

    python scripts/gpu_data_pack.py pack CIFAR10_DIR OUT_DIR       # writes part_a.xz, part_b.xz
    python scripts/gpu_data_pack.py unpack PART [PART ...] DATA_DIR  # DATA_DIR/cifar10/cifar-10-batches-bin/
"""

from __future__ import annotations

import hashlib
import io
import lzma
import sys
from pathlib import Path

import numpy as np

RECORD = 3073
BIN = "cifar-10-batches-bin"
PARTS = {"part_a": (1, 2, 3), "part_b": (4, 5)}   # ~50 MB each after coding


def _med(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    return np.where(c >= hi, lo, np.where(c <= lo, hi, a + b - c))


def encode(px: np.ndarray) -> np.ndarray:
    """Residuals (mod 256) of (n, 3, 32, 32) uint8 pixels against the MED prediction."""
    x = px.astype(np.int16)
    a = np.zeros_like(x); a[..., :, 1:] = x[..., :, :-1]
    b = np.zeros_like(x); b[..., 1:, :] = x[..., :-1, :]
    c = np.zeros_like(x); c[..., 1:, 1:] = x[..., :-1, :-1]
    return ((x - _med(a, b, c)) % 256).astype(np.uint8)


def decode(res: np.ndarray) -> np.ndarray:
    """Inverse of ``encode``: pixel by pixel in raster order, all images and channels at once."""
    r = res.astype(np.int16)
    x = np.zeros_like(r)
    h, w = r.shape[-2:]
    zero = np.zeros(r.shape[:-2], dtype=np.int16)
    for i in range(h):
        for j in range(w):
            a = x[..., i, j - 1] if j else zero
            b = x[..., i - 1, j] if i else zero
            c = x[..., i - 1, j - 1] if i and j else zero
            x[..., i, j] = (r[..., i, j] + _med(a, b, c)) % 256
    return x.astype(np.uint8)


def pack(cifar_dir: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for part, batches in PARTS.items():
        buf = io.BytesIO()
        arrays = {}
        for i in batches:
            raw = np.fromfile(cifar_dir / BIN / f"data_batch_{i}.bin", dtype=np.uint8).reshape(-1, RECORD)
            arrays[f"labels_{i}"] = raw[:, 0]
            arrays[f"res_{i}"] = encode(raw[:, 1:].reshape(-1, 3, 32, 32))
        np.savez(buf, **arrays)
        data = lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME)
        (out_dir / f"{part}.xz").write_bytes(data)
        print(f"{part}: batches {batches}, {len(data) / 1e6:.1f} MB", flush=True)


def unpack(parts: list[Path], data_dir: Path) -> None:
    from coreset_bench.data import cifar10   # the pinned checksums

    pinned = {Path(spec.relpath).name: spec.sha256 for spec in cifar10._BIN_TRAIN}
    dest = data_dir / "cifar10" / BIN
    dest.mkdir(parents=True, exist_ok=True)
    for part in parts:
        with np.load(io.BytesIO(lzma.decompress(part.read_bytes()))) as z:
            for name in sorted(k for k in z.files if k.startswith("res_")):
                i = name.split("_")[1]
                px = decode(z[name]).reshape(-1, RECORD - 1)
                raw = np.concatenate([z[f"labels_{i}"][:, None], px], axis=1).tobytes()
                fname = f"data_batch_{i}.bin"
                digest = hashlib.sha256(raw).hexdigest()
                if digest != pinned.get(fname):
                    sys.exit(f"unpack: {fname} rebuilt from {part} has sha256 {digest}, "
                             f"expected {pinned.get(fname)}")
                (dest / fname).write_bytes(raw)
                print(f"unpack: {fname} ok (sha256 {digest[:12]})", flush=True)


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "pack":
        pack(Path(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) >= 4 and sys.argv[1] == "unpack":
        unpack([Path(p) for p in sys.argv[2:-1]], Path(sys.argv[-1]))
    else:
        sys.exit(__doc__)
