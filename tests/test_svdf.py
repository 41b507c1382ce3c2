"""SVDF and model state (issue 14 parts 1-2): TFLite variable tensors kept in the arena's state
region across runs, checked against TFLM's host interpreter over sequences of vectors (output N
= TFLM's after N invokes), and after mcuc_model_reset() (= a fresh interpreter's).

The SVDF models are written with the schema bindings with real-looking weights and scales
(tests/svdf_models.py: every SVDF output is a graph output, so the intermediate tensors are
compared too); TFLM's keyword_scrambled_8bit (int16 input, QUANTIZE, 7 SVDF, FC, SOFTMAX to
int16, QUANTIZE to int32) saturates on its scrambled weights, so it shows the pipeline, not
the arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_bit_exact, shared_model, write_model
from svdf_models import svdf_model
from tiny_models import schema, serialise

from mcucompile import api
from mcucompile.boards import get_board
from mcucompile.errors import McucError
from mcucompile.planner import check_plan
from mcucompile.planner.report import plan_summary
from mcucompile.procs import run
from mcucompile.reference import tflm_interpreter, tflm_run
from mcucompile.simulate import run_vectors

# (rank, units, memory, state type) per layer: ranks 1-3, memory 1-10, int8 and int16 state
LAYERS = {
    "rank1-int8": ((1, 8, 4, "int8"),),
    "rank2-int16-then-int8": ((2, 6, 10, "int16"), (1, 5, 3, "int8")),
    "rank3-memory1": ((3, 4, 1, "int8"),),
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_svdf_models_bit_exact_over_a_sequence(tmp_path, name):
    batches = 2 if "int16" in name else 1
    path = write_model(tmp_path, svdf_model(LAYERS[name], batches=batches, seed=len(name)))
    report = api.simulate(path, "host", count=24, seed=1)
    assert_bit_exact(report)
    # real activations: the intermediate SVDF outputs spread over their range
    svdf_out = report.reference[:, 3 * batches:].astype(int)
    assert len(np.unique(svdf_out)) > 40
    assert ((svdf_out > -128) & (svdf_out < 127)).mean() > 0.9


@pytest.mark.parametrize("seed", range(4))
def test_random_svdf_stacks_bit_exact(tmp_path, seed):
    """Random stacks (1-3 layers: rank 1-3, 1-23 units, memory 1-12, int8 or int16 state),
    batch 1-2, int8 or int16 input, int8 or int16 softmax; int16 states with a zero point of
    their own (TFLM resets them to 0, not to it)."""
    rng = np.random.default_rng(100 + seed)
    layers = tuple((int(rng.integers(1, 4)), int(rng.integers(1, 24)), int(rng.integers(1, 13)),
                    str(rng.choice(["int8", "int16"]))) for _ in range(int(rng.integers(1, 4))))
    data = svdf_model(layers, batches=int(rng.integers(1, 3)), n_in=int(rng.integers(1, 40)),
                      input_dtype=str(rng.choice(["int8", "int16"])),
                      softmax16=bool(rng.integers(0, 2)), seed=seed)
    s = schema()
    m = s.ModelT.InitFromPackedBuf(bytearray(data), 0)
    for t in m.subgraphs[0].tensors:
        if t.isVariable and t.type == s.TensorType.INT16:
            t.quantization.zeroPoint = [37]
    path = write_model(tmp_path, serialise(m))
    assert_bit_exact(api.simulate(path, "host", count=20, seed=seed))


def test_state_matters_and_persists(tmp_path):
    """The same vector run again gives another output while the state fills (memory 4: the
    first 4 differ, then the state is all this vector's and the output stays), and runs on a
    fresh interpreter each time give others still: the sequence test does test the state."""
    path = write_model(tmp_path, svdf_model(LAYERS["rank1-int8"], seed=3))
    vec = np.random.default_rng(0).integers(-128, 128, (1, 24), dtype=np.int8)
    vectors = np.repeat(vec, 5, axis=0)
    np.save(tmp_path / "same.npy", vectors.view(np.int16).reshape(5, 1, 12))
    report = api.simulate(path, "host", inputs=tmp_path / "same.npy")
    assert_bit_exact(report)
    assert len({row.tobytes() for row in report.outputs[:4]}) == 4
    assert np.array_equal(report.outputs[3], report.outputs[4])
    compiled = api.compile_model(path, "host")
    fresh = np.concatenate([tflm_run(tflm_interpreter(path.read_bytes(), compiled.graph),
                                     compiled.graph, vec)] * 5)
    assert not np.array_equal(fresh, report.outputs)


def test_state_region_is_never_planned(tmp_path):
    path = write_model(tmp_path, svdf_model(LAYERS["rank2-int16-then-int8"], seed=2))
    compiled = api.compile_model(path, "host")
    plan = compiled.plan
    check_plan(plan)
    assert [t.name for t, _ in plan.state] == ["svdf0/state", "svdf1/state"]
    assert all(b.offset + b.size <= plan.state_offset for b in plan.buffers)
    assert not any(b.tensor is not None and b.tensor.variable for b in plan.buffers)
    # int16 [1, 12 filters x 10] and int8 [1, 5 x 3] (15 bytes, aligned to 16)
    assert plan.arena_bytes - plan.state_offset == 240 + 16
    summary = plan_summary(compiled.graph, plan)
    assert [(b["name"], b["bytes"]) for b in summary["state"]] == [("st0", 240), ("st1", 15)]
    assert summary["unpatched_arena_bytes"] == plan.arena_bytes       # the state counted once
    header = (compiled.project.out_dir / "model.h").read_text()
    assert f"#define MCUC_STATE_BYTES   {plan.arena_bytes - plan.state_offset}" in header
    assert "void mcuc_model_reset(void);" in header


def _reset_every(tmp_path, path, board_name, n, vectors):
    """Outputs of the harness built with RESET_EVERY=n, and TFLM's with interp.reset() before
    every n-th vector after the first."""
    board = get_board(board_name)
    compiled = api.compile_model(path, board, tmp_path / f"out-{board_name}")
    proc = run(["make", "RESET_EVERY=" + str(n)], cwd=compiled.project.out_dir, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exe = next((compiled.project.out_dir / "build").rglob("firmware.elf" if board.is_cross
                                                          else "model_runner"))
    got = run_vectors(exe, board, vectors, compiled.project.output_bytes).outputs
    want = tflm_run(tflm_interpreter(path.read_bytes(), compiled.graph), compiled.graph,
                    vectors, reset_every=n)
    return got, want


def test_reset_equals_a_fresh_interpreter_on_the_host(tmp_path):
    path = write_model(tmp_path, svdf_model(LAYERS["rank1-int8"], seed=5))
    vectors = np.random.default_rng(2).integers(-128, 128, (9, 24), dtype=np.int8)
    got, want = _reset_every(tmp_path, path, "host", 3, vectors)
    assert np.array_equal(got, want)
    # after each reset the outputs are a fresh interpreter's: vectors 0-2 again give 0-2
    again = np.concatenate([vectors[:3]] * 3)
    got, want = _reset_every(tmp_path / "again", path, "host", 3, again)
    assert np.array_equal(got, want)
    assert np.array_equal(got[0:3], got[3:6]) and np.array_equal(got[0:3], got[6:9])


def test_keyword_scrambled_model_on_the_host(tmp_path):
    report = api.simulate(shared_model("keyword_scrambled_8bit"), "host", count=16, seed=4)
    assert_bit_exact(report)
    assert report.outputs.shape == (16, 8)      # [1, 2] int32


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_svdf_in_qemu(tmp_path, board):
    """keyword_scrambled_8bit (its SVDFs on the DSP kernel, Helium on the M55) and an SVDF
    model of real-looking weights (int16 and int8 state, batch 2) over a sequence, the latter
    with a harness that resets."""
    report = api.simulate(shared_model("keyword_scrambled_8bit"), board, count=6, seed=7)
    assert_bit_exact(report)
    _, plan = api.plan_model(shared_model("keyword_scrambled_8bit"), board)
    fast = "mcuc_svdf_s8_mve" if board == "mps3-an547" else "mcuc_svdf_s8_dsp"
    assert {c.fn for op in plan.schedule if op.type == "SVDF"
            for c in op.kernel.calls} == {fast}
    path = write_model(tmp_path, svdf_model(LAYERS["rank2-int16-then-int8"], batches=2,
                                            seed=11))
    vectors = np.random.default_rng(3).integers(-128, 128, (8, 48), dtype=np.int8)
    got, want = _reset_every(tmp_path, path, board, 4, vectors)
    assert np.array_equal(got, want)


def test_svdf_over_the_serial_link(tmp_path):
    """The serial harness resets the state at the session's PING: a fresh interpreter's."""
    path = write_model(tmp_path, svdf_model(LAYERS["rank1-int8"], seed=9))
    report = api.simulate(path, "mps2-an386", count=6, seed=2, transport="serial")
    assert_bit_exact(report)


# ------------------------------------------------------------------ refused models


def _model_t():
    s = schema()
    return s, s.ModelT.InitFromPackedBuf(bytearray(svdf_model(LAYERS["rank1-int8"])), 0)


def _svdf_op(m):
    return next(o for o in m.subgraphs[0].operators if o.builtinOptions is not None
                and hasattr(o.builtinOptions, "rank"))


def _not_variable(s, m):
    m.subgraphs[0].tensors[_svdf_op(m).inputs[4]].isVariable = False


def _variable_elsewhere(s, m):
    m.subgraphs[0].tensors[_svdf_op(m).inputs[0]].isVariable = True


def _state_with_data(s, m):
    t = m.subgraphs[0].tensors[_svdf_op(m).inputs[4]]
    buf = s.BufferT()
    buf.data = np.zeros(32, np.uint8)
    m.buffers.append(buf)
    t.buffer = len(m.buffers) - 1


def _rank(s, m):
    _svdf_op(m).builtinOptions.rank = 3


def _no_bias(s, m):
    _svdf_op(m).inputs[3] = -1


def _bias_scale(s, m):
    m.subgraphs[0].tensors[_svdf_op(m).inputs[3]].quantization.scale = [0.5]


def _state_shape(s, m):
    m.subgraphs[0].tensors[_svdf_op(m).inputs[4]].shape = [1, 31]


def _state_type(s, m):
    t = m.subgraphs[0].tensors[_svdf_op(m).inputs[4]]
    t.type = s.TensorType.INT16


REFUSED = {
    "state not a variable tensor": (_not_variable, "no graph input, constant, variable tensor"),
    "variable tensor as data input": (_variable_elsewhere, "is a variable tensor"),
    "rank does not divide filters": (_rank, "rank 3 must be >= 1 and divide"),
    "state with constant data": (_state_with_data, "a variable tensor with constant data"),
    "no bias": (_no_bias, "required input 3 is missing"),
    "bias scale": (_bias_scale, "is not state scale x weights_time scale"),
    "state shape": (_state_shape, "state must be [1, 32]"),
    "state type differs from weights_time": (_state_type, "must both be int8 or both int16"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_svdf_fields_refused_in_one_line(tmp_path, case):
    edit, message = REFUSED[case]
    s, m = _model_t()
    edit(s, m)
    path = write_model(tmp_path, serialise(m))
    with pytest.raises(McucError) as e:
        api.compile_model(path, "host")
    text = str(e.value)
    assert message in text and "\n" not in text.strip(), text
