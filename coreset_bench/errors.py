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
