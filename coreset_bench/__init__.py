"""coreset-bench: an experiment harness for coreset-based data selection.

Reproduces *Sensitivity Sampling for Coreset-Based Data Selection* and compares data-selection
methods under one protocol. See README.md for the commands.
"""

__version__ = "0.1.0"
