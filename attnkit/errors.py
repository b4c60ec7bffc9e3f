"""Errors a user can cause. The CLI prints these as one line, never a traceback."""


class AttnkitError(Exception):
    """A mistake in the user's input (command line, config file, design)."""


class ConfigError(AttnkitError, ValueError):
    """A config value that is missing, unknown, of the wrong type or impossible."""
