"""A third adversarial campaign, aimed at what campaigns 1 and 2 (tests/fuzzing.py,
tests/fuzz_campaign2.py) left out: each case is one `mcucompile` command in its own subprocess
and session, with a timeout and a 4 GiB address-space cap, judged as campaign 2 judges
(fuzz_campaign2.judge: traceback, exit not 0/1, signal, hang, leftover process, control
characters, --json not one object, injected marker) plus the checks named per kind below.

    python tests/fuzz_campaign3.py [--seed 1] [--kinds serial,cli,inputs,env,signal,oneop]
        [--limit N] [--save DIR] [--timeout 120]

Kinds:
- serial: `mcucompile run --port socket://...` against a hostile board played by this process
  (a TCP server speaking the link protocol, mcucompile/link/protocol.py): silence, noise,
  truncated frames, huge and wrong lengths, HELLOs and INFOs too short or naming another
  model or board in control characters, RESULTs of the wrong size, a fault report with
  escape sequences, a HELLO mid-run announcing other output sizes, unknown frame types,
  replies to other sequence numbers. Must end within --timeout x 2 + slack, one line.
- cli: `plan --frontier` with --plot/--json/bad combinations, `compile --format X --prefix P`
  with hostile prefixes (C keywords, digits first, long, unicode, shell metacharacters,
  runtime names), `flash --dry-run` on every kind of target, `boards`, `info`,
  `--keep-input-layout` on models without an NCHW input. A compiled library is checked:
  every exported symbol carries the prefix and the shell text never reaches a file.
- inputs: --inputs and --calibrate files of every odd dtype, shape and size (complex,
  float16, uint64, datetime, big-endian, 0-d, rank 6, empty, object members of an .npz, a
  deflated .npz that unpacks to gigabytes, a truncated .npy, a header that lies).
- env: -o a symlink to elsewhere / a FIFO / a device / a dangling symlink; HOME and TMPDIR
  unset or unwritable; PATH without arm-none-eabi-gcc or qemu; LC_ALL=C with non-ASCII paths;
  stdout closed by its reader; two `compile -o same_dir` at once (the result must be one
  whole project that `simulate -o` accepts and runs bit-exact).
- signal: SIGTERM / SIGINT / SIGHUP at a random moment of compile or simulate (host and QEMU):
  exit 128+N or a clean result, no process left, no temporary directory left, and -o either
  absent, untouched or a whole project.
- oneop: one-op models built with the schema bindings (ModelT) for every supported op with
  edge shapes (zero-size dims, rank 0/5/6, 1x1 images, channel counts whose products pass
  int32), simulated on the host: a clean refusal or bit-exact.
"""
from __future__ import annotations

import argparse
import collections
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(REPO))

import fuzz_campaign2 as c2  # noqa: E402  (the runner and the judge)
from fuzz_campaign2 import Case  # noqa: E402

MODELS = REPO / "tests" / "data" / "models"
HELLO = MODELS / "hello_world_int8.tflite"
KWS = MODELS / "kws_ref_model.tflite"
PERSON = MODELS / "person_detect.tflite"


# ------------------------------------------------------------------ the run, with signals

@dataclass
class Signal:
    signum: int
    after: float           # seconds after the start


def run_case(case: Case, work: Path, timeout: float) -> c2.Outcome:
    """fuzz_campaign2.run_case, plus: a signal sent to the command at a moment (case.signal),
    a second identical command started at the same time (case.twin)."""
    sig = getattr(case, "signal", None)
    twin = getattr(case, "twin", False)
    work.mkdir(parents=True, exist_ok=True)
    (work / "tmp").mkdir()
    model = work / f"model{case.suffix}"
    if case.model is not None:
        model.write_bytes(case.model)
    if case.setup is not None:
        case.setup(work)
    argv = [str(a).replace("{model}", str(model)).replace("{out}", str(work / "out")).replace(
        "{work}", str(work)) for a in case.argv]
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(work / "tmp"))
    env.update({k: v.replace("{work}", str(work)) for k, v in case.env.items()})
    procs = [subprocess.Popen([c2.PYTHON, "-m", "mcucompile", *argv], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              start_new_session=True, preexec_fn=c2._preexec(case))
             for _ in range(2 if twin else 1)]
    t0 = time.time()
    faults = []
    if sig is not None:
        time.sleep(sig.after)
        try:
            os.kill(procs[0].pid, sig.signum)       # the process, as a terminal or kill would
        except ProcessLookupError:
            pass
    outs = []
    for p in procs:
        try:
            o, e = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            o, e = p.communicate()
            faults.append(f"hang (> {timeout:.0f} s)")
        time.sleep(0.2)
        left = c2._session_leftovers(p.pid)
        if left:
            faults.append(f"left running: {left[:3]}")
        outs.append((p.returncode, o.decode(errors="replace"), e.decode(errors="replace")))
    code, out, err = outs[0]
    if sig is not None and code in (128 + sig.signum, -sig.signum):
        # 128+N: the documented exit of a signalled command; -N: the signal came after the
        # command had finished (its handler is restored at the end of main): both clean,
        # judged by what they leave behind
        code = 1
    if twin:
        case.twin_results = outs
    rss = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN).ru_maxrss
    return c2.Outcome(case, code, out, err, time.time() - t0, rss, faults)


def _temp_leftovers(work: Path) -> list[str]:
    """What the command left in its own TMPDIR (every case gets one: work/tmp)."""
    tmp = work / "tmp"
    # .ses: a session id a library of the calibration stack keeps in the temp dir (one a
    # machine, /tmp/.ses too: not a file per run)
    return sorted(p.name for p in tmp.iterdir() if p.name != ".ses") if tmp.is_dir() else []


# ------------------------------------------------------------------ serial: a hostile board

class HostileBoard:
    """A TCP server playing a board: answers the host's frames as `script` says. One client."""

    def __init__(self, script, expected: dict):
        self.script, self.expected = script, expected
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = None

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def start(self, _work=None):
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def close(self):
        self.stop.set()
        try:
            self.server.close()
        except OSError:
            pass

    def _serve(self):
        from mcucompile.link.protocol import Decoder, Frame
        self.server.settimeout(30)
        try:
            conn, _ = self.server.accept()
        except OSError:
            return
        conn.settimeout(0.05)
        dec = Decoder()
        state = dict(n=0)
        try:
            first = self.script(None, state, self.expected)   # unprompted (HELLO, noise)
            if first:
                conn.sendall(first)
            end = time.monotonic() + 60
            while not self.stop.is_set() and time.monotonic() < end:
                try:
                    data = conn.recv(65536)
                except socket.timeout:
                    more = self.script("idle", state, self.expected)
                    if more:
                        conn.sendall(more)
                    continue
                if not data:
                    break
                for ev in dec.feed(data):
                    if isinstance(ev, Frame):
                        state["n"] += 1
                        reply = self.script(ev, state, self.expected)
                        if reply:
                            conn.sendall(reply)
        except OSError:
            pass
        finally:
            conn.close()


def _expected(model: Path, board: str = "mps2-an386") -> dict:
    from mcucompile.api import plan_model
    from mcucompile.link.protocol import model_fingerprint
    graph, plan = plan_model(model, board)
    return dict(fp=model_fingerprint(model), inb=sum(t.nbytes for t in graph.inputs),
                outb=sum(t.nbytes for t in graph.outputs), board=board,
                arena=plan.arena_bytes)


def _info(x: dict, **over) -> bytes:
    from mcucompile.link.protocol import Info
    f = dict(protocol_version=1, counter_unit=0, input_bytes=x["inb"], output_bytes=x["outb"],
             fingerprint=x["fp"], max_payload=x["inb"], stack_bytes=100, clock_hz=25_000_000,
             arena_bytes=x["arena"], calibration=0, board=x["board"])
    f.update(over)
    return Info(**f).encode()


def _frame(ftype, seq, payload=b"", version=1) -> bytes:
    from mcucompile.link.protocol import encode
    return encode(ftype, seq, payload, version)


def _result(x: dict, outputs: bytes | None = None, count=1000, stack=64, flags=0) -> bytes:
    outputs = bytes(x["outb"]) if outputs is None else outputs
    return struct.pack("<QII", count, stack, flags) + outputs


PING, INFER, HELLO_T, INFO_T, RESULT_T, ERROR_T = 0x01, 0x02, 0x80, 0x81, 0x82, 0xEE
ESC = "\x1b]0;owned\x07\x1b[2J\x1b[31m\r\x08\x9b"


def _board(on_ping=None, on_infer=None, first=None, idle=None):
    """A script: replies by request type (each a function (frame, state, x) -> bytes)."""
    def script(ev, state, x):
        if ev is None:
            return first(x) if first else b""
        if ev == "idle":
            return idle(state, x) if idle else b""
        if ev.type == PING:
            return on_ping(ev, state, x) if on_ping else _frame(INFO_T, ev.seq, _info(x))
        if ev.type == INFER:
            return on_infer(ev, state, x) if on_infer else _frame(RESULT_T, ev.seq, _result(x))
        return b""
    return script


def _noise(n, seed=0):
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


def _huge_header(seq, length):
    head = struct.pack("<2sBBHI", b"\xA5\x5A", 1, RESULT_T, seq, length)
    return head + struct.pack("<I", __import__("zlib").crc32(head) & 0xFFFFFFFF)


SERIAL_SCRIPTS = {
    "silent": _board(on_ping=lambda ev, s, x: b"", on_infer=lambda ev, s, x: b""),
    "noise only": _board(on_ping=lambda ev, s, x: _noise(3000), idle=lambda s, x: _noise(200)),
    "control characters only": _board(on_ping=lambda ev, s, x: ESC.encode("latin-1") * 50),
    "honest board, zero outputs": _board(),
    "HELLO of 1 byte": _board(first=lambda x: _frame(HELLO_T, 0xFFFF, b"\x01")),
    "HELLO of 1 byte mid-run": _board(on_infer=lambda ev, s, x: _frame(HELLO_T, 0xFFFF, b"\x01")),
    "INFO of 3 bytes": _board(on_ping=lambda ev, s, x: _frame(INFO_T, ev.seq, b"abc")),
    "INFO board name with escapes": _board(
        on_ping=lambda ev, s, x: _frame(INFO_T, ev.seq, _info(x, board=ESC + "evil"))),
    "INFO another model, escapes": _board(
        on_ping=lambda ev, s, x: _frame(INFO_T, ev.seq, _info(x, fingerprint=1, board=ESC))),
    "INFO version 7": _board(on_ping=lambda ev, s, x: _frame(INFO_T, ev.seq,
                                                             _info(x, protocol_version=7))),
    "INFO non-ASCII board": _board(on_ping=lambda ev, s, x: _frame(
        INFO_T, ev.seq, _info(x)[:-len(x["board"])] + "mps2-an386\u202e\xff".encode("utf-8"))),
    "frame version 9": _board(on_ping=lambda ev, s, x: _frame(INFO_T, ev.seq, _info(x), 9)),
    "huge length, valid header CRC": _board(on_ping=lambda ev, s, x: _huge_header(ev.seq, 1 << 24)),
    "huge length on INFER": _board(on_infer=lambda ev, s, x: _huge_header(ev.seq, 0xFFFFFFFF)),
    "truncated INFO": _board(on_ping=lambda ev, s, x: _frame(INFO_T, ev.seq, _info(x))[:20]),
    "truncated RESULT": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq, _result(x))[:-3]),
    "RESULT too short": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq, b"\x00" * 5)),
    "RESULT too long": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq,
                                                               _result(x, bytes(x["outb"] + 7)))),
    "RESULT count 2^64-1": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq,
                                                                   _result(x, count=2**64 - 1))),
    "RESULT stack overflow flag": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq,
                                                                          _result(x, flags=1))),
    "RESULT stack 4 GB": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq,
                                                                 _result(x, stack=2**32 - 1))),
    "ERROR with escapes": _board(on_infer=lambda ev, s, x: _frame(
        ERROR_T, ev.seq, struct.pack("<H", 5) + ESC.encode("latin-1"))),
    "ERROR of 1 byte": _board(on_infer=lambda ev, s, x: _frame(ERROR_T, ev.seq, b"\x05")),
    "FAULT with escapes": _board(on_infer=lambda ev, s, x: _frame(
        ERROR_T, 0xFFFF, struct.pack("<H", 7) + b"MCUC fault exception=3 " +
        ESC.encode("latin-1") + b"\n#define x")),
    "FAULT on connect": _board(first=lambda x: _frame(ERROR_T, 0xFFFF, struct.pack("<H", 7) +
                                                      b"MCUC fault exception=\x1b[2J")),
    "unknown frame type": _board(on_infer=lambda ev, s, x: _frame(0x55, ev.seq, b"zz")),
    "reply to another seq": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq ^ 1,
                                                                    _result(x))),
    "HELLO other sizes mid-run": _board(on_infer=lambda ev, s, x: _frame(
        HELLO_T, 0xFFFF, _info(x, output_bytes=x["outb"] + 3)) + _frame(
        RESULT_T, ev.seq, _result(x, bytes(x["outb"] + 3)))),
    "HELLO another model mid-run": _board(on_infer=lambda ev, s, x: (
        _frame(HELLO_T, 0xFFFF, _info(x, fingerprint=7)) if s["n"] == 2 else
        _frame(RESULT_T, ev.seq, _result(x)))),
    "HELLO other sizes, then answers": _board(on_infer=lambda ev, s, x: (
        _frame(HELLO_T, 0xFFFF, _info(x, output_bytes=x["outb"] + 3))
        if s["n"] == 2 else _frame(RESULT_T, ev.seq, _result(x, bytes(x["outb"] + 3))))),
    "bad payload CRC forever": _board(on_infer=lambda ev, s, x: _frame(RESULT_T, ev.seq,
                                                                       _result(x))[:-1] + b"\x00"),
    "INFO then noise at full speed": _board(idle=lambda s, x: _noise(4096, s["n"])),
    "valid frames of garbage types, flood": _board(
        idle=lambda s, x: b"".join(_frame(0x40 + k, k, bytes(200)) for k in range(20))),
}


def serial_cases(rng) -> list[Case]:
    cases = []
    x = _expected(HELLO)
    for label, script in SERIAL_SCRIPTS.items():
        for extra in ([], ["--json"]):
            b = HostileBoard(script, x)
            argv = ["run", str(HELLO), "--board", "mps2-an386", "--port", b.url,
                    "--timeout", "2", "--count", str(int(rng.integers(1, 4))), *extra]
            c = Case("serial", f"{label}{' --json' if extra else ''}", argv, setup=b.start)
            c.board, c.ok_codes = b, (0, 1, 2)
            c.deadline = 2 * 2 + 8       # two tries of the timeout, drains, model loading
            cases.append(c)
    return cases


# ------------------------------------------------------------------ CLI surface

PREFIXES = ["int_", "static_", "return_", "1abc_", "_x_", "a" * 31 + "_", "a" * 32 + "_",
            "\u00e9t\u00e9_", "a$(touch mcuc_pwned)_", "a;touch mcuc_pwned;_", "a`id`_", "a b_",
            "arm_", "mcuc_", "MCUC_", "Mcuc_", "model_", "main_", "x_", "ab", "", "-_",
            "a\n_", "a\x1b[2J_", "assert_", "size_t_", "MCUC", "mcu_", "m_", "__"]


def cli_cases(rng) -> list[Case]:
    j = "--json"
    k, h = str(KWS), str(HELLO)
    argvs = [
        ["plan", k, "--frontier", j], ["plan", k, "--frontier"],
        ["plan", k, "--frontier", "--plot", "{work}/f.png", j],
        ["plan", k, "--frontier", "--plot", "{work}/f.svg"],
        ["plan", k, "--frontier", "--plot", "{work}/f.txt", j],
        ["plan", k, "--frontier", "--plot", "{work}/nodir/f.png", j],
        ["plan", k, "--frontier", "--plot", "{work}", j],
        ["plan", k, "--frontier", "--patch", "2x2@1", j], ["plan", k, "--frontier", "--sram", "9000", j],
        ["plan", k, "--frontier", "--max-overhead", "0", j],
        ["plan", k, "--frontier", "--max-overhead", "1e6", j],
        ["plan", k, "--frontier", "--max-overhead", "-1", j],
        ["plan", k, "--frontier", "--board", "microbit", j],
        ["plan", k, "--frontier", "--board", "microbit", "--flash", "10", j],
        ["plan", h, "--frontier", "--board", "microbit", "--flash", "10"],
        ["plan", k, "--frontier", "--board", "rpi-pico", j],
        ["plan", k, "--frontier", "--flash", "1", "--plot", "{work}/e.png", j],
        ["plan", k, "--frontier", "--keep-input-layout", j],
        ["plan", str(PERSON), "--frontier", "--board", "microbit", j],
        ["plan", k, "--frontier", "--board", "nonexistent", j],
        ["plan", k, "--frontier", "--frontier", j],
        ["info", k, "--keep-input-layout", j], ["info", h, "--keep-input-layout"],
        ["compile", k, "--keep-input-layout", "-o", "{out}", j],
        ["simulate", h, "--keep-input-layout", "--count", "2", j],
        ["boards", j], ["boards"], ["boards", "--debug", j],
        ["info", k, "--debug", j],
        ["flash", "{work}", "--board", "nucleo-f401re", "--dry-run", j],
        ["flash", "{out}", "--board", "nucleo-f401re", "--dry-run", j],
        ["flash", h, "--board", "nucleo-f401re", "--dry-run", j],
        ["flash", "/dev/null", "--board", "nucleo-f401re", "--dry-run", j],
        ["flash", "{work}/fake.elf", "--board", "nucleo-f401re", "--dry-run", j],
        ["flash", "{work}/lib", "--board", "nucleo-f401re", "--dry-run", j],
        ["flash", "{work}/lib", "--board", "nucleo-f401re", "--dry-run", "--tool", "openocd"],
        ["flash", "{work}/fake.elf", "--board", "mps2-an386", "--dry-run", j],
        ["flash", "{work}/fake.elf", "--board", "host", "--dry-run", j],
        ["flash", "{work}/fake.elf", "--board", "rpi-pico", "--dry-run", "--probe",
         "x\n$(touch mcuc_pwned)"],
        ["flash", "{work}/fake.elf", "--board", "nucleo-f401re", "--dry-run", "--probe",
         "\x1b[2Jprobe;rm -rf ~"],
        ["run", h, "--board", "nucleo-f401re", "--port", "{work}/fifo", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "/dev/zero", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "/dev/ptmx", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "socket://127.0.0.1:1", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "socket://[::1", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "rfc2217://127.0.0.1:1?x", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "loop://", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "loop://", "--baud", "0", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "loop://", "--baud", "1", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "spy://loop://", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "hwgrep://.*", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "alt://loop://?class=Serial", "--timeout", "1", j],
        ["run", h, "--board", "nucleo-f401re", "--port", "loop://", "--timeout", "1e-3", "--count", "1000000", j],
        ["profile", h, "--board", "host", j], ["profile", h, "--board", "nucleo-f401re", j],
        ["profile", h, "--board", "mps2-an386", "--kernels", "fast", j],
        ["profile", h, "--board", "mps2-an386", "--timeout", "0.001", j],
    ]
    for fmt in ("library", "cmake", "zephyr", "platformio", "arduino"):
        for p in rng.choice(PREFIXES, 8, replace=False):
            argvs.append(["compile", h, "--board", "nucleo-f401re", "--format", fmt,
                          "--prefix", str(p), "-o", "{out}", j])
    argvs += [["compile", h, "--format", "harness", "--prefix", "kws_", "-o", "{out}", j],
              ["compile", h, "--format", "cmake", "--prefix", "kws_", "-o", "{work}/lib", j],
              ["compile", h, "--format", "nonsense", "-o", "{out}", j]]

    def setup(work: Path):
        (work / "fake.elf").write_bytes(b"\x7fELF" + bytes(60))
        os.mkfifo(work / "fifo")
        subprocess.run([c2.PYTHON, "-m", "mcucompile", "compile", h, "--board", "nucleo-f401re",
                        "--format", "library", "-o", str(work / "lib")], capture_output=True,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    cases = []
    for a in argvs:
        c = Case("cli", " ".join(a).replace(str(REPO) + "/", ""), a, setup=setup)
        if "--prefix" in a:
            c.prefix = a[a.index("--prefix") + 1]
        cases.append(c)
    return cases


def check_library(case: Case, work: Path, o: c2.Outcome) -> list[str]:
    """A library compiled with --prefix: every global symbol of its objects has the prefix,
    and it compiles with -Wall -Wextra -Werror on the host."""
    prefix = getattr(case, "prefix", None)
    out = work / "out"
    if prefix is None or o.code != 0 or not (out / "src").is_dir():
        return []
    from mcucompile.boards import get_board
    board = get_board(case.argv[case.argv.index("--board") + 1])
    cc = ["arm-none-eabi-gcc", *board.cflags] if board.is_cross else ["gcc"]
    faults = []
    objs = []
    for src in sorted((out / "src").rglob("*.c")):
        obj = work / f"{len(objs)}.o"
        r = subprocess.run([*cc, "-c", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror",
                            "-I", str(out / "src"), "-o", str(obj), str(src)],
                           capture_output=True, text=True)
        if r.returncode:
            faults.append(f"library with --prefix {prefix!r} does not compile: "
                          f"{(r.stderr.strip().splitlines() or [''])[0][:120]}")
            return faults
        objs.append(str(obj))
    nm = subprocess.run(["arm-none-eabi-nm" if board.is_cross else "nm", "-g", "--defined-only", *objs], capture_output=True, text=True)
    bad = sorted({line.split()[-1] for line in nm.stdout.splitlines()
                  if len(line.split()) == 3 and not line.split()[-1].startswith(prefix)})
    if bad:
        faults.append(f"--prefix {prefix!r}: exported symbols without it: {bad[:4]}")
    return faults


# ------------------------------------------------------------------ --inputs / --calibrate files

def _arrays() -> dict:
    a = {
        "complex": np.zeros((2, 1), np.complex64), "float16": np.full((2, 1), 0.5, np.float16),
        "float16 65504": np.full((2, 1), 65504, np.float16), "uint64 max": np.full((2, 1), 2**64 - 1, np.uint64),
        "int64 min": np.full((2, 1), -2**63, np.int64), "float64 1e300": np.full((2, 1), 1e300),
        "float -0.0": np.full((2, 1), -0.0, np.float32), "subnormal": np.full((2, 1), 1e-45, np.float32),
        "0-d": np.array(3, np.int8), "rank 6": np.zeros((1,) * 6, np.int8), "empty": np.zeros((0, 1), np.int8),
        "datetime": np.zeros((2, 1), "M8[s]"), "big-endian": np.arange(4, dtype=">i4").reshape(4, 1),
        "fortran": np.asfortranarray(np.zeros((3, 1), np.int8)), "bool": np.ones((2, 1), bool),
        "bytes": np.array([b"ab"]), "unicode": np.array(["\x1b[2J"]), "structured": np.zeros(2, "i1,i1"),
        "int8 2x1": np.zeros((2, 1), np.int8), "one scalar per sample": np.zeros(5, np.int8),
        "uint8 255": np.full((2, 1), 255, np.uint8), "float NaN": np.full((2, 1), np.nan),
        "many": np.zeros((200_000, 1), np.int8), "int16 fits": np.full((2, 1), -128, np.int16),
        "void": np.zeros(2, "V3"), "timedelta": np.zeros((2, 1), "m8[s]"),
        "huge shape": np.zeros((1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1), np.int8),
    }
    return a


def _write_inputs(kind: str, work: Path) -> Path:
    arrays = _arrays()
    path = work / "v.npy"
    if kind in arrays:
        np.save(path, arrays[kind])
        return path
    path = work / "v.npz"
    if kind == "npz object member":
        np.savez(path, x=np.array([None], dtype=object))
    elif kind == "npz two sizes":
        np.savez(path, a=np.zeros((3, 1), np.int8), b=np.zeros((4, 1), np.int8))
    elif kind == "npz empty":
        np.savez(path)
    elif kind == "npz escape key":
        np.savez(path, **{"\x1b[2Jk": np.zeros((2, 1), np.int8)})
    elif kind == "npz damaged member":
        np.savez(path, x=np.zeros((100, 1), np.int8))
        data = bytearray(path.read_bytes())
        data[60:80] = bytes(20)
        path.write_bytes(bytes(data))
    elif kind == "npz deflated 2 GB":
        import io
        import zipfile
        head = io.BytesIO()
        np.lib.format.write_array_header_1_0(head, dict(descr="|i1", fortran_order=False,
                                                        shape=(2 << 30, 1)))
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
            with z.open("x.npy", "w", force_zip64=True) as f:
                f.write(head.getvalue())
                for _ in range(128):
                    f.write(bytes(1 << 24))
    elif kind == "npy truncated":
        path = work / "v.npy"
        np.save(path, np.zeros((1000, 1), np.int8))
        path.write_bytes(path.read_bytes()[:200])
    elif kind == "npy header lies (huge shape)":
        path = work / "v.npy"
        np.save(path, np.zeros((2, 1), np.int8))
        path.write_bytes(path.read_bytes().replace(b"(2, 1)", b"(9999999999999, 1)"))
    elif kind == "npy pickled object":
        path = work / "v.npy"
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif kind == "not numpy":
        path = work / "v.npy"
        path.write_bytes(b"\x93NUMPY\x01\x00" + b"\xff" * 100)
    return path


INPUT_KINDS = list(_arrays()) + ["npz object member", "npz two sizes", "npz empty",
                                 "npz escape key", "npz damaged member", "npz deflated 2 GB",
                                 "npy truncated", "npy header lies (huge shape)",
                                 "npy pickled object", "not numpy"]


def inputs_cases(rng) -> list[Case]:
    import onnx_modelgen as og
    float_onnx = og.conv(in_shape=(1, 1, 1, 1), cout=1, k=1).SerializeToString()
    cases = []
    for kind in INPUT_KINDS:
        def setup(work, kind=kind):
            p = _write_inputs(kind, work)
            p.rename(work / f"data{p.suffix}")
            (work / "float.onnx").write_bytes(float_onnx)
        suffix = ".npz" if kind.startswith("npz") else ".npy"
        data = "{work}/data" + suffix
        cases.append(Case("inputs", f"--inputs {kind}", ["simulate", str(HELLO), "--inputs", data,
                                                         "--json"], setup=setup))
        cases.append(Case("inputs", f"--calibrate {kind}", ["info", "{work}/float.onnx",
                                                            "--calibrate", data, "--json"],
                          setup=setup))
    return cases


# ------------------------------------------------------------------ environment faults

def env_cases(rng) -> list[Case]:
    h = str(HELLO)
    sim = ["simulate", h, "--board", "host", "--count", "1", "--json"]
    comp = ["compile", h, "-o", "{work}/o", "--json"]

    def link_to(target):
        def f(work):
            (work / "elsewhere").mkdir(exist_ok=True)
            os.symlink(target.replace("{work}", str(work)), work / "o")
        return f

    def fifo(work):
        os.mkfifo(work / "o")

    def ro_home(work):
        (work / "home").mkdir()
        os.chmod(work / "home", 0o555)
        subprocess.run(["chattr", "+i", str(work / "home")], capture_output=True)

    def nonascii(work):
        d = work / "\u00fc\u0144\u00ef \u2603"
        d.mkdir()
        shutil.copy(HELLO, d / "m\u00f6del.tflite")

    noarm = "/usr/bin:/bin"
    for tool in ("arm-none-eabi-gcc", "qemu-system-arm"):
        found = shutil.which(tool)
        if found and str(Path(found).parent) in ("/usr/bin", "/bin"):
            noarm = ""           # cannot strip it without stripping python's tools: skip below
    c = [
        Case("env", "-o symlink to an empty dir elsewhere", comp, setup=link_to("{work}/elsewhere")),
        Case("env", "-o dangling symlink", comp, setup=link_to("{work}/nowhere")),
        Case("env", "-o symlink to /etc", comp, setup=link_to("/etc")),
        Case("env", "-o symlink loop", comp, setup=lambda w: os.symlink(w / "o", w / "o")),
        Case("env", "-o a FIFO", comp, setup=fifo),
        Case("env", "-o /dev/null", ["compile", h, "-o", "/dev/null", "--json"]),
        Case("env", "-o /dev/full/x", ["compile", h, "-o", "/dev/full/x", "--json"]),
        Case("env", "-o /proc/self", ["compile", h, "-o", "/proc/self/x", "--json"]),
        Case("env", "simulate -o a FIFO", sim + ["-o", "{work}/o"], setup=fifo),
        Case("env", "plot to a FIFO", ["plan", h, "--plot", "{work}/o.png", "--json"],
             setup=lambda w: os.mkfifo(w / "o.png")),
        Case("env", "plot to /dev/full", ["plan", h, "--plot", "/dev/full.png", "--json"]),
        Case("env", "model is /dev/full", ["info", "/dev/full", "--json"]),
        Case("env", "HOME unset", sim, env={"HOME": ""}),
        Case("env", "HOME read-only", sim, env={"HOME": "{work}/home"}, setup=ro_home),
        Case("env", "HOME and TMPDIR unset, cwd read-only", sim, env={"HOME": "", "TMPDIR": ""}),
        Case("env", "TMPDIR read-only", sim, env={"TMPDIR": "{work}/home"}, setup=ro_home),
        Case("env", "TMPDIR read-only compile", ["compile", h, "--json", "-o", "{work}/o"],
             env={"TMPDIR": "{work}/home"}, setup=ro_home),
        Case("env", "TMPDIR read-only calibrate", ["info", "{work}/f.onnx", "--calibrate",
                                                   "{work}/s.npy", "--json"],
             env={"TMPDIR": "{work}/home"},
             setup=lambda w: (ro_home(w), _float_onnx(w))),
        Case("env", "LC_ALL=C non-ASCII paths", ["simulate", "{work}/\u00fc\u0144\u00ef \u2603/m\u00f6del.tflite",
                                                  "--count", "1", "-o", "{work}/\u00fc\u0144\u00ef \u2603/\u00f6ut"],
             setup=nonascii, env={"LC_ALL": "C", "LANG": "C"}),
        Case("env", "LC_ALL=C non-ASCII paths --json", ["compile", "{work}/\u00fc\u0144\u00ef \u2603/m\u00f6del.tflite",
                                                         "--json", "-o", "{work}/\u00fc\u0144\u00ef \u2603/\u00f6ut"],
             setup=nonascii, env={"LC_ALL": "C", "LANG": "C", "PYTHONIOENCODING": "ascii"}),
        Case("env", "LC_ALL=C plan --plot non-ASCII", ["plan", h, "--plot", "{work}/\u2603.png"],
             env={"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0"}),
    ]
    if noarm:
        for sub in (["simulate", h, "--board", "mps2-an386", "--count", "1", "--json"],
                    ["profile", h, "--board", "mps2-an386", "--json"],
                    ["simulate", h, "--board", "mps2-an386", "--transport", "serial", "--count", "1"],
                    ["flash", "{work}/o", "--board", "nucleo-f401re", "--dry-run", "--json"]):
            c.append(Case("env", f"PATH without arm tools: {sub[0]}", sub, env={"PATH": noarm},
                          setup=lambda w: subprocess.run(
                              [c2.PYTHON, "-m", "mcucompile", "compile", h, "--board",
                               "nucleo-f401re", "-o", str(w / "o")], capture_output=True,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))))
    for k in range(4):
        twin = Case("env", f"two compiles -o one dir ({k})",
                    ["compile", str(KWS if k % 2 else HELLO), "--board", "mps2-an386",
                     "-o", "{work}/o", "--json"])
        twin.twin = True
        c.append(twin)
    return c


def _float_onnx(work: Path):
    import onnx_modelgen as og
    (work / "f.onnx").write_bytes(og.conv(in_shape=(1, 1, 2, 2), cout=1, k=1).SerializeToString())
    np.save(work / "s.npy", np.random.default_rng(0).normal(size=(4, 1, 2, 2)).astype(np.float32))


def check_twin(case: Case, work: Path) -> list[str]:
    """Two compiles into one -o: both clean, and what is left is one whole project that
    simulate -o accepts and runs bit-exact."""
    if not getattr(case, "twin", False):
        return []
    faults = []
    codes = [r[0] for r in case.twin_results]
    if any(code not in (0, 1) for code in codes) or any("Traceback" in r[2] for r in case.twin_results):
        faults.append(f"concurrent compile: exits {codes}")
    if 0 in codes:
        model = case.argv[1]
        r = subprocess.run([c2.PYTHON, "-m", "mcucompile", "simulate", model, "--board", "host",
                            "--count", "1", "-o", str(work / "o"), "--json"], capture_output=True,
                           text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=300)
        if r.returncode == 1 and "not an mcucompile project" in r.stdout:
            faults.append("concurrent compile left a directory simulate refuses")
        elif r.returncode not in (0, 1):
            faults.append(f"concurrent compile left a project that fails: exit {r.returncode}")
    return faults


# ------------------------------------------------------------------ signals

def signal_cases(rng, n: int) -> list[Case]:
    cases = []
    commands = [
        ("compile kws", ["compile", str(KWS), "--board", "mps2-an386", "-o", "{work}/o", "--json"], 2.0),
        ("simulate host", ["simulate", str(KWS), "--board", "host", "--count", "2", "-o", "{work}/o"], 4.0),
        ("simulate host, no -o", ["simulate", str(KWS), "--board", "host", "--count", "2"], 4.0),
        ("simulate qemu", ["simulate", str(HELLO), "--board", "mps2-an386", "--count", "2"], 8.0),
        ("simulate qemu serial", ["simulate", str(HELLO), "--board", "mps2-an386", "--count", "2",
                                  "--transport", "serial", "-o", "{work}/o"], 8.0),
        ("profile", ["profile", str(HELLO), "--board", "mps2-an386"], 8.0),
        ("plan frontier", ["plan", str(KWS), "--frontier", "--json"], 2.0),
        ("calibrate", ["compile", "{work}/f.onnx", "--calibrate", "{work}/s.npy", "-o",
                       "{work}/o"], 6.0),
    ]
    sigs = [signal.SIGTERM, signal.SIGINT, signal.SIGHUP]
    for k in range(n):
        label, argv, span = commands[k % len(commands)]
        sig = sigs[int(rng.integers(len(sigs)))]
        after = float(rng.uniform(0.3, span))
        c = Case("signal", f"{label}: {sig.name} at {after:.2f} s", argv, setup=_float_onnx)
        c.signal = Signal(sig, after)
        cases.append(c)
    return cases


def check_signalled(case: Case, work: Path, o: c2.Outcome) -> list[str]:
    """After a signal: -o is absent or a whole project that simulate accepts (never a half
    one accepted silently)."""
    if getattr(case, "signal", None) is None:
        return []
    out = work / "o"
    faults = []
    if out.exists():
        from mcucompile.outdir import MARKER
        if (out / MARKER).exists():
            listed = [n for n in (out / MARKER).read_text().split("\n") if n]
            missing = [n for n in listed if not (out / n).exists()]
            if missing:
                faults.append(f"after {case.signal.signum.name}: project lists missing {missing[:3]}")
    stray = [p.name for p in work.glob(".o.*.tmp")]
    if stray and o.code is not None:
        faults.append(f"after {case.signal.signum.name}: staging directory left {stray}")
    return faults


# ------------------------------------------------------------------ one-op models (ModelT)

def _schema():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as s
    return s


def one_op(op: str, inputs: list, outputs: list, options=None, opt_name=None) -> bytes | None:
    """A one-op model: inputs/outputs as (shape, dtype, const_data or None, scale, zp)."""
    import flatbuffers
    s = _schema()
    m = s.ModelT()
    m.version, m.description = 3, "oneop"
    m.buffers = [s.BufferT()]
    sg = s.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs = [], [], []
    types = dict(int8=s.TensorType.INT8, int32=s.TensorType.INT32, int16=s.TensorType.INT16,
                 int64=s.TensorType.INT64)

    def tensor(k, spec):
        shape, dtype, data, scale, zp = spec
        t = s.TensorT()
        t.name = f"t{k}".encode()
        t.shape = list(shape)
        t.type = types[dtype]
        if scale is not None:
            q = s.QuantizationParametersT()
            q.scale = [float(v) for v in np.atleast_1d(scale)]
            q.zeroPoint = [int(v) for v in np.atleast_1d(zp)]
            q.quantizedDimension = 0 if np.size(scale) == 1 else (3 if op == "DEPTHWISE_CONV_2D" else 0)
            t.quantization = q
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data, dtype).tobytes(), np.uint8)
            m.buffers.append(b)
            t.buffer = len(m.buffers) - 1
        sg.tensors.append(t)
        return len(sg.tensors) - 1

    ins = [tensor(k, spec) if spec is not None else -1 for k, spec in enumerate(inputs)]
    outs = [tensor(len(inputs) + k, spec) for k, spec in enumerate(outputs)]
    sg.inputs = [i for i, spec in zip(ins, inputs) if spec is not None and spec[2] is None]
    sg.outputs = outs
    oc = s.OperatorCodeT()
    oc.builtinCode = getattr(s.BuiltinOperator, op)
    oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
    m.operatorCodes = [oc]
    o = s.OperatorT()
    o.opcodeIndex, o.inputs, o.outputs = 0, ins, outs
    if options is not None:
        o.builtinOptionsType = getattr(s.BuiltinOptions, opt_name)
        o.builtinOptions = options
    sg.operators = [o]
    m.subgraphs = [sg]
    b = flatbuffers.Builder(1024)
    try:
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
    except Exception:  # noqa: BLE001
        return None
    return bytes(b.Output())


def _opts(name, **fields):
    s = _schema()
    o = getattr(s, name + "T")()
    for k, v in fields.items():
        setattr(o, k, v)
    return o, name


def _a(shape, scale=0.05, zp=0):           # an activation tensor
    return (shape, "int8", None, scale, zp)


def _c(data, dtype="int8", scale=0.01, zp=0):   # a constant
    data = np.asarray(data)
    return (data.shape, dtype, data, scale, zp)


def oneop_models(rng) -> list[tuple[str, bytes | None]]:
    R = np.random.default_rng(0)
    big = 2**31 - 1
    out = []

    def add(label, op, ins, outs, opts=(None, None)):
        out.append((label, lambda: one_op(op, ins, outs, *opts)))

    def w(shape):
        return R.integers(-127, 128, shape)
    unary = [("RELU", None), ("RELU6", None), ("LOGISTIC", None), ("TANH", None),
             ("HARD_SWISH", _opts("HardSwishOptions")),
             ("LEAKY_RELU", _opts("LeakyReluOptions", alpha=0.1)),
             ("SOFTMAX", _opts("SoftmaxOptions", beta=1.0)),
             ("QUANTIZE", _opts("QuantizeOptions"))]
    out_q = dict(LOGISTIC=(1 / 256, -128), TANH=(1 / 128, 0), SOFTMAX=(1 / 256, -128))
    shapes = [("rank 0", []), ("rank 1 of 1", [1]), ("zero dim", [1, 0, 3]),
              ("rank 5", [1, 2, 1, 2, 3]), ("rank 6", [1, 1, 2, 1, 2, 3]),
              ("1x1 image", [1, 1, 1, 1]), ("2^31-1 channels", [1, big]),
              ("product past int32", [65536, 65536]), ("negative dim", [1, -1])]
    for op, opts in unary:
        for label, shape in shapes:
            sc, zp = out_q.get(op, (0.05, 0))
            add(f"{op} {label}", op, [_a(shape)], [_a(shape, sc, zp)], opts or (None, None))
    for op, o in (("ADD", "AddOptions"), ("SUB", "SubOptions"), ("MUL", "MulOptions")):
        for label, sa, sb in (("rank 0 + rank 0", [], []), ("zero dim", [1, 0], [1, 0]),
                              ("rank 5 broadcast", [1, 2, 1, 2, 3], [1, 1, 3, 1, 3]),
                              ("rank 6", [1, 1, 1, 1, 2, 3], [1, 1, 1, 1, 2, 3]),
                              ("2^31-1 vs 1", [1, big], [1, 1]),
                              ("broadcast to past int32", [65536, 1], [1, 65536])):
            outs = list(np.broadcast_shapes(tuple(max(d, 0) for d in sa), tuple(sb))) if \
                all(d >= 0 for d in sa + sb) else sa
            add(f"{op} {label}", op, [_a(sa), _a(sb, 0.04, 3)], [_a(outs, 0.1, -2)],
                _opts(o))
    for label, x, k, stride, pad in (("1x1 image 1x1 kernel", [1, 1, 1, 1], 1, 1, 0),
                                     ("1x1 image 3x3 SAME", [1, 1, 1, 3], 3, 1, 0),
                                     ("zero height", [1, 0, 4, 2], 3, 1, 0),
                                     ("zero channels", [1, 4, 4, 0], 1, 1, 0),
                                     ("rank 5 input", [1, 1, 4, 4, 2], 3, 1, 0),
                                     ("65535 channels", [1, 1, 1, 65535], 1, 1, 0),
                                     ("kernel bigger than VALID input", [1, 2, 2, 1], 3, 1, 1),
                                     ("stride 2^31-1", [1, 4, 4, 1], 1, big, 1)):
        cin = x[-1]
        ho = -(-x[1] // stride) if pad == 0 and len(x) == 4 else max((x[1] - k) // stride + 1, 0) if len(x) == 4 else 1
        wo = -(-x[2] // stride) if pad == 0 and len(x) == 4 else max((x[2] - k) // stride + 1, 0) if len(x) == 4 else 1
        cout = 2
        wt = _c(w((cout, k, k, max(cin, 0))), "int8", [0.01] * cout, [0] * cout)
        bias = _c(R.integers(-100, 100, cout), "int32", [0.0005] * cout, [0] * cout)
        add(f"CONV_2D {label}", "CONV_2D", [_a(x), wt, bias], [_a([1, ho, wo, cout], 0.1)],
            _opts("Conv2DOptions", padding=pad, strideH=stride, strideW=stride,
                  dilationHFactor=1, dilationWFactor=1))
        dwt = _c(w((1, k, k, max(cin, 0))), "int8", [0.01] * max(cin, 1), [0] * max(cin, 1))
        dbias = _c(R.integers(-100, 100, max(cin, 0)), "int32", [0.0005] * max(cin, 1), [0] * max(cin, 1))
        add(f"DEPTHWISE_CONV_2D {label}", "DEPTHWISE_CONV_2D", [_a(x), dwt, dbias],
            [_a([1, ho, wo, cin], 0.1)],
            _opts("DepthwiseConv2DOptions", padding=pad, strideH=stride, strideW=stride,
                  depthMultiplier=1, dilationHFactor=1, dilationWFactor=1))
        for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
            add(f"{op} {label}", op, [_a(x)], [_a([1, ho, wo, cin])],
                _opts("Pool2DOptions", padding=pad, strideH=stride, strideW=stride,
                      filterHeight=k, filterWidth=k))
    for label, x, n in (("1 -> 1", [1, 1], 1), ("zero inputs", [1, 0], 3), ("zero units", [1, 4], 0),
                        ("rank 5", [1, 1, 1, 2, 4], 2), ("rank 0", [], 1), ("batch 0", [0, 4], 2),
                        ("65535 x 1", [1, 65535], 1)):
        k_in = x[-1] if x else 1
        add(f"FULLY_CONNECTED {label}", "FULLY_CONNECTED",
            [_a(x), _c(w((n, k_in))), _c(np.zeros(n, np.int32), "int32", 0.0005)],
            [_a([x[0] if len(x) > 1 else 1, n], 0.1)], _opts("FullyConnectedOptions"))
    for label, shape, new in (("to rank 0", [1, 1], []), ("to rank 6", [1, 6], [1, 1, 1, 1, 2, 3]),
                              ("zero", [1, 0], [0, 5]), ("size differs", [1, 6], [1, 7])):
        add(f"RESHAPE {label}", "RESHAPE",
            [_a(shape), _c(np.array(new, np.int32), "int32", None, None)], [_a(new)],
            _opts("ReshapeOptions", newShape=new))
    for label, shape, pads in (("rank 0", [], np.zeros((0, 2))), ("rank 5", [1, 1, 2, 2, 1], np.ones((5, 2))),
                               ("negative pad", [1, 4, 4, 1], [[0, 0], [-1, 0], [0, 0], [0, 0]]),
                               ("pad 2^31-1", [1, 1, 1, 1], [[0, 0], [big, 0], [0, 0], [0, 0]])):
        pads = np.asarray(pads, np.int64)
        new = [d + int(p.sum()) for d, p in zip(shape, pads)]
        add(f"PAD {label}", "PAD", [_a(shape), _c(pads.astype(np.int32), "int32", None, None)],
            [_a(new)], _opts("PadOptions"))
    for label, shapes, axis in (("zero-size member", [[1, 2], [1, 0]], 1), ("rank 6", [[1, 1, 1, 1, 1, 2]] * 2, 5),
                                ("axis -7", [[1, 2]] * 2, -7), ("axis 2^31-1", [[1, 2]] * 2, big)):
        outs = list(shapes[0])
        ax = axis if -len(outs) <= axis < len(outs) else 0
        outs[ax] = sum(s_[ax] for s_ in shapes)
        add(f"CONCATENATION {label}", "CONCATENATION", [_a(s_) for s_ in shapes], [_a(outs)],
            _opts("ConcatenationOptions", axis=axis))
    for label, shape, perm in (("rank 6", [1, 2, 1, 3, 1, 2], [5, 4, 3, 2, 1, 0]),
                               ("rank 0", [], []), ("perm repeats", [2, 3], [0, 0]),
                               ("perm out of range", [2, 3], [0, 7])):
        new = [shape[p] if p < len(shape) else 1 for p in perm]
        add(f"TRANSPOSE {label}", "TRANSPOSE", [_a(shape), _c(np.array(perm, np.int32), "int32", None, None)],
            [_a(new)], _opts("TransposeOptions"))
    for label, shape, axes in (("rank 5 all", [1, 2, 2, 2, 3], [0, 1, 2, 3, 4]),
                               ("axis 9", [1, 2, 2, 3], [9]), ("no axes", [1, 2, 2, 3], []),
                               ("zero dim", [1, 0, 2, 3], [1, 2])):
        new = [1 if k in axes else d for k, d in enumerate(shape)]
        add(f"MEAN {label}", "MEAN", [_a(shape), _c(np.array(axes, np.int32), "int32", None, None)],
            [_a(new)], _opts("ReducerOptions", keepDims=True))
    for label, shape, begin, size in (("size -1", [1, 4, 4, 2], [0, 1, 1, 0], [-1, -1, -1, -1]),
                                      ("size 0", [1, 4], [0, 0], [1, 0]),
                                      ("begin past end", [1, 4], [0, 9], [1, 1]),
                                      ("rank 5", [1, 2, 2, 2, 2], [0] * 5, [1, 1, 1, 1, 1])):
        new = [d - b if s_ == -1 else s_ for d, b, s_ in zip(shape, begin, size)]
        add(f"SLICE {label}", "SLICE", [_a(shape), _c(np.array(begin, np.int32), "int32", None, None),
                                        _c(np.array(size, np.int32), "int32", None, None)],
            [_a(new)], _opts("SliceOptions"))
    for label, shape, b, e, st in (("stride 0", [1, 4], [0, 0], [1, 4], [1, 0]),
                                   ("stride -1", [1, 4], [0, 3], [1, -5], [1, -1]),
                                   ("stride 2^31-1", [1, 4], [0, 0], [1, 4], [1, big])):
        new = [1, 4 if st[1] == -1 else 1]
        add(f"STRIDED_SLICE {label}", "STRIDED_SLICE",
            [_a(shape)] + [_c(np.array(v, np.int32), "int32", None, None) for v in (b, e, st)],
            [_a(new)], _opts("StridedSliceOptions"))
    for label, shape, axis, n in (("num 0", [1, 4], 1, 0), ("num 3 of 4", [1, 4], 1, 3),
                                  ("axis 5", [1, 4], 5, 2), ("zero dim", [1, 0], 1, 2)):
        outs = [_a([1, shape[1] // max(n, 1)])] * max(n, 1)
        add(f"SPLIT {label}", "SPLIT", [_c(np.array(axis, np.int32), "int32", None, None), _a(shape)],
            outs, _opts("SplitOptions", numSplits=n))
    return out


def oneop_cases(rng) -> list[Case]:
    cases = []
    for label, make in oneop_models(rng):
        b = make()
        if b is None:
            continue
        cases.append(Case("oneop", label, ["simulate", "{model}", "--board", "host", "--count",
                                           "3", "--json", "-o", "{out}"], model=b))
    return cases


# ------------------------------------------------------------------ the campaign

KINDS = ("serial", "cli", "inputs", "env", "signal", "oneop")


def build(kinds, seed: int, n_signal: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    makers = dict(serial=serial_cases, cli=cli_cases, inputs=inputs_cases, env=env_cases,
                  signal=lambda r: signal_cases(r, n_signal), oneop=oneop_cases)
    cases = []
    for kind in kinds:
        cases += makers[kind](rng)
    return cases


def judge(case: Case, work: Path, o: c2.Outcome) -> list[str]:
    faults = c2.judge(o, work)
    if case.kind == "serial":          # a lying board's outputs differ: exit 2 is the answer
        faults = [f for f in faults if f != "accepted then MISMATCH"]
    deadline = getattr(case, "deadline", None)
    if deadline and o.seconds > deadline and not any("hang" in f for f in faults):
        faults.append(f"took {o.seconds:.1f} s (deadline {deadline} s)")
    if case.kind == "serial" and o.code == 1:
        lines = [ln for ln in o.err.strip().splitlines() if ln.startswith("error:")]
        if not lines:
            faults.append("no error line")
    return faults + check_library(case, work, o) + check_twin(case, work) + \
        check_signalled(case, work, o)


def run_all(cases, root: Path, timeout: float, save: Path | None, log=sys.stderr):
    faults = collections.defaultdict(list)
    per_kind = collections.Counter()
    t0 = time.time()
    for k, case in enumerate(cases):
        work = root / f"c{k:05d}"
        o = run_case(case, work, timeout)
        board = getattr(case, "board", None)
        if board is not None:
            board.close()
        found = judge(case, work, o)
        left = _temp_leftovers(work)
        if left:
            found.append(f"temporary files left: {left[:3]}")
        per_kind[case.kind] += 1
        if found:
            faults[(case.kind, found[0][:70])].append((case, o))
            print(f"FAULT [{case.kind}] {case.label[:90]}: {found}", file=log, flush=True)
            if save is not None:
                save.mkdir(parents=True, exist_ok=True)
                if case.model is not None:
                    (save / f"case{k:05d}{case.suffix}").write_bytes(case.model)
                (save / f"case{k:05d}.txt").write_text(
                    f"{case.label}\n{case.argv!r}\nexit {o.code}\n--- stdout\n{o.out[-3000:]}\n"
                    f"--- stderr\n{o.err[-3000:]}\n")
        subprocess.run(["chattr", "-R", "-i", str(work)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        if (k + 1) % 25 == 0:
            print(f"{k + 1}/{len(cases)} cases, {sum(map(len, faults.values()))} faulty, "
                  f"{time.time() - t0:.0f} s", file=log, flush=True)
    return faults, per_kind


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", default=",".join(KINDS))
    p.add_argument("--signals", type=int, default=24, help="signal cases")
    p.add_argument("--limit", type=int, help="run only the first N cases")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--save", type=Path, help="directory for faulty cases")
    args = p.parse_args()
    random.seed(args.seed)
    cases = build(args.kinds.split(","), args.seed, args.signals)
    if args.limit:
        cases = cases[:args.limit]
    print(f"{len(cases)} cases: {dict(collections.Counter(c.kind for c in cases))}",
          file=sys.stderr, flush=True)
    t0 = time.time()
    with tempfile.TemporaryDirectory(prefix="mcuc3_campaign_") as tmp:
        os.chmod(tmp, 0o755)
        faults, per_kind = run_all(cases, Path(tmp), args.timeout, args.save)
    n_bad = sum(map(len, faults.values()))
    print(f"{len(cases)} cases in {time.time() - t0:.0f} s ({dict(per_kind)}), {n_bad} faulty, "
          f"{len(faults)} distinct faults")
    for (kind, what), items in sorted(faults.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(items):5d}  [{kind}] {what}\n       e.g. {items[0][0].label[:100]}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
