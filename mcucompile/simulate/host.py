"""Running the native build of the "host" board, and recognising sanitizer reports.

The executable runs directly. Sanitizer builds abort on the first finding
(-fno-sanitize-recover=all), but a report is also treated as a failure when the process
somehow exits 0. Leak checking is off: the harness's only allocations are stdio's, which a
model cannot leak, and LeakSanitizer fails spuriously under ptrace (debuggers, some CI sandboxes).
"""
from __future__ import annotations

import os
from pathlib import Path

SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: UndefinedBehaviorSanitizer")


def command(exe: Path) -> list[str]:
    return [str(Path(exe).resolve())]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = "detect_leaks=0:abort_on_error=0:" + env.get("ASAN_OPTIONS", "")
    env["UBSAN_OPTIONS"] = "print_stacktrace=1:" + env.get("UBSAN_OPTIONS", "")
    return env


def sanitizer_report(log: str) -> bool:
    return any(marker in log for marker in SANITIZER_MARKERS)
