"""Issue 13's "Arguments, files and processes": each reproduction is a test here. Every misuse
ends in one line "error: ..." (a hint line at most), exit 1, no traceback, quickly; --json
prints exactly one JSON object; nothing is written where it must not be; no process is left."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mcucompile import api
from mcucompile.boards import get_board
from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.outdir import MARKER

from conftest import REPO, shared_model

HELLO = "hello_world_int8"


def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def assert_one_line_error(code: int, out: str, err: str, *needles: str, json_out=False) -> None:
    assert code == 1, (code, out, err)
    assert "Traceback" not in err + out
    lines = [line for line in err.strip().splitlines() if not line.startswith("[")]  # progress
    assert lines[0].startswith("error: ") and len(lines) <= 2, err
    assert len(lines) == 1 or lines[1].startswith("  hint: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    if json_out:
        obj = json.loads(out)       # exactly one object: json.loads refuses trailing text
        assert obj["exit"] == 1 and obj["error"]
    else:
        assert out == ""


# ------------------------------------------------------------------ -o and other paths

def test_output_naming_an_existing_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("mine")
    code, out, err = cli(capsys, "compile", shared_model(HELLO), "-o", f)
    assert_one_line_error(code, out, err, "not a directory")
    assert f.read_text() == "mine"


def test_output_below_a_file(tmp_path, capsys):
    f = tmp_path / "file"
    f.write_text("mine")
    code, out, err = cli(capsys, "compile", shared_model(HELLO), "-o", f / "sub", "--json")
    assert_one_line_error(code, out, err, "it is a file", json_out=True)


def test_output_in_an_unwritable_place(tmp_path, capsys):
    if os.geteuid() == 0:
        place = Path("/proc/mcuc_no_such_dir/out")     # even root cannot create files there
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        place = locked / "out"
    code, out, err = cli(capsys, "compile", shared_model(HELLO), "-o", place)
    assert_one_line_error(code, out, err, "cannot write")
    assert not place.exists()


def test_output_with_a_300_character_name(tmp_path, capsys):
    code, out, err = cli(capsys, "compile", shared_model(HELLO), "-o", tmp_path / ("x" * 300))
    assert_one_line_error(code, out, err, "too long")


def test_empty_output_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, out, err = cli(capsys, "compile", shared_model(HELLO), "-o", "")
    assert_one_line_error(code, out, err, "-o")
    assert list(tmp_path.iterdir()) == []


def test_output_directory_with_other_files_is_refused(tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code, out, err = cli(capsys, "compile", shared_model(HELLO), "-o", mine)
    assert_one_line_error(code, out, err, "not an mcucompile project")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_previous_project_is_replaced_whole(tmp_path, capsys):
    """A previous project (marker file) is overwritten: its entries go, what the user added
    stays; a new model's files replace the old model's."""
    out_dir = tmp_path / "prj"
    assert cli(capsys, "compile", shared_model("kws_ref_model"), "-o", out_dir)[0] == 0
    assert (out_dir / MARKER).is_file()
    (out_dir / "build").mkdir()                     # as make would
    (out_dir / "kernels" / "stale.c").parent.mkdir(exist_ok=True)
    (out_dir / "kernels" / "stale.c").write_text("int stale;")
    assert cli(capsys, "compile", shared_model(HELLO), "--board", "host", "-o", out_dir)[0] == 0
    listed = set((out_dir / MARKER).read_text().split())
    assert listed == {p.name for p in out_dir.iterdir()} - {MARKER, "build"}
    assert not (out_dir / "kernels" / "stale.c").exists()
    assert (out_dir / "build").is_dir()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".prj.")]   # no staging


def test_project_from_before_the_marker_is_a_project(tmp_path, capsys):
    out_dir = tmp_path / "prj"
    assert cli(capsys, "compile", shared_model(HELLO), "--board", "host", "-o", out_dir)[0] == 0
    (out_dir / MARKER).unlink()
    assert cli(capsys, "compile", shared_model(HELLO), "--board", "host", "-o", out_dir)[0] == 0
    (out_dir / "Makefile").write_text("all:\n")        # a user's Makefile: not ours
    (out_dir / MARKER).unlink()
    assert cli(capsys, "compile", shared_model(HELLO), "--board", "host", "-o", out_dir)[0] == 1


def test_plot_to_an_unwritable_path(tmp_path, capsys):
    code, out, err = cli(capsys, "plan", shared_model(HELLO), "--plot",
                         tmp_path / "missing" / "plan.png")
    assert_one_line_error(code, out, err, "No such file or directory")


def test_flash_check_before_anything_is_written(tmp_path):
    small = dataclasses.replace(get_board("mps2-an386"), flash_size=50_000)
    out_dir = tmp_path / "prj"
    with pytest.raises(McucError, match="does not fit"):
        api.compile_model(shared_model("kws_ref_model"), small, out_dir)
    assert list(tmp_path.iterdir()) == []


def test_two_writers_leave_one_complete_project(tmp_path):
    """Two processes compiling different models into one -o at the same time: the directory
    ends up holding exactly one of the two projects, byte for byte."""
    models = [shared_model("kws_ref_model"), shared_model(HELLO)]
    alone = []
    for k, m in enumerate(models):
        api.compile_model(m, "host", tmp_path / f"alone{k}")
        alone.append({p.relative_to(tmp_path / f"alone{k}"): p.read_bytes()
                      for p in (tmp_path / f"alone{k}").rglob("*") if p.is_file()})
    shared = tmp_path / "shared"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    for _ in range(2):
        procs = [subprocess.Popen([sys.executable, "-m", "mcucompile", "compile", str(m),
                                   "--board", "host", "-o", str(shared)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for m in models]
        errs = [p.communicate(timeout=120)[1].decode() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], errs
        got = {p.relative_to(shared): p.read_bytes() for p in shared.rglob("*") if p.is_file()}
        assert got in alone


def test_simulate_removes_its_temporary_build_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("tempfile.tempdir", str(tmp_path))
    code, out, _ = cli(capsys, "simulate", shared_model(HELLO), "--count", "1", "--json")
    assert code == 0 and json.loads(out)["build_dir"] is None
    assert list(tmp_path.iterdir()) == []
    code, out, _ = cli(capsys, "simulate", shared_model(HELLO), "--count", "1", "--keep",
                       "--json")
    kept = Path(json.loads(out)["build_dir"])
    assert code == 0 and kept.parent == tmp_path and (kept / "model.c").is_file()


# ------------------------------------------------------------------ numbers

@pytest.mark.parametrize("argv, needle", [
    (["--timeout", "nan"], "--timeout"), (["--timeout", "inf"], "--timeout"),
    (["--timeout", "0"], "--timeout"), (["--timeout", "-5"], "--timeout"),
    (["--seed", "-1"], "--seed"), (["--count", "0"], "--count"),
    (["--count", "100000000"], "--count"), (["--max-overhead", "nan"], "--max-overhead"),
    (["--sram", "-1"], "--sram"), (["--flash", "0"], "--flash"), (["--count", "x"], "invalid int"),
])
def test_numbers_out_of_range(capsys, argv, needle):
    t0 = time.monotonic()
    code, out, err = cli(capsys, "simulate", shared_model(HELLO), *argv, "--json")
    assert_one_line_error(code, out, err, needle, json_out=True)
    assert time.monotonic() - t0 < 5


def test_count_bounded_by_the_outputs_it_keeps():
    """--count is checked against what the report keeps before any vector is made."""
    graph = api.load_model(shared_model("person_detect"))
    with pytest.raises(McucError, match="count must be"):
        api.vector_chunks(graph, None, 100_000_000, 0)
    n, chunks = api.vector_chunks(graph, None, 1000, 3, chunk_bytes=96 * 96 * 300)
    sizes = [len(c) for c in chunks]
    assert n == 1000 and max(sizes) == 300 and sum(sizes) == 1000     # made chunk by chunk
    first = next(api.vector_chunks(graph, None, 1000, 3)[1])
    assert np.array_equal(first[:3], api.load_vectors(graph, None, 3, 3))


@pytest.mark.parametrize("spec, needle", [("1000x1000@0", "does not fit the 48x48 output"),
                                          ("99999999999x99999999999@1", "at most 48x48")])
def test_patch_grid_bounded_by_the_tensor_it_splits(capsys, spec, needle):
    t0 = time.monotonic()
    code, out, err = cli(capsys, "plan", shared_model("person_detect"), "--patch", spec)
    assert_one_line_error(code, out, err, needle)
    assert time.monotonic() - t0 < 20


# ------------------------------------------------------------------ --inputs

def _save(tmp_path, arr, name="v.npy") -> Path:
    path = tmp_path / name
    np.save(path, arr)
    return path


@pytest.mark.parametrize("arr, needle", [
    (np.zeros((0, 1), np.int8), "no sample"),
    (np.array([["a"], ["b"]]), "strings"),
    (np.zeros((2, 1), dtype=[("a", "i1")]), "structured"),
    (np.array([[True], [False]]), "booleans"),
    (np.array([[0.5], [np.nan]], np.float32), "NaN or infinite"),
    (np.array([[0.5], [np.inf]], np.float32), "NaN or infinite"),
    (np.zeros((2, 3), np.int8), "do not match the input's shape"),
])
def test_bad_input_vectors(tmp_path, capsys, arr, needle):
    code, out, err = cli(capsys, "simulate", shared_model(HELLO), "--inputs",
                         _save(tmp_path, arr), "--json")
    assert_one_line_error(code, out, err, needle, json_out=True)


def test_input_vectors_in_nchw_for_an_nhwc_input(tmp_path):
    graph = api.load_model(shared_model("person_detect"))          # [1, 96, 96, 1]
    wrong = _save(tmp_path, np.zeros((2, 1, 96, 96), np.int8))
    with pytest.raises(McucError, match=r"laid out NCHW .* transpose them \(np.transpose\(a, "
                                         r"\(0, 2, 3, 1\)\)\)"):
        api.load_vectors(graph, wrong, 0, 0)
    right = _save(tmp_path, np.zeros((2, 96, 96, 1), np.int8), "ok.npy")
    assert api.load_vectors(graph, right, 0, 0).shape == (2, 96 * 96)


def test_nhwc_calibration_samples_for_an_nchw_model(tmp_path, capsys):
    import onnx

    import onnx_modelgen as og
    model = tmp_path / "float.onnx"
    onnx.save(og.conv(), model)                                      # x0: [1, 3, 9, 9]
    samples = _save(tmp_path, np.zeros((4, 9, 9, 3), np.float32), "s.npy")
    code, out, err = cli(capsys, "info", model, "--calibrate", samples)
    assert_one_line_error(code, out, err, "laid out NHWC", "(0, 3, 1, 2)")


# ------------------------------------------------------------------ files

def _run_cli(*argv, timeout=60) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "mcucompile", *map(str, argv)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("make, needle", [(lambda p: Path("/dev/zero"), "a device"),
                                          (lambda p: (os.mkfifo(p / "m.tflite"),
                                                      p / "m.tflite")[1], "a FIFO"),
                                          (lambda p: p, "float Keras")])
def test_model_must_be_a_regular_file(tmp_path, make, needle):
    t0 = time.monotonic()
    proc = _run_cli("info", make(tmp_path), timeout=30)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith("error: ") and needle in proc.stderr, proc.stderr
    assert time.monotonic() - t0 < 30


def test_inputs_file_must_be_a_regular_file(tmp_path, capsys):
    os.mkfifo(tmp_path / "v.npy")
    code, out, err = cli(capsys, "simulate", shared_model(HELLO), "--inputs", tmp_path / "v.npy")
    assert_one_line_error(code, out, err, "a FIFO")


def test_firmware_to_flash_must_be_a_regular_file(tmp_path, capsys):
    os.mkfifo(tmp_path / "firmware.elf")
    code, out, err = cli(capsys, "flash", tmp_path / "firmware.elf", "--board", "nucleo-f401re",
                         "--dry-run")
    assert_one_line_error(code, out, err, "firmware.elf")       # and no wait on the FIFO


# ------------------------------------------------------------------ last resort, --json

def test_internal_error_is_one_line_exit_3(capsys, monkeypatch):
    """An unexpected exception (injected: a real one would be a bug to fix) is one line and
    exit 3; --json still prints one object; --debug adds the traceback."""
    def broken(*_a, **_k):
        raise ZeroDivisionError("division by zero")
    monkeypatch.setattr(api, "model_info", broken)
    code, out, err = cli(capsys, "info", shared_model(HELLO), "--json")
    assert code == 3 and json.loads(out)["exit"] == 3
    assert err.strip().splitlines() == [
        "error: internal error: ZeroDivisionError: division by zero (please report it; "
        "--debug shows the traceback)"]
    code, out, err = cli(capsys, "info", shared_model(HELLO), "--debug")
    assert code == 3 and "Traceback" in err and out == ""


def test_usage_errors_are_one_line(capsys):
    for argv in (["bogus"], ["info"], ["simulate", shared_model(HELLO), "--nope"]):
        code, out, err = cli(capsys, *argv)
        assert_one_line_error(code, out, err, "--help")


def test_reference_crash_is_a_clean_error():
    """TFLM can abort the process on a model: the reference runs in a child process, and
    its death (here a real SIGABRT sent to it) is a McucError naming the signal."""
    from mcucompile.reference import ReferenceProcess
    path = shared_model(HELLO)
    graph = api.load_model(path)
    vectors = api.load_vectors(graph, None, 2, 0)
    with ReferenceProcess(path.read_bytes(), graph) as ref:
        first = ref.run(vectors)
        assert np.array_equal(ref.run(vectors), first)            # one child, reused
        os.kill(ref._proc.pid, signal.SIGABRT)
        with pytest.raises(McucError, match="crashed on this model.*SIGABRT"):
            ref.run(vectors)


# ------------------------------------------------------------------ signals

def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            found.add(c)
            todo.append(c)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_signal_ends_qemu(tmp_path, sig):
    import shutil
    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    env = dict(os.environ, PYTHONPATH=str(REPO), TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "mcucompile", "simulate",
                             str(shared_model("person_detect")), "--board", "mps2-an386",
                             "--kernels", "portable", "--count", "200", "--json"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline, qemu = time.monotonic() + 240, []
    while not qemu and time.monotonic() < deadline and proc.poll() is None:
        qemu = [p for p in _descendants(proc.pid) if _comm(p).startswith("qemu-system")]
        time.sleep(0.05)
    assert qemu, proc.communicate()
    others = _descendants(proc.pid)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + sig, err
    assert json.loads(out)["exit"] == 128 + sig
    assert "Traceback" not in err and err.strip().splitlines()[-1] == \
        f"error: terminated by {signal.Signals(sig).name}"
    time.sleep(0.2)
    assert not [p for p in others if _alive(p)], [(_comm(p), p) for p in others]
    assert list(tmp_path.iterdir()) == []           # the temporary build directory is gone


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`mcucompile plan MODEL | head -1`: when the reader closes the pipe, the command ends
    with SIGPIPE's status and nothing on stderr (it printed "error: Broken pipe")."""
    proc = subprocess.Popen([sys.executable, "-m", "mcucompile", "plan",
                             str(shared_model("person_detect")), "--board", "mps2-an386"],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()                 # before the command writes anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGPIPE, err
    assert err == b""
