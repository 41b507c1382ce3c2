"""One error type for everything a user can get wrong: the CLI prints it without a traceback.

Its text often quotes a model's names or a board's answers, so every part goes through
escape.terminal: no control character or escape sequence reaches the user's terminal."""
from .escape import LINE_LIMIT, terminal


class McucError(Exception):
    """A user-facing error. `where` names the file, op index or tensor it concerns."""

    def __init__(self, message: str, where: str | None = None, hint: str | None = None):
        self.message = terminal(message, LINE_LIMIT, newlines=True)
        self.where = None if where is None else terminal(where, LINE_LIMIT)
        self.hint = None if hint is None else terminal(hint, LINE_LIMIT, newlines=True)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text
