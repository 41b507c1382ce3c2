"""The serial transport: the frame protocol on its own, then real firmware under real QEMU with
its UART on a TCP socket (no mocks): the shared models bit-exact over the link, `mcucompile
run` against a QEMU started here, a firmware fed garbage / truncated / corrupt / oversize
frames that still answers, a host facing silence, a model mismatch, faults over the UART.
"""
from __future__ import annotations

import json
import socket
import struct
import subprocess
import tempfile
import threading
import time
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from conftest import SHARED_MODEL_NAMES, assert_bit_exact, shared_model
from fake_models import DEEP, TRAP, write_fake

from mcucompile.api import compile_model, simulate
from mcucompile.boards import get_board, list_boards
from mcucompile.build import build_project, write_build_files
from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.link.protocol import (HEADER_BYTES, NO_SEQ, BadFrame, Decoder, ErrorCode, Frame,
                                      FrameType, Info, Result, crc32, decode_error, encode,
                                      model_fingerprint)
from mcucompile.link.session import Expected, Session, run_vectors

AN386 = get_board("mps2-an386")

# ------------------------------------------------------------------ protocol, host only


def test_crc_is_zlibs():
    for data in (b"", b"a", b"123456789", bytes(range(256)) * 5):
        assert crc32(data) == zlib.crc32(data)
    assert crc32(b"123456789") == 0xCBF43926  # the CRC-32 check value


@pytest.mark.parametrize("size", [0, 1, 13, 9216])
def test_round_trip_in_any_chunks(size):
    payload = np.random.default_rng(size).integers(0, 256, size, dtype=np.uint8).tobytes()
    wire = encode(FrameType.INFER, 0x1234, payload) + encode(FrameType.PING, 7)
    assert len(wire) == 2 * HEADER_BYTES + 8 + size
    for chunk in (1, 5, len(wire)):
        dec, got = Decoder(), []
        for i in range(0, len(wire), chunk):
            got += dec.feed(wire[i:i + chunk])
        assert got == [Frame(FrameType.INFER, 0x1234, payload), Frame(FrameType.PING, 7, b"")]
        assert dec.garbage_bytes == 0


def test_resynchronises_after_garbage():
    good = encode(FrameType.PING, 3)
    fake_header = b"\xA5\x5A\x01\x01\x00\x00\xff\xff\xff\xff" + b"\0\0\0\0"  # bad header CRC
    garbage = b"noise\xA5\xA5\x5A" + fake_header + b"\xA5"
    events = Decoder().feed(garbage + good)
    assert events[-1] == Frame(FrameType.PING, 3, b"")
    assert all(isinstance(e, BadFrame) for e in events[:-1])


def test_truncated_frame_then_next_frame():
    frame = encode(FrameType.INFER, 1, bytes(100))
    dec = Decoder()
    assert dec.feed(frame[:50]) == []  # waits for the rest
    # The rest never comes: the next frame fills the gap, the payload CRC fails, and the scan
    # finds the next frame again inside the bytes it had swallowed.
    events = dec.feed(encode(FrameType.PING, 2) + encode(FrameType.PING, 3) + bytes(60))
    assert events[0] == BadFrame("bad payload CRC", 1)
    assert Frame(FrameType.PING, 3, b"") in events


def test_bad_crcs_and_oversize_length_are_rejected_at_once():
    frame = bytearray(encode(FrameType.INFER, 9, b"abcdef"))
    bad_payload = bytes(frame[:-1]) + bytes([frame[-1] ^ 1])
    assert Decoder().feed(bad_payload)[0] == BadFrame("bad payload CRC", 9)
    bad_header = bytearray(frame)
    bad_header[7] ^= 0x40  # the length
    assert Decoder().feed(bytes(bad_header[:HEADER_BYTES])) == [BadFrame("bad header CRC")]
    big = encode(FrameType.INFER, 4, bytes(2000))
    # A valid header with a length over the limit fails before any payload arrives.
    assert Decoder(max_payload=1000).feed(big[:HEADER_BYTES])[0].reason == "length 2000 over the limit"


def test_payload_codecs():
    info = Info(1, 0, 96, 2, 0xDEADBEEF, 96, 512, 25_000_000, 4096, 30, "mps2-an386")
    assert Info.decode(info.encode()) == info
    res = Result(2**40 + 5, 160, False, b"\x01\xff")
    assert Result.decode(res.encode(), 2) == res
    assert decode_error(struct.pack("<H", 3) + b"too long") == (3, "too long")


def test_fingerprint_reaches_model_h(tmp_path):
    model = shared_model("hello_world_int8")
    c = compile_model(model, AN386, tmp_path, transport="serial")
    header = (c.project.out_dir / "model.h").read_text()
    assert f"#define MCUC_MODEL_FINGERPRINT 0x{model_fingerprint(model):08X}u" in header


def test_transport_choice(tmp_path):
    host = get_board("host")
    assert host.transports == ("files",) and AN386.transports == ("files", "serial")
    with pytest.raises(McucError, match="board host does not support the 'serial' transport"):
        write_build_files(tmp_path / "h", host, [], [], transport="serial")
    hardware = [b for b in list_boards() if b.kind == "hardware"]
    for board in hardware[:1]:
        with pytest.raises(McucError, match="does not support the 'files' transport"):
            write_build_files(tmp_path / "f", board, [], [], transport="files")
    write_build_files(tmp_path / "s", AN386, [], [], transport="serial")
    make = (tmp_path / "s" / "Makefile").read_text()
    assert "--specs=nosys.specs" in make and "rdimon" not in make
    assert "-DMCUC_TRANSPORT_SERIAL" in make and "board/uart.c" in make
    config = (tmp_path / "s" / "board" / "board_config.h").read_text()
    assert "#define MCUC_UART_BASE 0x40004000u" in config
    write_build_files(tmp_path / "s", AN386, [], [])  # back to files: the UART files go
    assert not (tmp_path / "s" / "board" / "uart.c").exists()
    assert "rdimon" in (tmp_path / "s" / "Makefile").read_text()


def test_hardware_boards_build_the_serial_harness(root):
    """Every real board: the serial harness (CPU cycles: the DWT cycle counter, or a timer's
    ticks on Armv6-M), its UART driver and the generated board_config.h compile with -Werror
    and link without semihosting."""
    for board in (b for b in list_boards() if b.kind == "hardware"):
        exe = build_fake(root, f"hw-{board.name}", XOR, board)
        harness = (exe.parent.parent / "harness.c").read_text()
        assert "#define COUNTER_UNIT 1u" in harness
        if board.counter.type == "dwt":
            assert "DWT_CYCCNT = 0u;" in harness
        else:  # the Pico: TIMERAWL microseconds at 12 cycles each, ticked by the watchdog
            assert "return (uint64_t)m->ticks * CYCLES_PER_TICK;" in harness
            assert "#define CYCLES_PER_TICK 12u" in harness and "0x4005802Cu = 0x0000020Cu" in harness
        assert ("DWT_LAR = 0xC5ACCE55u;" in harness) == (board.cpu == "cortex-m7")
        symbols = subprocess.run(["arm-none-eabi-nm", str(exe)], capture_output=True, text=True,
                                 check=True).stdout
        assert "mcuc_fault_send" in symbols and "initialise_monitor_handles" not in symbols


def test_simulate_refuses_real_hardware():
    board = next(b for b in list_boards() if b.kind == "hardware")
    with pytest.raises(McucError, match=f"board {board.name} is real hardware.*mcucompile run"):
        simulate(shared_model("hello_world_int8"), board, transport="serial")


# ------------------------------------------------------------------ real firmware in QEMU

XOR = """
void mcuc_model_run(void)
{
    for (int i = 0; i < MCUC_OUTPUT_BYTES; i++)
        out[i] = (int8_t)(in[i] ^ 0x55);
}
"""
def build_fake(root: Path, name: str, model: str, board=AN386) -> Path:
    out = root / name
    write_fake(out, model, STACK_BYTES=board.stack_bytes)
    write_build_files(out, board, ["model.c"], [], transport="serial")
    return build_project(out, board)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("serial")


@pytest.fixture(scope="module")
def xor_fw(root) -> Path:
    return build_fake(root, "xor", XOR)


@pytest.fixture(scope="module")
def hello_fw(root):
    model = shared_model("hello_world_int8")
    c = compile_model(model, AN386, root / "hello", transport="serial")
    return model, build_project(c.project.out_dir, AN386)


@contextmanager
def qemu_tcp(exe: Path, board=AN386, paused: bool = False):
    """QEMU with its UART as a TCP server, started here independently of mcucompile's own
    starter; yields the pyserial URL and a function that starts a paused CPU. The guest runs
    once a client connects (paused: once started, so a just-opened port misses nothing)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tempfile.TemporaryFile()
    monitor = ["-S", "-monitor", "stdio"] if paused else ["-monitor", "none"]
    proc = subprocess.Popen(["qemu-system-arm", "-M", board.qemu_machine, "-display", "none",
                             *monitor, "-icount", f"shift={board.icount_shift},sleep=off",
                             "-serial", f"tcp:127.0.0.1:{port},server=on,wait=on,nodelay=on",
                             "-kernel", str(exe)], stdin=subprocess.PIPE, stdout=log,
                            stderr=subprocess.STDOUT)

    def start():
        proc.stdin.write(b"cont\n")
        proc.stdin.flush()
    try:
        end = time.monotonic() + 20
        while b"waiting for connection" not in (log.seek(0) or log.read()):
            assert proc.poll() is None and time.monotonic() < end, "QEMU did not start"
            time.sleep(0.02)
        yield f"socket://127.0.0.1:{port}", start
    finally:
        proc.kill()
        proc.wait()
        log.close()


@pytest.mark.parametrize("name", SHARED_MODEL_NAMES)
def test_shared_models_bit_exact_over_serial(name):
    rep = simulate(shared_model(name), "mps2-an386", count=2, transport="serial", timeout=60)
    assert_bit_exact(rep)
    assert len(rep.instructions) == 2 and min(rep.instructions) > 0 and rep.stack_bytes > 0


@pytest.mark.parametrize("board", ["netduinoplus2", "mps3-an547", "mps2-an505", "microbit"])
def test_serial_matches_files_transport(board):
    """Same outputs, instruction counts and stack through the UART as through semihosting."""
    model = shared_model("kws_ref_model")
    serial = simulate(model, board, count=2, seed=3, transport="serial", timeout=60)
    files = simulate(model, board, count=2, seed=3, transport="files", timeout=60)
    assert_bit_exact(serial)
    assert np.array_equal(serial.outputs, files.outputs)
    assert serial.instructions == files.instructions
    assert serial.stack_bytes == files.stack_bytes


def test_run_against_running_qemu(hello_fw, capsys):
    model, exe = hello_fw
    with qemu_tcp(exe) as (url, _):
        status = main(["run", str(model), "--board", "mps2-an386", "--port", url, "--count", "3",
                       "--seed", "5", "--timeout", "20", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["bit_exact"] and out["vectors"] == 3
    reference = simulate(model, "mps2-an386", count=3, seed=5, transport="files")
    assert out["instructions_per_vector"] == reference.instructions
    assert out["stack_bytes"] == reference.stack_bytes
    assert out["arena_bytes"] == reference.arena_bytes


def test_run_detects_a_different_model(hello_fw, capsys):
    _, exe = hello_fw
    other = shared_model("micro_speech_quantized")
    with qemu_tcp(exe) as (url, _):
        status = main(["run", str(other), "--board", "mps2-an386", "--port", url, "--timeout", "10"])
    err = capsys.readouterr().err
    assert status == 1 and "runs a different model" in err and "Traceback" not in err
    assert f"0x{model_fingerprint(other):08X}" in err


def _noise(server: socket.socket, stop: threading.Event) -> None:
    """Accept one client and send it garbage until told to stop (a wrong baud rate)."""
    conn, _ = server.accept()
    rng = np.random.default_rng(0)
    try:
        while not stop.is_set():
            conn.sendall(rng.integers(0, 256, 512, dtype=np.uint8).tobytes())
            time.sleep(0.01)
    except OSError:  # the client went away
        pass
    conn.close()


def test_garbage_port_fails_clearly(capsys):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    stop = threading.Event()
    threading.Thread(target=_noise, args=(server, stop), daemon=True).start()
    t0 = time.monotonic()
    try:
        status = main(["run", str(shared_model("hello_world_int8")), "--board", "mps2-an386",
                       "--port", f"socket://127.0.0.1:{server.getsockname()[1]}", "--timeout", "2"])
    finally:
        stop.set()
        server.close()
    err = capsys.readouterr().err
    assert status == 1 and "but no mcucompile frame within 2s: wrong baud rate" in err
    assert time.monotonic() - t0 < 2 + 2.5  # drains of a noisy line end at their 1 s limit


def test_silent_port_fails_clearly(capsys):
    """A port that accepts and never says a word: a clear error within the timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    model = shared_model("hello_world_int8")
    t0 = time.monotonic()
    try:
        status = main(["run", str(model), "--board", "mps2-an386",
                       "--port", f"socket://127.0.0.1:{port}", "--timeout", "2"])
    finally:
        server.close()
    elapsed = time.monotonic() - t0
    err = capsys.readouterr().err
    assert status == 1
    assert (f"no answer from socket://127.0.0.1:{port} within 2s: is the board flashed with "
            "mcucompile firmware and the port right?") in err
    assert elapsed < 2 + 1.5  # the timeout, plus model loading and the first drain


def _read_frames(ser, decoder: Decoder, want: int, timeout: float = 5.0) -> list:
    events, end = [], time.monotonic() + timeout
    while len([e for e in events if isinstance(e, Frame)]) < want and time.monotonic() < end:
        events += decoder.feed(ser.read(4096))
    return [e for e in events if isinstance(e, Frame)]


@pytest.mark.slow
def test_firmware_survives_bad_input(xor_fw):
    import serial
    vec = np.arange(64, dtype=np.int8)
    with qemu_tcp(xor_fw, paused=True) as (url, start):
        ser = serial.serial_for_url(url, timeout=0.05)
        start()
        dec = Decoder()
        hello = _read_frames(ser, dec, 1)[0]
        assert hello.type == FrameType.HELLO and hello.seq == NO_SEQ
        assert Info.decode(hello.payload).input_bytes == 64

        def ask(wire: bytes, want: int = 1):
            ser.write(wire)
            return _read_frames(ser, dec, want)

        # Garbage, some of it looking like the start of a frame, then a PING.
        got = ask(b"\x00hello\xA5\x5A\x01\x02garbage\xA5" + bytes(20) + encode(FrameType.PING, 1), 2)
        assert got[-1].type == FrameType.INFO and got[-1].seq == 1
        # Bad payload CRC, oversize length, unknown type, wrong payload length.
        bad = bytearray(encode(FrameType.INFER, 2, vec.tobytes()))
        bad[-1] ^= 0xFF
        for wire, seq, code in ((bytes(bad), 2, ErrorCode.PAYLOAD_CRC),
                                (encode(FrameType.INFER, 3, bytes(65))[:HEADER_BYTES], 3,
                                 ErrorCode.TOO_LONG),
                                (encode(0x33, 4), 4, ErrorCode.UNKNOWN_TYPE),
                                (encode(FrameType.INFER, 5, bytes(10)), 5, ErrorCode.BAD_LENGTH),
                                (encode(FrameType.PING, 6, version=2), 6, ErrorCode.VERSION)):
            (frame,) = ask(wire)
            assert (frame.type, frame.seq, decode_error(frame.payload)[0]) == (FrameType.ERROR, seq, code)
        # A truncated INFER: the firmware waits for the rest. The session gives up on its
        # first try, sends filler, drains and retries: the answer is still right.
        ser.write(encode(FrameType.INFER, 7, vec.tobytes())[:40])
        session = Session(ser, timeout=1.0)
        session.decoder = dec
        expected = Expected("xor", 64, 64, 0, AN386)
        session.expected, session.max_payload_hint = expected, 64
        assert session.ping().input_bytes == 64
        assert any("recovering" in line for line in session.log)
        result = run_vectors(session, expected, vec[None, :])
        np.testing.assert_array_equal(result.outputs[0], vec ^ 0x55)
        assert 0 < result.instructions[0] < 2000
        ser.close()


@pytest.mark.slow
def test_connect_without_the_hello(xor_fw):
    """pyserial's socket:// open() throws away what arrived while it connected, so a HELLO can
    be missed: connect() then PINGs anyway."""
    import serial
    with qemu_tcp(xor_fw) as (url, _):
        ser = serial.serial_for_url(url, timeout=0.05)
        time.sleep(0.3)
        ser.reset_input_buffer()  # the HELLO is gone
        with Session(ser, timeout=4) as session:
            info = session.connect(Expected("xor", 64, 64, 0, AN386), hello_timeout=0.5)
            assert info.input_bytes == 64 and any("no HELLO" in line for line in session.log)


@pytest.mark.parametrize("model,message", [
    (TRAP, r"firmware on mps2-an386 crashed: HardFault at pc=0x"),
    (DEEP, r"stack overflow on mps2-an386: the model needs more than the 16384-byte stack"),
])
def test_fault_is_reported_over_the_uart(root, model, message):
    exe = build_fake(root, f"fault{hash(model) & 0xFFFF}", model)
    expected = Expected("fake", 64, 64, 0, AN386)
    with qemu_tcp(exe) as (url, _), Session(url, timeout=5) as session:
        session.connect(expected, hello_timeout=5)
        with pytest.raises(McucError, match=message):
            run_vectors(session, expected, np.ones((1, 64), np.int8))
