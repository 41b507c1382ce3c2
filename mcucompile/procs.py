"""Child processes (make and the compilers it starts, QEMU, the host executable, the reference
interpreter) and the signals that end them.

Every child starts in a session of its own, so it and everything it starts form one process
group; whenever the wait for it ends other than by its exit (a timeout, Ctrl-C, SIGTERM or
SIGHUP, any exception) the whole group is ended (SIGTERM, then SIGKILL after a second: kill_group)
and reaped before the exception goes on. A terminal's Ctrl-C therefore no longer reaches the children directly: it reaches us, and
we end them, the same way for every signal.

on_termination() (installed by the CLI) turns SIGTERM and SIGHUP into a Terminated exception in
the main thread, which unwinds like KeyboardInterrupt: the waits above kill their groups, the
`finally` blocks remove temporary directories, and the CLI exits 128 + the signal number.
"""
from __future__ import annotations

import os
import signal
import subprocess
import time
from contextlib import contextmanager


class Terminated(BaseException):
    """SIGTERM or SIGHUP arrived (a BaseException, like KeyboardInterrupt: not an error)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


GRACE_S = 1.0     # between SIGTERM and SIGKILL: time for a compiler to delete its temp files


def kill_group(proc: subprocess.Popen, grace: float = GRACE_S) -> None:
    """End the child's process group (it leads one: start_new_session) and reap the child:
    SIGTERM first, so compilers (gcc removes its /tmp/cc*.s files on SIGTERM) and make clean
    up, then SIGKILL for whatever is still there after `grace` seconds."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        proc.wait()
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            try:
                os.killpg(proc.pid, 0)          # others of the group still running?
            except (ProcessLookupError, PermissionError):
                break
        time.sleep(0.01)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run(cmd: list[str], timeout: float | None = None, **kwargs) -> subprocess.CompletedProcess:
    """subprocess.run(cmd, capture_output=True, timeout=...) with the child in its own process
    group, killed as a group on a timeout (TimeoutExpired carries what was output so far) or
    on any exception."""
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          start_new_session=True, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            out, err = proc.communicate()
            raise subprocess.TimeoutExpired(proc.args, timeout, output=out, stderr=err) from None
        except BaseException:
            kill_group(proc)
            raise
        kill_group(proc)    # whatever the child left running in its group
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@contextmanager
def child(cmd: list[str], **kwargs):
    """subprocess.Popen in its own process group, killed as a group when the block ends."""
    with subprocess.Popen(cmd, start_new_session=True, **kwargs) as proc:
        try:
            yield proc
        finally:
            kill_group(proc)


def _raise_terminated(signum, _frame) -> None:
    raise Terminated(signum)


@contextmanager
def on_termination():
    """Within the block, SIGTERM and SIGHUP raise Terminated in the main thread (outside
    the main thread, nothing changes: Python delivers signals to the main thread only)."""
    previous = {}
    try:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            previous[sig] = signal.signal(sig, _raise_terminated)
    except ValueError:          # not the main thread
        pass
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
