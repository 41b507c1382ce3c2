"""The mcucompile serial protocol, version 1: the one spec for the host (this package) and the
firmware (templates/serial_harness.c.j2).

Every message is a frame, all integers little-endian:

    offset size  field
    0      2     sync        0xA5 0x5A
    2      1     version     1
    3      1     type        see FrameType
    4      2     seq         the host numbers its requests; replies carry the request's seq;
                             frames not answering a request (HELLO, faults) carry 0xFFFF
    6      4     length      payload bytes
    10     4     header CRC  CRC-32 of bytes 0..9
    14     n     payload
    14+n   4     payload CRC CRC-32 of the payload (zlib.crc32 = IEEE 802.3, reflected 0xEDB88320,
                             init and final xor 0xFFFFFFFF; CRC-32 of nothing is 0)

The header CRC lets a receiver reject a garbage length at once, before waiting for a payload
that will never come. A receiver that finds a bad header CRC (or an unknown version, or a
length larger than it can hold) drops the first sync byte and scans on for the next 0xA5 0x5A,
so it resynchronises after any garbage.

Requests (host -> firmware) and replies:

    PING   0x01  empty                       -> INFO
    INFER  0x02  MCUC_INPUT_BYTES of input   -> RESULT
    HELLO  0x80  (firmware, once after reset) payload as INFO
    INFO   0x81  u16 protocol version, u8 counter unit (0 instructions: QEMU's virtual-time
                 counter converted exactly; 1 CPU cycles: DWT CYCCNT), u8 flags (0),
                 u32 input bytes, u32 output bytes, u32 model fingerprint, u32 largest payload
                 accepted, u32 deepest stack use of any inference so far, u32 CPU clock in Hz,
                 u32 arena bytes, u32 counter calibration (overhead subtracted), then the
                 board name in ASCII (the rest of the payload)
    RESULT 0x82  u64 count (instructions or cycles, per INFO's unit), u32 stack bytes,
                 u32 flags (bit 0: the stack reserve was exhausted), then the output bytes
    ERROR  0xEE  u16 code (ErrorCode), then a short ASCII text. Sent for a bad header CRC,
                 bad payload CRC, a length over the limit, an unknown type or version, a
                 wrong payload length, and for a CPU fault (text "MCUC fault exception=..."
                 as startup.c prints it; the firmware then stops).

The firmware receives one frame at a time into its input buffer, so the largest payload it
accepts is MCUC_INPUT_BYTES. It never times out inside a frame: a host that gave up on a frame
half-way sends `filler_bytes` zero bytes (enough to complete any frame the firmware may still
be reading; zeros never contain a sync), waits for the line to go quiet, and PINGs.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path

from ..escape import terminal

SYNC = b"\xA5\x5A"
VERSION = 1
HEADER = struct.Struct("<2sBBHI")  # sync, version, type, seq, length; then u32 header CRC
HEADER_BYTES = HEADER.size + 4
TRAILER_BYTES = 4
NO_SEQ = 0xFFFF


class FrameType(IntEnum):
    PING = 0x01
    INFER = 0x02
    HELLO = 0x80
    INFO = 0x81
    RESULT = 0x82
    ERROR = 0xEE


class ErrorCode(IntEnum):
    HEADER_CRC = 1
    PAYLOAD_CRC = 2
    TOO_LONG = 3
    UNKNOWN_TYPE = 4
    BAD_LENGTH = 5
    VERSION = 6
    FAULT = 7


class CounterUnit(IntEnum):
    INSTRUCTIONS = 0
    CYCLES = 1


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def encode(ftype: int, seq: int, payload: bytes = b"", version: int = VERSION) -> bytes:
    head = HEADER.pack(SYNC, version, ftype, seq & 0xFFFF, len(payload))
    return head + struct.pack("<I", crc32(head)) + payload + struct.pack("<I", crc32(payload))


def filler_bytes(max_payload: int) -> int:
    """Zero bytes that complete any partial frame a receiver holding `max_payload` waits on."""
    return HEADER_BYTES + max_payload + TRAILER_BYTES


@dataclass(frozen=True)
class Frame:
    type: int
    seq: int
    payload: bytes


@dataclass(frozen=True)
class BadFrame:
    """Something that started like a frame but was not one (the decoder has skipped it)."""

    reason: str
    seq: int | None = None


class Decoder:
    """Incremental frame decoder: feed() bytes as they arrive, get whole frames and BadFrames.

    Bytes before a sync are garbage (counted in `garbage_bytes`). A frame whose header is bad
    is skipped by one byte; one whose payload CRC is bad by its header only, since a lost byte
    makes the payload swallow the start of the next frame, which the rescan then finds."""

    def __init__(self, max_payload: int = 1 << 24):
        self.max_payload = max_payload
        self.buffer = bytearray()
        self.garbage_bytes = 0

    def feed(self, data: bytes) -> list[Frame | BadFrame]:
        self.buffer += data
        events: list[Frame | BadFrame] = []
        buf = self.buffer
        while True:
            start = buf.find(SYNC)
            if start < 0:
                keep = 1 if buf.endswith(SYNC[:1]) else 0  # a sync may straddle two reads
                self.garbage_bytes += len(buf) - keep
                del buf[:len(buf) - keep]
                return events
            self.garbage_bytes += start
            del buf[:start]
            if len(buf) < HEADER_BYTES:
                return events
            _, version, ftype, seq, length = HEADER.unpack_from(buf)
            (hcrc,) = struct.unpack_from("<I", buf, HEADER.size)
            if hcrc != crc32(bytes(buf[:HEADER.size])):
                events.append(BadFrame("bad header CRC"))
                del buf[:1]
                continue
            if version != VERSION or length > self.max_payload:
                events.append(BadFrame(f"protocol version {version}" if version != VERSION
                                       else f"length {length} over the limit", seq))
                del buf[:1]
                continue
            end = HEADER_BYTES + length + TRAILER_BYTES
            if len(buf) < end:
                return events
            payload = bytes(buf[HEADER_BYTES:HEADER_BYTES + length])
            (pcrc,) = struct.unpack_from("<I", buf, HEADER_BYTES + length)
            if pcrc != crc32(payload):
                events.append(BadFrame("bad payload CRC", seq))
                del buf[:HEADER_BYTES]
                continue
            events.append(Frame(ftype, seq, payload))
            del buf[:end]


# ------------------------------------------------------------------ payloads

_INFO = struct.Struct("<HBBIIIIIIII")


@dataclass(frozen=True)
class Info:
    protocol_version: int
    counter_unit: int
    input_bytes: int
    output_bytes: int
    fingerprint: int
    max_payload: int
    stack_bytes: int
    clock_hz: int
    arena_bytes: int
    calibration: int
    board: str

    def encode(self) -> bytes:
        return _INFO.pack(self.protocol_version, self.counter_unit, 0, self.input_bytes,
                          self.output_bytes, self.fingerprint, self.max_payload, self.stack_bytes,
                          self.clock_hz, self.arena_bytes, self.calibration) + self.board.encode()

    @classmethod
    def decode(cls, payload: bytes) -> Info:
        if len(payload) < _INFO.size:
            raise ValueError(f"INFO payload of {len(payload)} bytes, expected at least {_INFO.size}")
        v, unit, _, ib, ob, fp, mp, st, hz, arena, cal = _INFO.unpack_from(payload)
        # text from the board: shown on the terminal, so never raw (escape.py)
        board = terminal(payload[_INFO.size:].decode("ascii", errors="replace"), 64)
        return cls(v, unit, ib, ob, fp, mp, st, hz, arena, cal, board)


_RESULT = struct.Struct("<QII")


@dataclass(frozen=True)
class Result:
    count: int
    stack_bytes: int
    stack_overflow: bool
    outputs: bytes

    @classmethod
    def decode(cls, payload: bytes, output_bytes: int) -> Result:
        if len(payload) != _RESULT.size + output_bytes:
            raise ValueError(f"RESULT payload of {len(payload)} bytes, expected "
                             f"{_RESULT.size} + {output_bytes}")
        count, stack, flags = _RESULT.unpack_from(payload)
        return cls(count, stack, bool(flags & 1), payload[_RESULT.size:])

    def encode(self) -> bytes:
        return _RESULT.pack(self.count, self.stack_bytes, int(self.stack_overflow)) + self.outputs


def decode_error(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return -1, "malformed ERROR frame"
    (code,) = struct.unpack_from("<H", payload)
    return code, terminal(payload[2:].decode("ascii", errors="replace"), 200)


def encode_error(code: int, text: str) -> bytes:
    return struct.pack("<H", code) + text.encode("ascii")


def model_fingerprint(model: str | Path | bytes) -> int:
    """32 bits that identify the model a firmware was compiled from: CRC-32 of the model file.
    No compile option changes the outputs (every kernel choice and memory plan is bit-exact),
    so none is mixed in. 0 is reserved for "unknown" (a graph built without a model file)."""
    data = model if isinstance(model, bytes) else Path(model).read_bytes()
    return crc32(b"mcucompile-model-v1\0" + data) or 1
