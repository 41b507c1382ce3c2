"""An op without a kernel here is named as such, first: one line with the file, the op index and
the op (a CUSTOM op by its custom code), before any check of the graph that the op's own
tensors would fail (an RNN's variable state, a Vela op's scratch: neither is produced by an
op). `info` lists every op with its status, in text and JSON."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mcucompile.cli import main
from tiny_models import T_CONV_OUT, schema, serialise, tiny_model

VELA = ("CUSTOM op 'ethos-u': a command stream for an Ethos-U NPU compiled by Vela; give the "
        "model from before Vela")


def _replace_op(m, k: int, builtin: str | None = None, custom: str | None = None):
    """Op k of the tiny model becomes `builtin` or a CUSTOM op with code `custom`, reading
    the conv output and a tensor no op produces (what a variable state or a scratch is)."""
    s = schema()
    sg = m.subgraphs[0]
    state = s.TensorT()
    state.name, state.shape, state.type = "state", [1, 16], s.TensorType.INT8
    state.quantization = None
    state.isVariable = builtin is not None
    sg.tensors.append(state)
    oc = s.OperatorCodeT()
    code = getattr(s.BuiltinOperator, builtin or "CUSTOM")
    oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)
    if custom is not None:
        oc.customCode = custom
        cmd = s.BufferT()
        cmd.data = np.frombuffer(b"COP1" * 4, np.uint8)
        m.buffers.append(cmd)
        stream = s.TensorT()
        stream.name, stream.shape, stream.type = "command_stream", [16], s.TensorType.UINT8
        stream.buffer = len(m.buffers) - 1
        sg.tensors.append(stream)
    m.operatorCodes.append(oc)
    op = sg.operators[k]
    op.opcodeIndex = len(m.operatorCodes) - 1
    op.builtinOptionsType, op.builtinOptions = 0, None
    op.inputs = ([len(sg.tensors) - 1] if custom is not None else []) + \
        [T_CONV_OUT, len(sg.tensors) - (2 if custom is not None else 1)]
    return m


def _write(tmp_path, m, name="model"):
    path = tmp_path / f"{name}.tflite"
    path.write_bytes(serialise(m))
    return path


@pytest.mark.parametrize("kind,expected", [
    (dict(builtin="UNIDIRECTIONAL_SEQUENCE_RNN"), "UNIDIRECTIONAL_SEQUENCE_RNN is not supported"),
    (dict(custom="ethos-u"), VELA),
    (dict(custom="MyOp"), "CUSTOM op 'MyOp': a custom op is not supported"),
    (dict(builtin="RELU_N1_TO_1"), "RELU_N1_TO_1 is not supported: TFLM has no kernel"),
])
def test_unsupported_op_is_named_first(kind, expected, tmp_path, capsys):
    path = _write(tmp_path, _replace_op(tiny_model(), 1, **kind))
    assert main(["compile", str(path), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}: op 1: {expected}"), err
    assert "cycle" not in err and "produced" not in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_first_unsupported_op_wins(tmp_path, capsys):
    m = _replace_op(_replace_op(tiny_model(), 4, builtin="CUMSUM"), 1, custom="ethos-u")
    assert main(["compile", str(_write(tmp_path, m)), "-o", str(tmp_path / "out")]) == 1
    assert f"op 1: {VELA}" in capsys.readouterr().err


def test_info_lists_each_op_with_its_status(tmp_path, capsys):
    path = _write(tmp_path, _replace_op(tiny_model(), 1, custom="ethos-u"))
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "6 ops, 1 not supported: the model cannot be compiled" in out
    rows = [line for line in out.splitlines() if line[:3].strip().isdigit()]
    assert len(rows) == 6
    assert rows[1].split()[1] == "CUSTOM" and rows[1].endswith(VELA)
    assert all(r.endswith("  supported") for k, r in enumerate(rows) if k != 1)

    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["supported"] is False and info["unsupported_ops"] == 1
    assert info["macs"] is None and info["arena_bytes"] is None
    assert [(r["index"], r["type"], r["supported"]) for r in info["ops"]] == [
        (0, "CONV_2D", True), (1, "CUSTOM", False), (2, "AVERAGE_POOL_2D", True),
        (3, "RESHAPE", True), (4, "FULLY_CONNECTED", True), (5, "SOFTMAX", True)]
    assert info["ops"][1]["status"] == VELA
    assert info["ops"][0]["inputs"] == [[1, 6, 6, 2]]


def test_info_of_a_supported_model(tmp_path, capsys):
    path = _write(tmp_path, tiny_model())
    assert main(["info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["supported"] is True and info["unsupported_ops"] == 0
    assert {r["status"] for r in info["ops"]} == {"supported"}
    assert info["macs"] > 0 and info["arena_bytes"] > 0
