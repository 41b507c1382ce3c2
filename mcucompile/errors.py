"""One error type for everything a user can get wrong: the CLI prints it without a traceback."""


class McucError(Exception):
    """A user-facing error. `where` names the file, op index or tensor it concerns."""

    def __init__(self, message: str, where: str | None = None, hint: str | None = None):
        self.message = message
        self.where = where
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text
