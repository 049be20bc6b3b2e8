"""The error a user fixes in their pipeline file (kept apart so both config.py and secrets.py can raise it)."""


class ConfigError(ValueError):
    """A config problem, phrased as 'file: key: what is wrong'."""
