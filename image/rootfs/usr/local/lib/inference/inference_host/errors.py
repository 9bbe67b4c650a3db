"""How an updater run fails: UpdateError (exit 1, what serves is untouched) or ConfigError (exit 2)."""


class UpdateError(Exception):
    """A run that cannot go on; what serves is left as it was. ``event`` names it in the log."""

    def __init__(self, event: str, reason: str, **fields):
        super().__init__(reason)
        self.event = event
        self.reason = reason
        self.fields = fields


class ConfigError(Exception):
    """Settings or usage the operator has to fix (exit 2)."""
