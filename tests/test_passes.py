"""Passes: aliasing removes reshapes without copies; zero-point folding moves the input
offset into the bias where no tap reads padding (and only there); results stay bit-exact
(checked end to end by test_ops_host / test_shared_models)."""
from __future__ import annotations

import numpy as np

import modelgen
from conftest import shared_model, write_model
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes


def _calls(graph, op_type):
    return [c for op in graph.ops if op.type == op_type for c in op.kernel.calls]


def test_reshape_is_an_alias_without_code():
    g = run_passes(load_model(shared_model("kws_ref_model")))
    reshapes = [op for op in g.ops if op.type == "RESHAPE"]
    assert reshapes and all(op.is_alias and not op.kernel.calls for op in reshapes)
    assert reshapes[0].outputs[0].storage() is reshapes[0].inputs[0].storage()


def test_fc_zero_point_folded_into_bias():
    path = shared_model("hello_world_int8")
    raw = load_model(path)
    x, w, b = raw.ops[0].inputs
    in_zp = int(x.quant.zero_point[0])
    g = run_passes(load_model(path))
    call = _calls(g, "FULLY_CONNECTED")[0]
    assert call.params["input_offset"] == 0
    folded = call.args[2].const
    expected = b.data.astype(np.int64) - in_zp * w.data.astype(np.int64).sum(axis=1)
    assert np.array_equal(folded, expected)


def test_padded_conv_keeps_its_offset(tmp_path):
    same = run_passes(load_model(write_model(tmp_path, modelgen.conv2d((1, 9, 9, 3), 5, (3, 3), (1, 1), "same"), "same")))
    valid = run_passes(load_model(write_model(tmp_path, modelgen.conv2d((1, 9, 9, 3), 5, (3, 3), (1, 1), "valid"), "valid")))
    in_zp = int(same.inputs[0].quant.zero_point[0])
    assert _calls(same, "CONV_2D")[0].params["input_offset"] == -in_zp
    assert _calls(valid, "CONV_2D")[0].params["input_offset"] == 0
