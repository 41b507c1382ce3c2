"""UNIDIRECTIONAL_SEQUENCE_LSTM (issue 14 part 2): TFLM's integer 8x8->16 LSTM, bit-exact with
its host interpreter over sequences of vectors (hidden and cell state are variable tensors
kept across runs, as TFLM keeps them across invoke()).

Models: TFLM's trained_lstm_int8 (MNIST rows; on random inputs its softmax saturates, so it
shows the pipeline) and LSTMs written with the schema bindings (tests/lstm_models.py) whose
LSTM output is the graph output, with outputs spread over their range: batch 1 and 2, time
major, cell scales 2^-11..2^-14 (tanh's input scaling), a cell clip that engages."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import assert_bit_exact, shared_model, write_model
from lstm_models import lstm_model
from tiny_models import schema, serialise

from mcucompile import api
from mcucompile.errors import McucError

CASES = {
    "batch1": dict(),
    "batch2-time-major": dict(batches=2, time_major=True),
    "batch2-cell-2^-11": dict(batches=2, cell_power=11),
    "cell-2^-14-clipped": dict(cell_power=14, cell_clip=1.5),
    "16-units": dict(steps=3, n_in=9, units=16, cell_power=13),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_lstm_models_bit_exact_over_a_sequence(tmp_path, name):
    path = write_model(tmp_path, lstm_model(seed=len(name), **CASES[name]))
    report = api.simulate(path, "host", count=12, seed=2)
    assert_bit_exact(report)
    out = report.reference.astype(int)
    assert len(np.unique(out)) > 100 and (np.abs(out) < 127).mean() > 0.95


@pytest.mark.parametrize("seed", range(6))
def test_random_lstm_shapes_bit_exact(tmp_path, seed):
    """Random geometry, batch, layout, cell scale 2^-10..2^-15 (tanh's input shifted left
    and right) and clip. Seed 0's 2^-13 cell state once found the Q0.15 scale: with TFLM's
    float literal for 2^-15, 4 outputs were 1 apart."""
    rng = np.random.default_rng(seed)
    kwargs = dict(batches=int(rng.integers(1, 3)), cell_power=[13, 10, 15, 11, 14, 12][seed],
                  steps=int(rng.integers(2, 8)), units=int(rng.integers(3, 20)),
                  n_in=int(rng.integers(2, 12)), time_major=bool(rng.integers(0, 2)),
                  cell_clip=float(rng.choice([0.0, 0.5, 1.0, 3.0])))
    if seed == 0:
        kwargs.update(batches=2, steps=6, units=7, n_in=5, time_major=False, cell_clip=0.0)
    path = write_model(tmp_path, lstm_model(seed=0 if seed == 0 else seed + 20, **kwargs))
    assert_bit_exact(api.simulate(path, "host", count=20, seed=7))


def test_lstm_state_carries_over(tmp_path):
    """The same sequence run twice gives other outputs the second time (the state moved on)."""
    path = write_model(tmp_path, lstm_model(seed=4))
    vec = np.random.default_rng(1).integers(-128, 128, (1, 30), dtype=np.int8)
    np.save(tmp_path / "twice.npy", np.repeat(vec, 2, axis=0).reshape(2, 1, 6, 5))
    report = api.simulate(path, "host", inputs=tmp_path / "twice.npy")
    assert_bit_exact(report)
    assert not np.array_equal(report.outputs[0], report.outputs[1])


def test_lstm_reset_equals_a_fresh_interpreter(tmp_path):
    """mcuc_model_reset() sets the int8 hidden state to its zero point (not 0) and the cell
    to 0, as TFLM's reset(): every third vector starts from a fresh interpreter's state."""
    from test_svdf import _reset_every
    path = write_model(tmp_path, lstm_model(seed=6))
    vectors = np.random.default_rng(4).integers(-128, 128, (7, 30), dtype=np.int8)
    got, want = _reset_every(tmp_path, path, "host", 3, vectors)
    assert np.array_equal(got, want)
    fresh = _reset_every(tmp_path / "one", path, "host", 1, vectors)[0]
    assert not np.array_equal(got, fresh)          # the state between resets matters


def test_trained_lstm_on_the_host():
    report = api.simulate(shared_model("trained_lstm_int8"), "host", count=10, seed=5)
    assert_bit_exact(report)


@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_lstm_in_qemu(tmp_path, board):
    """The DSP kernel (M4: rows padded to words, 5 inputs, 7 units), the Helium kernel (M55:
    rows padded to 16, zero points folded into biases) and the portable one."""
    report = api.simulate(shared_model("trained_lstm_int8"), board, count=4, seed=6)
    assert_bit_exact(report)
    path = write_model(tmp_path, lstm_model(seed=8, **CASES["batch2-time-major"]))
    fast = "mcuc_lstm_s8_mve" if board == "mps3-an547" else "mcuc_lstm_s8_dsp"
    for kernels, fn in (("auto", fast), ("portable", "mcuc_lstm_s8")):
        _, plan = api.plan_model(path, board, kernels=kernels)
        assert [c.fn for op in plan.schedule for c in op.kernel.calls] == [fn]
        report = api.simulate(path, board, count=6, seed=3, kernels=kernels)
        assert_bit_exact(report)


def _edit(edit):
    s = schema()
    m = s.ModelT.InitFromPackedBuf(bytearray(lstm_model(seed=0)), 0)
    edit(s, m.subgraphs[0], m.subgraphs[0].operators[0])
    return serialise(m)


def _peephole(s, sg, op):
    op.inputs[9] = op.inputs[1]


def _cell_not_variable(s, sg, op):
    sg.tensors[op.inputs[19]].isVariable = False


def _sigmoid_cell_gate(s, sg, op):
    op.builtinOptions.fusedActivationFunction = s.ActivationFunctionType.RELU


def _int8_cell(s, sg, op):
    sg.tensors[op.inputs[19]].type = s.TensorType.INT8


def _weights_shape(s, sg, op):
    op.inputs[6] = op.inputs[2]          # [7 units, 5 inputs] where [7, 7] belongs


REFUSED = {
    "peephole": (_peephole, "peephole LSTMs are not supported"),
    "cell state not variable": (_cell_not_variable, "variable tensor"),
    "cell gate activation": (_sigmoid_cell_gate, "cell gate activation code 1"),
    "int8 cell state": (_int8_cell, "state must be int16"),
    "recurrent weights shape": (_weights_shape, "weights must be constant int8 [7, 7]"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_hostile_lstm_fields_refused_in_one_line(tmp_path, case):
    edit, message = REFUSED[case]
    path = write_model(tmp_path, _edit(edit))
    with pytest.raises(McucError) as e:
        api.compile_model(path, "host")
    text = str(e.value)
    assert message in text and "\n" not in text.strip(), text
