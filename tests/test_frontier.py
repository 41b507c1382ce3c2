"""`mcucompile plan --frontier` (planner/frontier.py): the SRAM-versus-speed frontier.

Planned only (no build; several full searches per model, so marked slow): each point is a plan the search makes, so its options reproduce it;
no point beats another on both arena and estimated instructions; the fastest point is the
unbudgeted layer-by-layer plan and the smallest is no larger than the smallest arena the
patch search finds on its own.
"""
from __future__ import annotations

import json

import pytest

import modelgen
from conftest import shared_model
from mcucompile.api import plan_frontier, plan_model
from mcucompile.cli import main
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes
from mcucompile.planner import plan_memory

BOARD = "mps2-an386"          # DSP kernels; planned only, never built


def _models(tmp_path):
    mnv2 = tmp_path / "mnv2.tflite"
    mnv2.write_bytes(modelgen.mobilenet_v2(0.35, 96))
    return {"person_detect": shared_model("person_detect"), "mobilenet_v2_035_96": mnv2}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["person_detect", "mobilenet_v2_035_96"])
def test_frontier_points_are_plans_and_none_dominates(name, tmp_path):
    path = _models(tmp_path)[name]
    _, points = plan_frontier(path, BOARD)
    assert len(points) >= 3, points
    arenas = [p.arena_bytes for p in points]
    assert arenas == sorted(arenas, reverse=True)
    for p in points:
        assert not any(q.arena_bytes <= p.arena_bytes
                       and q.estimated_instructions <= p.estimated_instructions
                       for q in points if q is not p), (p, points)
    # the fastest: the layer-by-layer plan without a budget
    _, fastest = plan_model(path, BOARD, patch="off")
    assert (points[0].arena_bytes, points[0].estimated_instructions) == \
        (fastest.arena_bytes, sum(fastest.estimated_instructions.values()))
    # every point's options give its plan
    for p in points[1:]:
        patch = "auto" if p.patch == "streamed" else p.patch
        _, plan = plan_model(path, BOARD, patch=patch, sram=p.sram, max_overhead=100.0)
        assert plan.arena_bytes == p.arena_bytes
        assert sum(plan.estimated_instructions.values()) == p.estimated_instructions
        assert plan.arena_bytes <= p.sram
    # smaller than (or as small as) the smallest arena the patch search finds by itself
    smallest = plan_memory(run_passes(load_model(path)), "auto", max_overhead=100.0)
    assert points[-1].arena_bytes <= smallest.arena_bytes


@pytest.mark.slow
def test_frontier_cli_table_json_and_plot(tmp_path, capsys):
    path = shared_model("person_detect")
    png = tmp_path / "frontier.png"
    assert main(["plan", str(path), "--board", BOARD, "--frontier", "--json",
                 "--plot", str(png)]) == 0
    out = json.loads(capsys.readouterr().out)
    points = out["points"]
    assert png.stat().st_size > 10_000
    assert points[0]["options"] == "--patch off" and points[0]["fits_board"] is True
    assert all(p["options"].startswith("--patch ") for p in points)
    assert main(["plan", str(path), "--board", BOARD, "--frontier"]) == 0
    table = capsys.readouterr().out
    assert f"{points[-1]['arena_bytes']:,}" in table and "est. instr" in table


def test_frontier_refuses_a_fixed_budget(capsys):
    path = shared_model("person_detect")
    assert main(["plan", str(path), "--frontier", "--sram", "20000", "--json"]) == 1
    err = json.loads(capsys.readouterr().out)
    assert "--frontier" in err["error"] and "--sram" in err["error"]
