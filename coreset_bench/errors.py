"""Errors that mean "the user asked for something impossible" (one clear line, exit 2, no row).

Anything else raised during a run is a failure of the run: it is recorded as a failed row with
its traceback, never as ok.
"""


class UserError(Exception):
    """Bad input: an unknown name, an impossible budget, a missing or corrupted data file."""


class ConfigError(UserError):
    """A configuration value is invalid; the message names it and the valid choices."""


class DataError(UserError):
    """A data file is missing, incomplete or fails its checksum."""


class StoreError(UserError):
    """A result file could not be written (full disk, read-only or unwritable path): the sweep
    stops with one line naming the path and the cause; nothing partial is left behind."""

    def __init__(self, path, exc: OSError):
        self.path, self.cause = str(path), exc
        super().__init__(f"cannot write {path}: {exc.strerror or exc}; rows written so far are "
                         "kept, the run in flight is not recorded; free space or fix the "
                         "permissions and re-run the same command to resume")
