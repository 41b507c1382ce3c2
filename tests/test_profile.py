"""`mcucompile profile`: per-op instruction counts from QEMU that add up to the whole
inference, sorted by cost, deterministic, on every QEMU board; refused on the host."""
from __future__ import annotations

import json

import pytest

from conftest import shared_model
from mcucompile.api import simulate
from mcucompile.boards import list_boards
from mcucompile.cli import main
from mcucompile.errors import McucError
from mcucompile.profile import profile

QEMU_BOARDS = [b.name for b in list_boards() if b.kind == "qemu"]


def test_profile_adds_up_to_the_inference(tmp_path):
    model = shared_model("kws_ref_model")
    rep = profile(model, "mps2-an386", out_dir=tmp_path / "prof")
    rows = rep.rows
    assert [r["instructions"] for r in rows] == sorted((r["instructions"] for r in rows),
                                                       reverse=True)
    ops_total = sum(r["instructions"] for r in rows)
    # the whole inference adds only the input/output copies to the ops
    assert 0 <= rep.instructions - ops_total < 0.01 * rep.instructions
    assert abs(sum(r["share"] for r in rows) - 1) < 0.01
    assert sum(r["macs"] for r in rows) == rep.macs > 0
    conv = next(r for r in rows if r["type"] == "CONV_2D")
    assert conv["instructions_per_mac"] == round(conv["instructions"] / conv["macs"], 3)
    # same count as a normal (unprofiled) run, within the hooks' calibration error
    plain = simulate(model, "mps2-an386", count=1, out_dir=tmp_path / "sim")
    assert abs(plain.instructions[0] - rep.instructions) < 0.001 * plain.instructions[0]
    again = profile(model, "mps2-an386", out_dir=tmp_path / "prof2")
    assert [r["instructions"] for r in again.rows] == [r["instructions"] for r in rows]


@pytest.mark.parametrize("board", QEMU_BOARDS)
def test_profile_on_every_qemu_board(board, tmp_path):
    rep = profile(shared_model("micro_speech_quantized"), board, out_dir=tmp_path / "prof")
    assert {r["type"] for r in rep.rows} == {"DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "SOFTMAX"}
    assert all(r["instructions"] > 0 for r in rep.rows)
    ops_total = sum(r["instructions"] for r in rep.rows)
    assert 0 <= rep.instructions - ops_total < 0.01 * rep.instructions


def test_profile_needs_qemu():
    with pytest.raises(McucError, match="QEMU board"):
        profile(shared_model("hello_world_int8"), "host")


def test_profile_cli_json(tmp_path, capsys):
    assert main(["profile", str(shared_model("hello_world_int8")), "--board", "mps2-an385",
                 "--kernels", "portable", "--json", "-o", str(tmp_path / "p")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["board"] == "mps2-an385" and out["kernels"] == "portable"
    assert len(out["ops"]) == 3 and out["ops_instructions"] <= out["instructions"]
