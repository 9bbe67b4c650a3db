"""The one exception type that carries a user-facing, one-line error."""


class UserError(Exception):
    """Bad input or an unmet precondition: printed as one line, no traceback.

    ``hint`` names the fix ("run: apt-get install packer"), so every error says
    what to do next.
    """

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message
