"""Which Keras backend a job runs on, chosen per job before Keras is imported.

Keras 3 reads its backend once per process (``KERAS_BACKEND``). A job calls ``activate(name)``
before it touches Keras: the first activation sets the variable and imports Keras; a later job of
the same worker that needs another backend switches with ``keras.config.set_backend`` (Keras then
re-imports itself; nothing built before survives, and the engines rebuild what they need).

Also here, because it must happen before the libraries load:

- a quiet start: TensorFlow's import-time C++ lines (absl's "All log messages before
  absl::InitializeLog()", the CPU feature guard, oneDNN's notice) are dropped by sending
  file descriptor 2 to /dev/null for the duration of ``import tensorflow`` only; Python warnings
  and anything printed later still show;
- XLA on CPU runs single-threaded inside a job (``--xla_cpu_multi_thread_eigen=false``): results
  then do not depend on how many threads a job has, hence on the number of workers, and parallelism
  comes from the workers;
- JAX's persistent compilation cache (``$CORESET_BENCH_CACHE/jax``, default
  ``~/.cache/coreset-bench/jax``), so a new worker reuses compiled training steps.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import warnings
from pathlib import Path

from ..errors import ConfigError

BACKENDS = ("jax", "tensorflow")
_XLA_CPU_FLAGS = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"


def installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def check(name: str) -> None:
    """ConfigError unless ``name`` is a known and installed backend."""
    if name not in BACKENDS:
        raise ConfigError(f"backend={name!r} is not valid; valid choices: auto, {', '.join(BACKENDS)}")
    if not installed(name):
        have = [b for b in BACKENDS if installed(b)]
        raise ConfigError(f"backend={name} is not installed (pip install {name}); installed "
                          f"backends: {', '.join(have) or 'none'}")


@contextlib.contextmanager
def _stderr_silenced():
    """Send fd 2 to /dev/null (C++ logging at import time ignores Python's sys.stderr)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, captured): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def quiet_environment() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("ABSL_MIN_LOG_LEVEL", "2")
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_cpu_multi_thread_eigen" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {_XLA_CPU_FLAGS}".strip()


def import_tensorflow():
    quiet_environment()
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    with _stderr_silenced():
        import tensorflow as tf
    return tf


def _jax_cache() -> None:
    import logging

    # JAX logs (INFO) each accelerator plugin it could not load, e.g. "Unable to initialize
    # backend 'tpu'": noise on a CPU or GPU machine. Its warnings still show.
    logging.getLogger("jax._src.xla_bridge").setLevel(logging.WARNING)
    import jax

    root = Path(os.environ.get("CORESET_BENCH_CACHE", Path.home() / ".cache" / "coreset-bench"))
    try:
        path = root / "jax"
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    except OSError:  # read-only home: compile in memory only
        pass


def activate(name: str, *, with_tensorflow: bool = True):
    """Make ``name`` the Keras backend of this process and return the ``keras`` module.

    ``with_tensorflow=False`` (the ``vmap`` engine, which trains with JAX alone) leaves
    TensorFlow unimported on JAX: its import is about 5 s of every new worker process."""
    check(name)
    quiet_environment()
    # TensorFlow before Keras, so its import-time lines are silenced too; on JAX as well where it
    # is installed and wanted: Keras (3.15) imports it at the first keras.utils.set_random_seed
    # to seed it (``models.set_random_seed`` leaves it out when it was not imported)
    if name == "tensorflow" or (with_tensorflow and installed("tensorflow")):
        import_tensorflow()
    if name == "jax":
        _jax_cache()
    if "keras" not in sys.modules:
        os.environ["KERAS_BACKEND"] = name
        with _stderr_silenced():
            import keras
        return keras
    import keras

    if keras.backend.backend() != name:
        os.environ["KERAS_BACKEND"] = name
        with _stderr_silenced(), warnings.catch_warnings():
            # "set_backend is dangerous": expected; engines rebuild their Keras objects
            warnings.simplefilter("ignore", UserWarning)
            keras.config.set_backend(name)
        import keras  # the re-imported module
    return keras


def device() -> str:
    """Where this process's models run, for the result rows: ``cpu``, or the accelerator JAX
    uses (e.g. ``gpu:NVIDIA H200``). TensorFlow is installed CPU-only (``tensorflow-cpu``)."""
    if current() != "jax" or "jax" not in sys.modules:
        return "cpu"
    dev = sys.modules["jax"].devices()[0]
    return "cpu" if dev.platform == "cpu" else f"{dev.platform}:{dev.device_kind}"


def current() -> str | None:
    """The backend Keras runs on in this process, or None before Keras is imported."""
    if "keras" not in sys.modules:
        return None
    return sys.modules["keras"].backend.backend()
