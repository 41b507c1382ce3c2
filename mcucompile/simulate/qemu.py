"""The QEMU command line that runs a firmware ELF built for a "qemu" board.

-icount shift=S,sleep=off makes virtual time advance exactly 2^S ns per guest instruction and
decouples it from the host clock: the counter readings the harness turns into instruction
counts are then identical on every run, whatever else the machine is doing. Semihosting
(target=native) carries the harness's file I/O and printf to the host; the UART is not used.
A serial-transport firmware instead gets its UART on `serial` (a QEMU chardev, e.g. a TCP
server: mcucompile/link/qemu.py) and no semihosting, so a stray semihosting call locks up.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..boards import Board
from ..errors import McucError

QEMU = "qemu-system-arm"
LOCKUP_STATUS = 134  # QEMU's exit status when the CPU locks up (fault in a fault handler, ...)


def command(exe: Path, board: Board, serial: str | None = None, paused: bool = False) -> list[str]:
    """paused: start with the CPU stopped and the monitor on stdin; "cont" starts it."""
    binary = shutil.which(QEMU)
    if binary is None:
        raise McucError(f"'{QEMU}' is not installed", hint="apt-get install qemu-system-arm")
    return [
        binary, "-M", board.qemu_machine, "-display", "none",
        *(["-S", "-monitor", "stdio"] if paused else ["-monitor", "none"]),
        *(["-serial", "null", "-semihosting-config", "enable=on,target=native"] if serial is None
          else ["-serial", serial]),
        "-icount", f"shift={board.icount_shift},sleep=off", "-kernel", str(Path(exe).resolve()),
    ]


def crash_reason(status: int) -> str | None:
    """A QEMU-specific explanation of a nonzero exit status, if there is one."""
    if status == LOCKUP_STATUS:
        return "the CPU locked up (QEMU exit 134: a fault while handling a fault, or a bad vector table)"
    return None
