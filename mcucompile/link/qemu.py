"""A QEMU board whose UART is a loopback TCP server, for `simulate --transport serial`.

    with serial_qemu(exe, board, timeout) as port:   # an open pyserial port
        Session(port, ...)

QEMU listens on 127.0.0.1:PORT (-serial tcp:...,server=on,wait=on,nodelay=on) and waits for
the client. The CPU starts stopped (-S) and only runs on the monitor's "cont", sent once the
pyserial port is open: pyserial's socket:// open() discards whatever arrived while it was
connecting, which would otherwise race with the firmware's HELLO. The port is one the kernel
just handed out; if QEMU still finds it taken, another is tried. QEMU is killed when the
block ends, whatever happened (its process group: procs.child), and every wait is bounded.
"""
from __future__ import annotations

import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from ..boards import Board
from ..errors import McucError
from ..procs import child
from ..simulate import qemu

LISTENING = b"waiting for connection"
BIND_FAILED = (b"Address already in use", b"Failed to bind")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tcp_chardev(port: int) -> str:
    return f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on"


@contextmanager
def serial_qemu(exe: Path, board: Board, timeout: float = 20.0, attempts: int = 5):
    """Start QEMU on `exe` with its UART on a fresh TCP port and yield an open pyserial port."""
    import serial

    for _ in range(attempts):
        port = free_port()
        with tempfile.TemporaryFile() as log, child(
                qemu.command(exe, board, serial=tcp_chardev(port), paused=True),
                stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT) as proc:
            text = _wait_listening(proc, log, timeout)
            if text is None:  # port taken after all: try another
                continue
            try:
                ser = serial.serial_for_url(f"socket://127.0.0.1:{port}", timeout=0.05)
            except serial.SerialException as e:
                raise McucError(f"cannot connect to QEMU's UART on port {port}: {e}") from None
            proc.stdin.write(b"cont\n")  # the port is open: start the CPU
            proc.stdin.flush()
            try:
                yield ser
            except McucError as e:
                log.seek(0)
                qemu_log = log.read().decode(errors="replace")[-2000:].strip()
                if proc.poll() is None:
                    if e.hint is None and qemu_log:
                        e.hint = f"QEMU's output:\n{qemu_log}"
                    raise
                # QEMU itself stopped (e.g. a CPU lockup): say so rather than "no answer".
                reason = qemu.crash_reason(proc.returncode) or f"exit status {proc.returncode}"
                raise McucError(f"QEMU stopped ({reason}): {e.message}",
                                where=e.where, hint=qemu_log or None) from None
            finally:
                ser.close()
            return
    raise McucError(f"QEMU could not bind a TCP port for the UART in {attempts} attempts")


def _wait_listening(proc: subprocess.Popen, log, timeout: float) -> bytes | None:
    """QEMU's output once it listens; None if the port was taken; McucError if it failed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        log.seek(0)
        text = log.read()
        if LISTENING in text:
            return text
        if proc.poll() is not None:
            if any(marker in text for marker in BIND_FAILED):
                return None
            raise McucError(f"QEMU exited with status {proc.returncode} before listening on "
                            "its UART port", hint=text.decode(errors="replace")[-2000:])
        time.sleep(0.02)
    raise McucError(f"QEMU did not open its UART port within {timeout:g}s")
