"""The output directory of `compile -o OUT` (and `simulate/profile -o OUT`): checked before any
work, written all at once.

- OUT may be a new path, an empty directory, or a directory mcucompile wrote before (it holds
  the marker file MARKER, which lists the entries the project consists of). Anything else (a
  file, a directory with other contents, "") is refused: the compiler never writes over a
  user's files.
- The project is generated into a staging directory beside OUT (same file system) and only
  published once complete and checked (e.g. its constants fit the board's flash); publishing
  removes the previous project's entries and renames the new ones into OUT. Two processes
  writing one OUT publish one after the other (an exclusive flock on OUT's parent directory),
  so OUT holds one complete project, never a mix. Entries the user added to a project
  directory (a build/ of make, quantized/ of --calibrate) are left alone.
"""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path

from .errors import McucError

MARKER = ".mcucompile-project"


def _entries(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def check_output_dir(out_dir: str | Path) -> Path:
    """OUT as a Path, if mcucompile may write a project there; else a McucError."""
    if str(out_dir).strip() == "":
        raise McucError("the output directory is empty (-o \"\"): name a directory")
    path = Path(out_dir)
    for parent in reversed(path.absolute().parents):
        if parent.exists() and not parent.is_dir():
            raise McucError(f"cannot write the project below {parent}: it is a file", str(path))
    if path.exists() or path.is_symlink():
        if not path.is_dir():
            raise McucError("the output path exists and is not a directory", str(path))
        if _entries(path) and not (path / MARKER).is_file():
            raise McucError("the output directory holds files that are not an mcucompile "
                            "project: refusing to write into it", str(path),
                            hint="name a new or empty directory")
    return path


def staging_dir(out_dir: Path) -> Path:
    """A fresh directory beside OUT to generate the project into (publish() moves it)."""
    parent = out_dir.absolute().parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out_dir.name[:40]}.", suffix=".tmp", dir=parent))
    except OSError as e:
        raise McucError(f"cannot write the project into {parent}: {e.strerror}",
                        str(out_dir)) from None


@contextmanager
def _locked(directory: Path):
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def publish(staging: Path, out_dir: Path) -> None:
    """Replace the project in OUT by the complete one in `staging` (which is consumed)."""
    names = _entries(staging)
    (staging / MARKER).write_text("".join(f"{name}\n" for name in names))
    with _locked(out_dir.absolute().parent):
        check_output_dir(out_dir)           # again: another process may have written it
        if not out_dir.exists():
            os.rename(staging, out_dir)
            return
        marker = out_dir / MARKER
        old = marker.read_text().split("\n") if marker.exists() else []
        for name in filter(None, set(old) | set(names)):
            if "/" in name or name in (".", ".."):
                continue
            stale = out_dir / name
            if stale.is_dir() and not stale.is_symlink():
                shutil.rmtree(stale)
            elif stale.exists() or stale.is_symlink():
                stale.unlink()
        for name in names:
            os.rename(staging / name, out_dir / name)
        os.rename(staging / MARKER, marker)
        staging.rmdir()


def claim(out_dir: str | Path) -> Path:
    """Make OUT a (so far empty) project directory, for what goes into it before the project
    (--calibrate's quantized/); a McucError where check_output_dir refuses."""
    path = check_output_dir(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    if not (path / MARKER).exists():
        (path / MARKER).write_text("")
    return path
