"""The job layer: from a composed config to rows, and the sweep around it.

- ``plan``: a job's runs, their identities and run keys (``identity``, ``run_key``).
- ``execute``: claim (``store.claimed``), run the protocol, write one row per run.
- ``app``: the Hydra application behind ``coreset-bench run``; ``sweep``: the sweep's tally.
- ``embed``: ``coreset-bench embed``, a run's warm-start embeddings as a file.
- ``interrupts``: Ctrl-C and SIGTERM that are never lost.

Imports here stay light: ``from coreset_bench import job`` loads no framework.
"""
