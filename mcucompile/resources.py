"""Where the non-Python parts live: templates/, runtime_c/ and boards/.

In a source checkout they sit beside the package; in an installed wheel they are shipped
inside it as mcucompile/_data/<name> (see pyproject.toml).
"""
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _locate(name: str) -> Path:
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"mcucompile installation is incomplete: '{name}/' not found")


def templates_dir() -> Path:
    return _locate("templates")


def runtime_dir() -> Path:
    return _locate("runtime_c")


def boards_dir() -> Path:
    return _locate("boards")
