"""What the second adversarial campaign (tests/fuzz_campaign2.py) found, each fault a test, and
a small seeded sample of the campaign's own model edits, run in-process (fast tier).

Faults found by the campaign (all were accepted, then the reference crashed or refused, or the
firmware computed something else than TFLM):
- a builtin options table of another op (SOFTMAX given ReshapeOptions: TFLM SIGABRT), none
  where the op reads one, custom options on a builtin op (TFLM refuses);
- FullyConnectedOptions.quantized_bias_type not a tensor type (TFLM refuses);
- a constant stored in the large-model layout (offset/size): read here, not by TFLM;
- a data tensor with a zero dimension (CONCATENATION: TFLM SIGSEGV);
- CONCATENATION inputs that do not match the output outside the axis (only the axis was
  summed); MEAN with an output shape that is not the input reduced over the axes.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

import fuzz_campaign2 as campaign
import modelgen
from test_hostile_models import _refused
from tiny_models import T_CONV_B, T_OUT, schema, serialise, tiny_model
from mcucompile.cli import main


def _write(tmp_path, m) -> str:
    path = tmp_path / "m.tflite"
    path.write_bytes(serialise(m))
    return str(path)


def _edited(tmp_path, base: bytes, edit) -> str:
    m = campaign._unpack(base)
    edit(m)
    path = tmp_path / "m.tflite"
    path.write_bytes(campaign._pack(m))
    return str(path)


def test_options_of_another_op_refused(tmp_path, capsys):
    m = tiny_model()
    op = m.subgraphs[0].operators[5]                          # SOFTMAX
    op.builtinOptions = schema().ReshapeOptionsT()
    op.builtinOptionsType = schema().BuiltinOptions.ReshapeOptions
    _refused(capsys, ["info", _write(tmp_path, m)], "op 5", "SOFTMAX",
             "builtin options are ReshapeOptions, expected SoftmaxOptions")


def test_missing_options_refused_where_the_op_reads_them(tmp_path, capsys):
    m = tiny_model()
    op = m.subgraphs[0].operators[0]                          # CONV_2D
    op.builtinOptions, op.builtinOptionsType = None, 0
    _refused(capsys, ["info", _write(tmp_path, m)], "op 0", "CONV_2D",
             "builtin options missing (expected Conv2DOptions)")


def test_reshape_without_options_accepted(tmp_path, capsys):
    """Converters write RESHAPE without options (kws_ref_model, pretrainedResnet_quant)."""
    m = tiny_model()
    op = m.subgraphs[0].operators[3]                          # RESHAPE
    op.builtinOptions, op.builtinOptionsType = None, 0
    assert main(["info", _write(tmp_path, m)]) == 0


def test_custom_options_on_a_builtin_refused(tmp_path, capsys):
    m = tiny_model()
    m.subgraphs[0].operators[2].customOptions = list(range(64))
    _refused(capsys, ["info", _write(tmp_path, m)], "op 2", "custom options on a builtin op")


def test_quantized_bias_type_must_be_a_type(tmp_path, capsys):
    m = tiny_model()
    m.subgraphs[0].operators[4].builtinOptions.quantizedBiasType = 99      # FULLY_CONNECTED
    _refused(capsys, ["info", _write(tmp_path, m)], "op 4", "quantized_bias_type 99")


def test_large_model_layout_refused(tmp_path, capsys):
    m = tiny_model()
    b = m.buffers[m.subgraphs[0].tensors[T_CONV_B].buffer]
    b.size, b.offset, b.data = len(b.data), 8, None
    _refused(capsys, ["info", _write(tmp_path, m)], "large-model layout")


def test_zero_sized_data_tensor_refused(tmp_path, capsys):
    def edit(m):
        m.subgraphs[0].tensors[0].shape = np.array([0, 4, 4, 3], np.int32)
    path = _edited(tmp_path, modelgen.concat(), edit)
    _refused(capsys, ["info", path], "op 0", "CONCATENATION", "holds no values")


@pytest.mark.parametrize("zero_points", [None, [0, 0]])
def test_scales_without_their_zero_points_refused(tmp_path, capsys, zero_points):
    """Campaign 2, seed 7: a quantized tensor with no zero point (TFLM aborts: SIGABRT on an
    ADD input, refused on a depthwise bias) was read as zero point 0."""
    def edit(m):
        q = m.subgraphs[0].tensors[0].quantization
        q.zeroPoint = None if zero_points is None else np.array(zero_points, np.int64)
    path = _edited(tmp_path, modelgen.concat(), edit)
    n = 0 if zero_points is None else len(zero_points)
    _refused(capsys, ["info", path], "tensor 0", f"1 scale(s) but {n} zero point(s)")


def test_concat_inputs_must_match_the_output(tmp_path, capsys):
    def edit(m):
        sg = m.subgraphs[0]
        out = sg.tensors[int(sg.operators[0].outputs[0])]
        out.shape = np.array([1, 1 << 20, 4, 8], np.int32)
    path = _edited(tmp_path, modelgen.concat(), edit)
    _refused(capsys, ["info", path], "op 0", "does not fit the output's [1, 1048576, 4, 8]")


def test_mean_output_must_be_the_reduced_input(tmp_path, capsys):
    def edit(m):
        sg = m.subgraphs[0]
        x = sg.tensors[int(sg.operators[0].inputs[0])]
        x.shape = np.array(list(x.shape)[:-1], np.int32)
    path = _edited(tmp_path, modelgen.mean(), edit)
    _refused(capsys, ["info", path], "op 0", "MEAN", "is not the mean of")


def test_softmax_output_still_checked(tmp_path, capsys):
    m = tiny_model()
    m.subgraphs[0].tensors[T_OUT].shape = [1, 11]
    _refused(capsys, ["info", _write(tmp_path, m)], "op 5", "SOFTMAX")


# ------------------------------------------------------------------ a seeded sample

@pytest.mark.parametrize("seed", [3, 4])
def test_campaign_sample(seed, tmp_path, capsys):
    """Per seed, 20 of the campaign's TFLite and 10 of its ONNX field edits, each through
    `info --json` in-process: exit 0 or 1, exactly one JSON object, an error as one line.
    (The campaign script runs them through `simulate` in subprocesses, with the verdicts on
    signals, hangs, memory, leftovers and mismatches.)"""
    rng = np.random.default_rng(seed)
    cases = campaign.tflite_cases(rng, 20) + campaign.onnx_cases(rng, 10)
    assert len(cases) == 30
    for k, case in enumerate(cases):
        path = tmp_path / f"c{k}{case.suffix}"
        path.write_bytes(case.model)
        code = main(["info", str(path), "--json"])
        out = capsys.readouterr()
        assert code in (0, 1), (case.label, out.err)
        obj = json.loads(out.out)
        assert isinstance(obj, dict) and ("error" in obj) == (code == 1), case.label
        assert "Traceback" not in out.err and "internal error" not in out.err, case.label


@pytest.mark.parametrize("values, expect", [
    ([2, 4, 3, 1], "does not match output shape"),       # the sizes reversed: same count
    ([1, 3, 5, 2], "does not match output shape"),
])
def test_slice_size_must_give_the_output_shape(tmp_path, capsys, values, expect):
    def edit(m):
        sg = m.subgraphs[0]
        size = sg.tensors[int(sg.operators[0].inputs[2])]
        m.buffers[size.buffer].data = np.frombuffer(np.array(values, np.int32).tobytes(),
                                                    np.uint8)
    path = _edited(tmp_path, modelgen.slice_(), edit)
    _refused(capsys, ["info", path], "op 0", "SLICE", expect)


def test_slice_box_must_stay_inside_the_input(tmp_path, capsys):
    """begin 5 + size 3 on an axis of 6 (output shape edited to match): refused, not read
    past the input."""
    def edit(m):
        sg = m.subgraphs[0]
        op = sg.operators[0]
        begin = sg.tensors[int(op.inputs[1])]
        m.buffers[begin.buffer].data = np.frombuffer(np.array([0, 5, 2, 0], np.int32).tobytes(),
                                                     np.uint8)
    path = _edited(tmp_path, modelgen.slice_(), edit)
    _refused(capsys, ["info", path], "op 0", "leaves axis 1")


def test_intermediates_refused(tmp_path, capsys):
    m = tiny_model()
    m.subgraphs[0].operators[5].intermediates = [0]
    _refused(capsys, ["info", _write(tmp_path, m)], "op 5", "intermediate tensors")


def test_elementwise_shapes_must_broadcast_even_with_equal_sizes(tmp_path, capsys):
    """[1,4,4,3] x [1,4,4,3,1]: 48 values each, but they broadcast to [1,4,4,3,3]."""
    def edit(m):
        sg = m.subgraphs[0]
        b = sg.tensors[int(sg.operators[0].inputs[1])]
        b.shape = np.array(list(b.shape) + [1], np.int32)
    path = _edited(tmp_path, modelgen.mul(), edit)
    _refused(capsys, ["info", path], "op 0", "do not broadcast")


def _onnx(tmp_path, builder, fmt, edit, **kw):
    import onnx
    import onnx_modelgen
    m = onnx.load_from_string(onnx_modelgen.quantized(builder, fmt, True, **kw))
    edit(m)
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    return str(path)


def _node(m, op_type):
    """The last node of that type (for QuantizeLinear: not the input's, which the compiler and
    the reference cut off)."""
    return [n for n in m.graph.node if n.op_type == op_type][-1]


@pytest.mark.parametrize("builder, fmt, op, name, value, kw", [
    ("global_avg_pool", "QDQ", "Flatten", "count_include_pad", 1, {}),
    ("pool", "QOperator", "MaxPool", "group", 0, dict(op="MaxPool")),
    ("reshapes", "QDQ", "QuantizeLinear", "ceil_mode", 1, {}),
    ("concat", "QOperator", "QLinearConcat", "transB", 0, {}),
])
def test_onnx_attribute_the_op_does_not_take_refused(tmp_path, capsys, builder, fmt, op, name,
                                                     value, kw):
    from onnx import helper
    path = _onnx(tmp_path, builder, fmt,
                 lambda m: _node(m, op).attribute.append(helper.make_attribute(name, value)), **kw)
    _refused(capsys, ["info", path], op, f"attribute '{name}' is not one {op} takes")


def test_onnx_attribute_of_the_wrong_type_refused(tmp_path, capsys):
    from onnx import helper

    def edit(m):
        conv = _node(m, "Conv")
        conv.attribute.remove(next(a for a in conv.attribute if a.name == "strides"))
        conv.attribute.append(helper.make_attribute("strides", 1.5))
    _refused(capsys, ["info", _onnx(tmp_path, "conv", "QDQ", edit)], "Conv",
             "attribute 'strides' has the wrong type")


@pytest.mark.parametrize("target", ["node", "input"])
def test_onnx_tensor_written_twice_refused(tmp_path, capsys, target):
    """Campaign 2, seed 9: two nodes writing one name were accepted (onnxruntime refuses)."""
    def edit(m):
        conv = _node(m, "Conv")
        other = m.graph.node[0].output[0] if target == "node" else m.graph.input[0].name
        conv.output[0] = other
    path = _onnx(tmp_path, "conv", "QDQ", edit)
    _refused(capsys, ["info", path], "Conv", "already writes")


def test_onnx_extra_output_refused(tmp_path, capsys):
    path = _onnx(tmp_path, "concat", "QOperator",
                 lambda m: _node(m, "QLinearConcat").output.append("extra"))
    _refused(capsys, ["info", path], "QLinearConcat", "the model gives it 2")


def test_onnx_without_opset_refused(tmp_path, capsys):
    path = _onnx(tmp_path, "global_avg_pool", "QDQ", lambda m: m.ClearField("opset_import"))
    _refused(capsys, ["info", path], "imports no default-domain opset")


@pytest.mark.parametrize("builder, fmt, op, domain, expect", [
    ("conv", "QDQ", "QuantizeLinear", "ai.onnx.ml", "unsupported op domain 'ai.onnx.ml'"),
    ("binary", "QOperator", "QLinearAdd", "", "is not an op of the default ONNX domain"),
    ("conv", "QDQ", "Conv", "com.microsoft", "unsupported op 'Conv' (domain com.microsoft)"),
])
def test_onnx_op_outside_its_domain_refused(tmp_path, capsys, builder, fmt, op, domain, expect):
    path = _onnx(tmp_path, builder, fmt, lambda m: setattr(_node(m, op), "domain", domain))
    _refused(capsys, ["info", path], op, expect)


def test_onnx_sparse_initializer_refused(tmp_path, capsys):
    path = _onnx(tmp_path, "binary", "QDQ", lambda m: m.graph.sparse_initializer.add())
    _refused(capsys, ["info", path], "sparse initializers are not supported")
