"""Bad input gives a clear McucError (and exit 1 from the CLI), never a traceback or hang."""
from __future__ import annotations

import numpy as np
import pytest

from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.frontend import load_model
from mcucompile.frontend.tflite import parse_tflite

from conftest import shared_model, write_model


def _model_bytes() -> bytes:
    return shared_model("kws_ref_model").read_bytes()


def test_missing_file(tmp_path):
    with pytest.raises(McucError, match="not found"):
        load_model(tmp_path / "nope.tflite")


def test_wrong_magic():
    buf = bytearray(_model_bytes())
    buf[4:8] = b"XXXX"
    with pytest.raises(McucError, match="not a TFLite flatbuffer"):
        parse_tflite(bytes(buf), "bad.tflite")


@pytest.mark.parametrize("keep", [0, 7, 12, 100, 1000, 30000])
def test_truncated(keep):
    with pytest.raises(McucError) as e:
        parse_tflite(_model_bytes()[:keep], "cut.tflite")
    assert "cut.tflite" in str(e.value)


def test_corrupt_bytes_never_crash():
    """Random byte flips: either a clean parse or a McucError, nothing else."""
    base = _model_bytes()
    rng = np.random.default_rng(1)
    for _ in range(60):
        buf = bytearray(base)
        for pos in rng.integers(8, len(buf), size=8):
            buf[pos] = int(rng.integers(0, 256))
        try:
            parse_tflite(bytes(buf), "flipped.tflite")
        except McucError:
            pass


def test_absurd_shape_is_rejected_before_allocation():
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema
    import flatbuffers
    m = schema.ModelT.InitFromPackedBuf(bytearray(_model_bytes()), 0)
    m.subgraphs[0].tensors[0].shape = [1, 1 << 20, 1 << 20, 64]
    b = flatbuffers.Builder(0)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    with pytest.raises(McucError, match="absurd shape"):
        parse_tflite(bytes(b.Output()), "huge.tflite")


def test_cli_error_exit_code(tmp_path, capsys):
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"\x00" * 64)
    assert main(["info", str(bad)]) == 1
    err = capsys.readouterr().err
    assert "bad.tflite" in err and "Traceback" not in err


@pytest.mark.slow
def test_float_model_rejected(tmp_path):
    import modelgen
    path = write_model(tmp_path, modelgen.float_model(), "float")
    with pytest.raises(McucError, match="float"):
        load_model(path)


def test_unsupported_op_named(tmp_path):
    import modelgen
    path = write_model(tmp_path, modelgen.unsupported_op(), "unsupported")
    with pytest.raises(McucError) as e:
        load_model(path)
    assert str(e.value).startswith(f"{path}: op 0: LOG_SOFTMAX is not supported")
