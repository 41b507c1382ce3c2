"""The host side of the serial protocol (protocol.py) over any port pyserial opens: a device
(/dev/ttyACM0, COM3) or a URL (socket://127.0.0.1:5555, which QEMU serves in simulate).

    with Session("/dev/ttyACM0", timeout=10) as s:
        s.connect(expected)           # drain stale bytes, PING, check the INFO against the model
        result = s.infer(input_bytes) # one INFER -> RESULT
    run_vectors(session, expected, vectors)  # what `simulate --transport serial` and `run` share

Every read is bounded by a deadline. A request that times out, or whose reply arrives
damaged, is retried once after recovery: zero filler bytes complete any partial frame the
firmware may be waiting on (zeros hold no sync), the line is drained until quiet, and the
request goes again under a fresh sequence number (stale replies are ignored by seq). A second
failure is a McucError that says what was seen: nothing at all ("is the board flashed with
mcucompile firmware and the port right?"), bytes but no frames (baud rate, other firmware),
or frames that stopped. A CPU fault reported by the firmware ends the session at once with
the same messages `simulate` gives for a fault under semihosting.
"""
from __future__ import annotations

import random
import time
from dataclasses import dataclass

import numpy as np

from ..boards import Board
from ..errors import McucError
from .protocol import (NO_SEQ, VERSION, BadFrame, CounterUnit, Decoder, ErrorCode, Frame,
                       FrameType, Info, Result, decode_error, encode, filler_bytes)

READ_SLICE = 0.05  # seconds per pyserial read: how often deadlines are checked


@dataclass(frozen=True)
class Expected:
    """What the host compiled, to check the board's INFO against."""

    model: str
    input_bytes: int
    output_bytes: int
    fingerprint: int
    board: Board


class Session:
    def __init__(self, port, timeout: float = 10.0, baudrate: int | None = None):
        """port: a pyserial URL or device name, or an already open pyserial port."""
        import serial  # pyserial: a dependency, imported late to keep `import mcucompile` light

        if isinstance(port, str):
            self.port_name = port
            try:
                # The write timeout only catches a stuck port: a large input takes a while at
                # 115200 baud (150 KB: 13 s).
                self.ser = serial.serial_for_url(port, baudrate=baudrate or 115200,
                                                 timeout=READ_SLICE, write_timeout=timeout + 60)
            except (serial.SerialException, ValueError, OSError) as e:
                raise McucError(f"cannot open serial port {port}: {e}",
                                hint="give --port a device (/dev/ttyACM0, COM3) or a pyserial "
                                     "URL (socket://HOST:PORT)") from None
        else:
            self.ser, self.port_name = port, getattr(port, "portstr", None) or str(port)
            self.ser.timeout = READ_SLICE
        self.timeout = timeout
        # Host-to-firmware speed assumed for deadlines: the baud rate (10 bits a byte), capped
        # where QEMU's socket backend is slower than its nominal rate.
        self.bytes_per_s = min((baudrate or 115200) / 10, 20_000)
        self.decoder = Decoder()
        self.seq = random.randrange(0, NO_SEQ)  # so stale replies of an earlier session hardly match
        self.info: Info | None = None
        self.expected: Expected | None = None
        self.max_payload_hint = 0
        self.bytes_received = 0
        self.frames_received = 0
        self.log: list[str] = []

    # ------------------------------------------------------------ plumbing
    def close(self) -> None:
        self.ser.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _note(self, text: str) -> None:
        self.log.append(f"{time.monotonic():.3f} {text}")

    def _write(self, data: bytes) -> None:
        import serial

        try:
            self.ser.write(data)
            self.ser.flush()
        except (serial.SerialException, OSError) as e:  # incl. write timeouts
            raise McucError(f"cannot write to {self.port_name}: {e}") from None

    def _send(self, ftype: int, payload: bytes = b"") -> int:
        self.seq = (self.seq + 1) % NO_SEQ
        self._write(encode(ftype, self.seq, payload))
        return self.seq

    def _events(self, deadline: float):
        """Frames and BadFrames as they arrive, until the deadline passes."""
        import serial

        while True:
            try:
                chunk = self.ser.read(max(1, min(self.ser.in_waiting, 1 << 16)))
            except (serial.SerialException, OSError) as e:
                raise McucError(f"the connection to {self.port_name} broke: {e}",
                                hint="was the board reset or unplugged?") from None
            if chunk:
                self.bytes_received += len(chunk)
                for event in self.decoder.feed(chunk):
                    if isinstance(event, Frame):
                        self.frames_received += 1
                    yield event
            if time.monotonic() >= deadline:  # also while bytes keep coming (wrong baud rate)
                return

    def _transfer_s(self, nbytes: int) -> float:
        return 2 * nbytes / self.bytes_per_s + 0.5

    def _raise_fault(self, text: str) -> None:
        from ..simulate import fault_error
        raise fault_error(text, self.expected.board if self.expected else None, self.port_name)

    # ------------------------------------------------------------ requests
    def _wait(self, seq: int, deadline: float) -> Frame | str:
        """The reply to `seq`, or why there is none ("timeout", "damaged reply", ...)."""
        for ev in self._events(deadline):
            if isinstance(ev, BadFrame):
                self._note(f"bad frame: {ev.reason} (seq {ev.seq})")
                if ev.seq == seq:
                    return f"damaged reply ({ev.reason})"
                continue
            if ev.type == FrameType.ERROR:
                code, text = decode_error(ev.payload)
                self._note(f"ERROR seq {ev.seq}: {code} {text}")
                if code == ErrorCode.FAULT:
                    self._raise_fault(text)
                if ev.seq == seq:
                    return ev
            elif ev.type == FrameType.HELLO:
                self._note("HELLO: the firmware restarted")
                self._hello(ev.payload)
                return "the firmware restarted"
            elif ev.seq == seq:
                return ev
            else:
                self._note(f"ignored frame type 0x{ev.type:02x} seq {ev.seq}")
        return "timeout"

    def recover(self) -> None:
        """Complete any partial frame on the firmware side, then drop whatever comes back."""
        size = max(self.max_payload_hint, self.info.max_payload if self.info else 0)
        self._note(f"recovering: {filler_bytes(size)} filler bytes")
        self._write(bytes(filler_bytes(size)))
        self.drain()

    def drain(self, quiet: float = 0.2, limit: float = 1.0) -> None:
        """Read and discard until nothing arrives for `quiet` seconds (at most `limit`).
        A HELLO or a fault report among it is still noticed."""
        end, last = time.monotonic() + limit, time.monotonic()
        while time.monotonic() < min(end, last + quiet):
            before = self.bytes_received
            for ev in self._events(time.monotonic() + READ_SLICE):
                if isinstance(ev, Frame) and ev.type == FrameType.ERROR:
                    code, text = decode_error(ev.payload)
                    if code == ErrorCode.FAULT:
                        self._raise_fault(text)
                if isinstance(ev, Frame) and ev.type == FrameType.HELLO:
                    self._hello(ev.payload)
            if self.bytes_received != before:
                last = time.monotonic()
        self.decoder = Decoder()

    def request(self, ftype: FrameType, payload: bytes, reply: FrameType, timeout: float,
                total: bool = False) -> Frame:
        """Send a request and return its reply; one retry after recovery. `timeout` is per try,
        on top of the time the bytes need on the wire; with `total`, it bounds both tries
        together (40% for the first): for requests the firmware answers at once."""
        failure, start = "", time.monotonic()
        for attempt in range(2):
            if attempt:
                self.recover()
            seq = self._send(ftype, payload)
            wire = len(payload) + (filler_bytes(self.max_payload_hint) if attempt else 0)
            if total:
                deadline = start + timeout * (1.0 if attempt else 0.4)
            else:
                deadline = time.monotonic() + timeout + self._transfer_s(wire)
            got = self._wait(seq, deadline)
            if isinstance(got, str):
                failure = got
                self._note(f"{ftype.name} seq {seq}: {got}")
                continue
            if got.type == FrameType.ERROR:
                code, text = decode_error(got.payload)
                if code in (ErrorCode.HEADER_CRC, ErrorCode.PAYLOAD_CRC):
                    failure = f"the firmware received a damaged request ({text})"
                    continue
                raise McucError(f"the firmware on {self.port_name} rejected {ftype.name}: {text} "
                                f"(error {code})", hint="is it built by this mcucompile version?")
            if got.type != reply:
                raise McucError(f"the firmware on {self.port_name} answered {ftype.name} with "
                                f"frame type 0x{got.type:02x}, expected {reply.name}")
            return got
        raise self._lost(failure, timeout if total else 2 * timeout)

    def _lost(self, failure: str, waited: float) -> McucError:
        if self.bytes_received == 0:
            return McucError(f"no answer from {self.port_name} within {waited:g}s: is the board "
                             "flashed with mcucompile firmware and the port right?")
        if self.frames_received == 0:
            return McucError(f"{self.bytes_received} bytes from {self.port_name} but no "
                             f"mcucompile frame within {waited:g}s: wrong baud rate, or other "
                             "firmware on the board?")
        return McucError(f"lost contact with the firmware on {self.port_name}: {failure}, twice",
                         hint="reset the board; last events:\n" + "\n".join(self.log[-8:]))

    # ------------------------------------------------------------ the API
    def wait_hello(self, timeout: float) -> Info | None:
        """The HELLO a freshly started firmware sends (simulate: QEMU was just started);
        None if none came within the timeout."""
        for ev in self._events(time.monotonic() + timeout):
            if isinstance(ev, Frame) and ev.type == FrameType.HELLO:
                return self._hello(ev.payload)
            if isinstance(ev, Frame) and ev.type == FrameType.ERROR:
                code, text = decode_error(ev.payload)
                if code == ErrorCode.FAULT:
                    self._raise_fault(text)
        return None

    def ping(self, timeout: float | None = None) -> Info:
        """PING -> INFO, both tries within the timeout: an idle firmware answers at once."""
        frame = self.request(FrameType.PING, b"", FrameType.INFO, timeout or self.timeout, total=True)
        self.info = self._decode_info(frame.payload, "INFO")
        return self.info

    def _decode_info(self, payload: bytes, what: str) -> Info:
        try:
            return Info.decode(payload)
        except ValueError as e:
            raise McucError(f"bad {what} from {self.port_name}: {e}") from None

    def _hello(self, payload: bytes) -> Info:
        """A HELLO: the firmware (re)started. What it runs must be the expected model (once
        connect() knows it): a board reset into other firmware mid-run is an error, not
        outputs of another size compared with the reference."""
        self.info = self._decode_info(payload, "HELLO")
        if self.expected is not None:
            check_info(self.info, self.expected, self.port_name)
        return self.info

    def infer(self, data: bytes) -> Result:
        frame = self.request(FrameType.INFER, data, FrameType.RESULT, self.timeout)
        try:
            return Result.decode(frame.payload, self.expected.output_bytes if self.expected
                                 else self.info.output_bytes)
        except ValueError as e:
            raise McucError(f"bad RESULT from {self.port_name}: {e}") from None

    def connect(self, expected: Expected, hello_timeout: float | None = None) -> Info:
        """Wait for the HELLO (hello_timeout given) or drain stale bytes, PING, and check that
        the firmware runs the expected model on the expected board. The HELLO matters on an
        STM32, whose USART drops what it receives before it is enabled; without one the PING
        still goes (and is retried once)."""
        self.expected, self.max_payload_hint = expected, expected.input_bytes
        if hello_timeout is not None:
            if self.wait_hello(hello_timeout) is None:
                self._note(f"no HELLO within {hello_timeout:g}s")
        else:
            self.drain()
        info = self.ping()
        check_info(info, expected, self.port_name)
        return info


def check_info(info: Info, expected: Expected, port: str) -> None:
    """The board's INFO must describe the compiled model: else say what it runs instead."""
    if info.protocol_version != VERSION:
        raise McucError(f"the firmware on {port} speaks protocol version {info.protocol_version}, "
                        f"this mcucompile speaks {VERSION}", hint="rebuild and flash the firmware")
    ours = (expected.fingerprint, expected.input_bytes, expected.output_bytes)
    theirs = (info.fingerprint, info.input_bytes, info.output_bytes)
    if ours != theirs:
        raise McucError(
            f"the board on {port} runs a different model: its firmware has fingerprint "
            f"0x{info.fingerprint:08X}, {info.input_bytes} input and {info.output_bytes} output "
            f"bytes; {expected.model} has 0x{expected.fingerprint:08X}, {expected.input_bytes} and "
            f"{expected.output_bytes}", hint=f"build and flash the firmware for this model: "
                                             f"mcucompile compile {expected.model} --board "
                                             f"{expected.board.name} -o OUT, make -C OUT, flash")
    if info.board != expected.board.name:
        raise McucError(f"the firmware on {port} was built for board {info.board}, not "
                        f"{expected.board.name}", hint=f"use --board {info.board}, or flash the "
                                                       f"firmware built for {expected.board.name}")


def run_vectors(session: Session, expected: Expected, vectors: np.ndarray, progress=None):
    """INFER every vector (int8 [N, input_bytes]); a simulate RunResult (counts, deepest stack).
    The session must be connected (Session.connect)."""
    from ..simulate import PAINT_OVERWRITTEN, RunResult, stack_overflow_error

    outputs, counts, stack = [], [], 0
    for i, vec in enumerate(np.asarray(vectors, np.int8)):
        t0 = time.monotonic()
        res = session.infer(vec.tobytes())
        if res.stack_overflow:
            raise stack_overflow_error(expected.board, PAINT_OVERWRITTEN,
                                       "\n".join(session.log[-8:]))
        outputs.append(np.frombuffer(res.outputs, np.int8))
        counts.append(res.count)
        stack = max(stack, res.stack_bytes)
        if progress:
            progress(f"vector {i}: {res.count:,} {unit_name(session.info)} "
                     f"({time.monotonic() - t0:.2f}s over the link)")
    out = np.stack(outputs) if outputs else np.zeros((0, expected.output_bytes), np.int8)
    return RunResult(out, counts, stack, "\n".join(session.log),
                     counter_unit=unit_name(session.info))


def unit_name(info: Info | None) -> str:
    return "cycles" if info and info.counter_unit == CounterUnit.CYCLES else "instructions"
