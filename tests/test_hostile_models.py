"""Hostile models (issue 13): one field of a small valid model edited through the TFLite schema
bindings or the ONNX protobuf. Every edit is either refused up front with one line naming the
file, op index and tensor (exit 1, no traceback), or, for names, compiled into C that builds
with -Werror and holds nothing of the name but comment text.

Host only, no QEMU: the fast tier.
"""
from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import onnx
import pytest
from onnx import TensorProto, numpy_helper

import onnx_modelgen
from tiny_models import (T_CONV_B, T_CONV_OUT, T_CONV_W, T_DW_OUT, T_FC_W, T_IN, T_OUT,
                         schema, serialise, tiny_model)
from mcucompile.cli import main
from mcucompile.escape import c_comment, c_string, make_comment, shown, terminal

CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")

INJECTED = "x */ int mcuc_injected = 1; /* y"
HOSTILE_NAMES = [
    INJECTED,
    'q"uote \\" mcuc_injected_q',
    "back\\\nslash mcuc_injected_b",
    "$(shell touch mcuc_injected_make) `id`",
    "nul\x00byte",
    "\x1b[2J\x1b]0;title\x07clear \r\x9b31m",
    "trigraph ??/ ??= /* nested",
    "bidi \u202eevil\u202c",
    "long" * 5000,
]


def _tflite(tmp_path, edit=None, name="model"):
    m = tiny_model()
    if edit is not None:
        edit(m)
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(serialise(m))
    return str(path)


def _ops(m):
    return m.subgraphs[0].operators


def _tensors(m):
    return m.subgraphs[0].tensors


def _refused(capsys, argv, *expect):
    """main(argv) exits 1 with one clean line that names what `expect` lists."""
    code = main(argv)
    out = capsys.readouterr()
    assert code == 1, out
    assert "Traceback" not in out.err
    lines = [line for line in out.err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, out.err
    for e in expect:
        assert e in lines[0], lines[0]
    assert not CONTROL.search(out.err)
    return lines[0]


# ------------------------------------------------------------------ TFLite field edits

def _set_quant(t, **fields):
    def edit(m):
        for k, v in fields.items():
            setattr(_tensors(m)[t].quantization, k, v)
    return edit


def _set_opt(op, **fields):
    def edit(m):
        for k, v in fields.items():
            setattr(_ops(m)[op].builtinOptions, k, v)
    return edit


def _set_input(op, k, value):
    def edit(m):
        _ops(m)[op].inputs[k] = value
    return edit


def _softmax_11(m):
    _tensors(m)[T_OUT].shape = [1, 11]


def _no_quant_weights(m):
    _tensors(m)[T_CONV_W].quantization = None


def _fourth_conv_input(m):
    _ops(m)[0].inputs = list(_ops(m)[0].inputs) + [T_CONV_B]


def _const_output(m):
    m.subgraphs[0].outputs = [T_CONV_W]


def _unquantized_extra_input(m):
    t = schema().TensorT()
    t.name, t.shape, t.type = "extra", [1, 4], schema().TensorType.INT8
    m.subgraphs[0].tensors.append(t)
    m.subgraphs[0].inputs = [T_IN, len(m.subgraphs[0].tensors) - 1]


def _negative_weight_scale(m):
    _tensors(m)[T_CONV_W].quantization.scale[1] = -0.005


TFLITE_CASES = {
    # name: (edit, texts the one error line must contain)
    "conv input -1": (_set_input(0, 0, -1), ["op 0 (CONV_2D)", "input 0 is missing"]),
    "conv weights -1": (_set_input(0, 1, -1), ["op 0 (CONV_2D)", "input 1 is missing"]),
    "fc weights -1": (_set_input(4, 1, -1), ["op 4 (FULLY_CONNECTED)", "input 1 is missing"]),
    "conv stride 0": (_set_opt(0, strideH=0), ["op 0 (CONV_2D)", "strides [0, 1]"]),
    "depthwise stride 0": (_set_opt(1, strideW=0), ["op 1 (DEPTHWISE_CONV_2D)", "strides"]),
    "pool stride 0": (_set_opt(2, strideH=0, strideW=0), ["op 2 (AVERAGE_POOL_2D)", "strides"]),
    "pool filter 0": (_set_opt(2, filterWidth=0), ["op 2 (AVERAGE_POOL_2D)", "filter size"]),
    "conv dilation 0": (_set_opt(0, dilationWFactor=0), ["op 0 (CONV_2D)", "dilations"]),
    "depthwise dilation -1": (_set_opt(1, dilationHFactor=-1), ["op 1", "dilations"]),
    "output scale 0": (_set_quant(T_CONV_OUT, scale=[0.0]),
                       ["op 0 (CONV_2D)", "tensor 3 'conv/out'", "scale 0.0"]),
    "output scale nan": (_set_quant(T_CONV_OUT, scale=[float("nan")]), ["tensor 3", "scale nan"]),
    "output scale inf": (_set_quant(T_DW_OUT, scale=[float("inf")]), ["op 1", "tensor 6"]),
    "input scale 1e30": (_set_quant(T_IN, scale=[1e30]), ["op 0 (CONV_2D)", "below 2^31"]),
    "output scale 1e-30": (_set_quant(T_CONV_OUT, scale=[1e-30]), ["op 0", "below 2^31"]),
    "scale 1e-45 (float32 denormal)": (_set_quant(T_CONV_OUT, scale=[1e-45]), ["tensor 3"]),
    "negative weight scale": (_negative_weight_scale,
                              ["op 0 (CONV_2D)", "tensor 1 'conv/filter'", "channel 1"]),
    "weight scales 2 for 3 channels": (_set_quant(T_CONV_W, scale=[0.01, 0.01],
                                                  zeroPoint=[0, 0]), ["tensor 1"]),
    "zero point 2^40": (_set_quant(T_CONV_OUT, zeroPoint=[1 << 40]),
                        ["tensor 3", "zero point 1099511627776", "-128..127"]),
    "zero point -300": (_set_quant(T_CONV_OUT, zeroPoint=[-300]), ["tensor 3", "-300"]),
    "int8 weights without quantization": (_no_quant_weights, ["op 0", "tensor 1 'conv/filter'",
                                                              "without quantization"]),
    "fourth conv input": (_fourth_conv_input, ["op 0 (CONV_2D)", "2 to 3 inputs", "gives it 4"]),
    "softmax output [1,11]": (_softmax_11, ["op 5 (SOFTMAX)", "tensor 13 'output'", "[1, 11]"]),
    "depth multiplier 0": (_set_opt(1, depthMultiplier=0), ["op 1", "depth multiplier 0"]),
    "depth multiplier 1": (_set_opt(1, depthMultiplier=1), ["op 1", "depth multiplier 1"]),
    "depth multiplier 3": (_set_opt(1, depthMultiplier=3), ["op 1", "depth multiplier 3"]),
    "stride 2^31-1": (_set_opt(0, strideW=(1 << 31) - 1), ["op 0", "output shape"]),
    "padding code 7": (_set_opt(0, padding=7), ["op 0", "padding code 7"]),
    "constant graph output": (_const_output, ["graph output tensor 1 'conv/filter'",
                                              "constant"]),
    "unquantized graph input": (_unquantized_extra_input, ["graph input tensor 14 'extra'",
                                                           "no quantization"]),
    "no graph outputs": (lambda m: setattr(m.subgraphs[0], "outputs", []), ["no outputs"]),
    "fc weights wrong depth": (lambda m: setattr(_tensors(m)[T_FC_W], "shape", [12, 20]),
                               ["op 4", "tensor 9", "20-value rows"]),
}


@pytest.mark.parametrize("case", TFLITE_CASES)
@pytest.mark.parametrize("command", ["compile", "info"])
def test_tflite_field_refused(tmp_path, capsys, case, command):
    edit, expect = TFLITE_CASES[case]
    path = _tflite(tmp_path, edit)
    argv = [command, path] + (["--board", "host", "-o", str(tmp_path / "out")]
                              if command == "compile" else [])
    line = _refused(capsys, argv, path, *expect)
    assert not (tmp_path / "out").exists(), line


@pytest.mark.parametrize("case", ["no graph outputs", "softmax output [1,11]",
                                  "depth multiplier 1", "conv dilation 0"])
def test_tflite_refused_before_simulate(tmp_path, capsys, case):
    """The accepted-then-mismatching cases never reach the build or the reference."""
    edit, expect = TFLITE_CASES[case]
    _refused(capsys, ["simulate", _tflite(tmp_path, edit), "--board", "host"], *expect)


def test_tiny_model_is_valid_and_exact(tmp_path, capsys):
    """The unedited model compiles, builds with -Werror and matches TFLM: the refusals above
    are the edits' doing. An input scale so small that the first multipliers flush to zero
    is still valid (TFLM does the same) and stays exact."""
    assert main(["simulate", _tflite(tmp_path), "--board", "host", "--count", "3"]) == 0
    flushed = _tflite(tmp_path, _set_quant(T_IN, scale=[1e-30]), "flushed")
    assert main(["simulate", flushed, "--board", "host", "--count", "2"]) == 0
    assert "BIT-EXACT" in capsys.readouterr().out


# ------------------------------------------------------------------ ONNX field edits

@pytest.fixture(scope="module")
def onnx_conv():
    return {fmt: onnx.load_from_string(onnx_modelgen.quantize(onnx_modelgen.conv(), fmt))
            for fmt in ("QDQ", "QOperator")}


def _onnx(tmp_path, model, edit=None, name="model"):
    m = onnx.ModelProto()
    m.CopyFrom(model)
    if edit is not None:
        edit(m)
    path = tmp_path / f"{name}.onnx"
    path.write_bytes(m.SerializeToString())
    return str(path)


def _conv_node(m):
    return next(n for n in m.graph.node if n.op_type in ("Conv", "QLinearConv"))


def _set_attr(name, value):
    def edit(m):
        node = _conv_node(m)
        for a in node.attribute:
            if a.name == name:
                node.attribute.remove(a)
                break
        node.attribute.append(onnx.helper.make_attribute(name, value))
    return edit


def _set_init(name, fn):
    def edit(m):
        init = next(i for i in m.graph.initializer if i.name == name)
        arr = fn(numpy_helper.to_array(init).copy())
        init.CopyFrom(numpy_helper.from_array(arr, name))
    return edit


def _drop_init(name):
    def edit(m):
        init = next(i for i in m.graph.initializer if i.name == name)
        m.graph.initializer.remove(init)
    return edit


def _opset(v):
    def edit(m):
        for o in m.opset_import:
            if o.domain in ("", "ai.onnx"):
                o.version = v
    return edit


def _times(k, factor):
    def fn(a):
        a = a.astype(np.float32)
        a.reshape(-1)[k] *= np.float32(factor)
        return a
    return fn


def _value(v):
    return lambda a: np.full_like(a, v, dtype=np.float32)


ONNX_CASES = {
    # name: (forms, edit, texts the one error line must contain)
    "strides [0,0]": (("QDQ", "QOperator"), _set_attr("strides", [0, 0]), ["strides [0, 0]"]),
    "strides 2^40": (("QDQ",), _set_attr("strides", [1 << 40, 1]), ["strides"]),
    "dilations 0": (("QDQ", "QOperator"), _set_attr("dilations", [0, 1]), ["dilations"]),
    "dilations -1": (("QDQ",), _set_attr("dilations", [-1, -1]), ["dilations"]),
    "auto_pad FOO": (("QDQ", "QOperator"), _set_attr("auto_pad", "FOO"), ["auto_pad 'FOO'"]),
    "kernel_shape 5x5 on 3x3 W": (("QDQ", "QOperator"), _set_attr("kernel_shape", [5, 5]),
                                  ["kernel_shape [5, 5]", "3x3"]),
    "output scale 0": (("QDQ", "QOperator"), _set_init("y_scale", _value(0.0)), ["scale 0.0"]),
    "input scale 0": (("QDQ", "QOperator"), _set_init("x0_scale", _value(0.0)), ["scale 0.0"]),
    "input scale negative": (("QDQ", "QOperator"), _set_init("x0_scale", _value(-0.02)),
                             ["scale -0.02"]),
    "missing input scale": (("QDQ", "QOperator"), _drop_init("x0_scale"),
                            ["(QuantizeLinear)", "'x0_scale'", "not a constant initializer"]),
    "bias scale x2 on one channel": (("QDQ",), _set_init("b2_quantized_scale", _times(2, 2.0)),
                                     ["bias scale", "channel 2"]),
    "bias scale nan": (("QDQ",), _set_init("b2_quantized_scale", _value(np.nan)), ["nan"]),
    "bias scale 1.5e35": (("QDQ",), _set_init("b2_quantized_scale", _value(1.5e35)),
                          ["bias scale"]),
    "float16 scale": (("QDQ", "QOperator"),
                      _set_init("y_scale", lambda a: a.astype(np.float16)), ["float16"]),
    "weight scale negative": (("QDQ", "QOperator"), _set_init("w1_scale", _times(0, -1.0)),
                              ["tensor", "channel 0"]),
    "zero point 2^40": (("QDQ",), _set_init("y_zero_point", lambda a: np.int64(1 << 40)),
                        ["zero point"]),
    "opset 1": (("QDQ",), _opset(1), ["opset 1"]),
    "opset 99": (("QOperator",), _opset(99), ["opset 99"]),
    "IR version 99": (("QDQ",), lambda m: setattr(m, "ir_version", 99), ["IR version 99"]),
}
ONNX_PARAMS = [(case, fmt) for case, (forms, _, _) in ONNX_CASES.items() for fmt in forms]


@pytest.mark.parametrize("case,fmt", ONNX_PARAMS)
def test_onnx_field_refused(tmp_path, capsys, onnx_conv, case, fmt):
    _, edit, expect = ONNX_CASES[case]
    path = _onnx(tmp_path, onnx_conv[fmt], edit)
    _refused(capsys, ["compile", path, "--board", "host", "-o", str(tmp_path / "out")],
             path, *expect)


@pytest.mark.parametrize("fmt", ["QDQ", "QOperator"])
def test_onnx_conv_is_valid_and_exact(tmp_path, onnx_conv, fmt):
    assert main(["simulate", _onnx(tmp_path, onnx_conv[fmt]), "--board", "host",
                 "--count", "2"]) == 0


# ------------------------------------------------------------------ names: no injection

def _hostile_tflite(m):
    for t, name in zip(_tensors(m), HOSTILE_NAMES * 2):
        t.name = name.encode("utf-8", errors="surrogatepass")
    m.subgraphs[0].name = INJECTED
    m.description = INJECTED


def _symbols(exe) -> str:
    return subprocess.run(["nm", str(exe)], capture_output=True, text=True, check=True).stdout


def _assert_no_injection(project):
    """Every generated text file: the injected names only inside comments, so no symbol of
    the built program comes from them."""
    for path in project.rglob("*"):
        if path.is_file() and path.suffix in (".c", ".h", ".ld") or path.name == "Makefile":
            text = path.read_text(encoding="ascii")      # generated text is pure ASCII
            code = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
            code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
            assert "mcuc_injected" not in code, path
            assert "\x00" not in text and "\x1b" not in text


def test_tflite_names_do_not_inject(tmp_path, capsys):
    """Hostile tensor names through compile, build (-Wall -Wextra -Werror), run and compare."""
    path = _tflite(tmp_path, _hostile_tflite, "hostile")
    out = tmp_path / "out"
    assert main(["simulate", path, "--board", "host", "--count", "2", "-o", str(out)]) == 0
    _assert_no_injection(out)
    assert "mcuc_injected" not in _symbols(out / "build" / "default" / "model_runner")
    assert not list(tmp_path.rglob("mcuc_injected_make"))
    for command in (["info", path], ["plan", path]):
        assert main(command) == 0
    captured = capsys.readouterr()
    assert not CONTROL.search(captured.out + captured.err)


def test_hostile_names_in_errors_are_escaped(tmp_path, capsys):
    def edit(m):
        _hostile_tflite(m)
        _ops(m)[0].builtinOptions.strideH = 0
    line = _refused(capsys, ["compile", _tflite(tmp_path, edit), "-o", str(tmp_path / "o")],
                    "op 0 (CONV_2D)", "strides")
    assert len(line) < 1000


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no Arm cross compiler")
def test_tflite_names_do_not_inject_cross(tmp_path):
    path = _tflite(tmp_path, _hostile_tflite, "hostile")
    out = tmp_path / "out"
    assert main(["compile", path, "--board", "mps2-an386", "-o", str(out)]) == 0
    subprocess.run(["make", "-s", "-C", str(out)], check=True, capture_output=True)
    _assert_no_injection(out)
    assert "mcuc_injected" not in _symbols(out / "build" / "firmware.elf")


def test_onnx_names_do_not_inject(tmp_path, onnx_conv):
    """Graph input/output, node names and doc strings of an ONNX model."""
    def edit(m):
        renames = {"x0": INJECTED, "y": HOSTILE_NAMES[1], "y_QuantizeLinear_Output": HOSTILE_NAMES[2]}
        for vi in list(m.graph.input) + list(m.graph.output):
            vi.name = renames.get(vi.name, vi.name)
        for k, n in enumerate(m.graph.node):
            n.name = HOSTILE_NAMES[k % len(HOSTILE_NAMES)]
            n.doc_string = INJECTED
            for i, name in enumerate(n.input):
                n.input[i] = renames.get(name, name)
            for i, name in enumerate(n.output):
                n.output[i] = renames.get(name, name)
        m.doc_string = m.graph.doc_string = INJECTED
    for fmt in ("QDQ", "QOperator"):
        out = tmp_path / fmt
        path = _onnx(tmp_path, onnx_conv[fmt], edit, fmt)
        assert main(["simulate", path, "--board", "host", "--count", "2", "-o", str(out)]) == 0
        _assert_no_injection(out)
        assert "mcuc_injected" not in _symbols(out / "build" / "default" / "model_runner")


def test_hostile_onnx_names_in_errors_are_escaped(tmp_path, capsys, onnx_conv):
    def edit(m):
        for n in m.graph.node:
            n.name = HOSTILE_NAMES[5] + HOSTILE_NAMES[-1]
        _set_attr("auto_pad", HOSTILE_NAMES[5])(m)
    line = _refused(capsys, ["compile", _onnx(tmp_path, onnx_conv["QDQ"], edit), "-o",
                             str(tmp_path / "o")], "(Conv)", "auto_pad")
    assert len(line) < 1000


# ------------------------------------------------------------------ the escaping functions

@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_escapes(name):
    comment = c_comment(name)
    assert "*/" not in comment and "/*" not in comment and "??" not in comment
    assert all(" " <= c <= "~" and c != "\\" for c in comment) and len(comment) <= 80
    literal = c_string(name)
    assert literal.startswith('"') and literal.endswith('"')
    assert re.fullmatch(r'"(\\[0-7]{3}|\\[\\"?]|[^"\\?])*"', literal)
    assert all(" " <= c <= "~" for c in make_comment(name)) and "\\" not in make_comment(name)
    assert not CONTROL.search(terminal(name)) and "\u202e" not in terminal(name)
    assert "\n" not in shown(name) and len(shown(name)) <= 82
    assert terminal("a\nb", newlines=True) == "a\nb" and terminal("a\nb") == "a\\x0ab"


def test_board_strings_are_escaped():
    """What a board sends back over the serial link (its name, ERROR texts) reaches the
    terminal only escaped."""
    from mcucompile.link.protocol import Info, decode_error, encode_error
    info = Info(1, 0, 4, 4, 1, 256, 100, 1000, 64, 0, "evil\x1b[2J\r\x07board")
    decoded = Info.decode(info.encode())
    assert not CONTROL.search(decoded.board) and "evil" in decoded.board
    _, text = decode_error(encode_error(3, "bad\x1b]0;x\x07 frame\n"))
    assert not CONTROL.search(text) and "bad" in text
