"""MNIST (LeCun et al.) and Fashion-MNIST (Xiao et al., 2017) from their canonical IDX gz files.

File names, sizes and digests are those of the canonical distributions (see the mirror's
SOURCES.md); the download URLs are the ones Keras and TensorFlow use.
"""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Callable

import numpy as np

from ._store import FileSpec, load_verified

_FILES = {
    "mnist": {
        "train_images": ("train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"),
    },
    "fashion_mnist": {
        "train_images": ("train-images-idx3-ubyte.gz", "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        "train_labels": ("train-labels-idx1-ubyte.gz", "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        "test_images": ("t10k-images-idx3-ubyte.gz", "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        "test_labels": ("t10k-labels-idx1-ubyte.gz", "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"),
    },
}
_URLS = {
    "mnist": ("https://storage.googleapis.com/cvdf-datasets/mnist/",
              "https://ossci-datasets.s3.amazonaws.com/mnist/"),
    "fashion_mnist": ("https://storage.googleapis.com/tensorflow/tf-keras-datasets/",),
}
_ORDER = ("train_images", "train_labels", "test_images", "test_labels")


def _specs(name: str) -> list[FileSpec]:
    return [FileSpec(fname, sha256=digest, urls=tuple(base + fname for base in _URLS[name]))
            for fname, digest in (_FILES[name][part] for part in _ORDER)]


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped IDX file (unsigned-byte data only, as MNIST uses)."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    if data[:2] != b"\x00\x00" or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def manifest(name: str) -> Callable[[], list[FileSpec]]:
    return lambda: _specs(name)


def loader(name: str) -> Callable[..., dict]:
    def load() -> dict:
        def parse(paths: list[Path]) -> dict[str, np.ndarray]:
            return {part: read_idx(path) for part, path in zip(_ORDER, paths)}

        arrays = load_verified(name, _specs(name), {}, parse)
        return dict(
            x_pool=arrays["train_images"].astype(np.float32) / 255.0,
            y_pool=arrays["train_labels"].astype(np.int64),
            x_eval=arrays["test_images"].astype(np.float32) / 255.0,
            y_eval=arrays["test_labels"].astype(np.int64),
            num_classes=10,
            choices={"eval_split": "test"},
        )

    return load
