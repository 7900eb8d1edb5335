"""coreset-bench: an experiment harness for coreset-based data selection.

Reproduces *Sensitivity Sampling for Coreset-Based Data Selection* and compares data-selection
methods under one protocol. See README.md for the commands.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``coreset_bench.select`` (the samplers as a library, ``api.select``), imported on first
    use so the CLI starts fast."""
    if name == "select":
        from .api import select

        return select
    raise AttributeError(f"module 'coreset_bench' has no attribute {name!r}")


__all__ = ["select", "__version__"]
