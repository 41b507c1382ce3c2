"""Speed benchmark: what the search trades, per model and board: instructions, arena and flash
of the default build (fastest kernels within the SRAM and flash budgets), of the portable
build, and of a build whose flash budget is the portable build's + 32 KB (issue 12: at
TFLM's own footprint, how fast).

For each model (the shared models in tests/data/models, and a MobileNetV1 0.25 at 96x96x3 as
MLPerf Tiny's visual wake words network, generated with random weights) and each board
(default: mps2-an386 Cortex-M4, mps2-an500 Cortex-M7, mps3-an547 Cortex-M55, mps2-an385
Cortex-M3, microbit Cortex-M0), compile, run one random input in QEMU (exact instruction
counts), check it against TFLM, and print MACs, instructions, instructions per MAC, arena,
flash (text + data of the ELF) and mcucompile's compile time (frontend to C sources, without
gcc). The Cortex-M3 and M0 have the plain-C fast kernels (passes/kernels_fast.py). A model
that does not fit a board is listed with the planner's reason. Takes several minutes.

    python benchmarks/speed.py [--models a,b] [--boards x,y] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mcucompile.api import compile_model, simulate  # noqa: E402
from mcucompile.errors import McucError  # noqa: E402

MODELS = ["person_detect", "kws_ref_model", "pretrainedResnet_quant",
          "micro_speech_quantized", "hello_world_int8", "vww_mobilenet_v1_025"]
BOARDS = ["mps2-an386", "mps2-an500", "mps3-an547", "mps2-an385", "microbit"]
MODEL_DIR = Path(os.environ.get("MCUC_SHARED_MODELS", REPO / "tests" / "data" / "models"))
TARGETS = {"mps2-an386": 1.2, "mps2-an500": 1.2, "mps3-an547": 0.5,   # instructions per MAC
           "mps2-an385": 4.0, "microbit": 8.0}
TARGET_MODELS = {"person_detect", "kws_ref_model", "pretrainedResnet_quant",
                 "vww_mobilenet_v1_025"}
# the models a board's target is about, where not TARGET_MODELS (issue 17: the micro:bit's)
BOARD_TARGET_MODELS = {"mps2-an385": {"person_detect", "kws_ref_model",
                                      "pretrainedResnet_quant"},
                       "microbit": {"kws_ref_model", "micro_speech_quantized"}}
FLASH_SLACK = 32 * 1024   # the flash-budgeted build: portable build's flash + this


def _model_path(model: str, tmp: Path) -> Path:
    if model == "vww_mobilenet_v1_025":
        import modelgen
        path = tmp / f"{model}.tflite"
        path.write_bytes(modelgen.mobilenet_v1(0.25, 96, 3, 2))
        return path
    return MODEL_DIR / f"{model}.tflite"


def _run(path, board, out, **options) -> dict:
    rep = simulate(path, board, count=1, seed=1, out_dir=out, **options)
    return dict(instructions=rep.instructions[0], bit_exact=rep.bit_exact,
                arena_bytes=rep.arena_bytes, flash_bytes=rep.flash_bytes), rep.macs


def measure(model: str, board: str) -> dict:
    row = dict(model=model, board=board)
    with tempfile.TemporaryDirectory(prefix="mcuc-bench-") as tmp:
        path = _model_path(model, Path(tmp))
        t0 = time.perf_counter()
        try:
            compile_model(path, board, Path(tmp) / "compile")
        except McucError as e:
            row["error"] = e.message
            return row
        row["compile_s"] = round(time.perf_counter() - t0, 3)
        row["portable"], row["macs"] = _run(path, board, Path(tmp) / "p", kernels="portable")
        row["auto"], _ = _run(path, board, Path(tmp) / "a")
        budget = row["portable"]["flash_bytes"] + FLASH_SLACK
        row["flash_budget"] = budget
        row["budgeted"], _ = _run(path, board, Path(tmp) / "b", flash=budget)
    return row


def _per_mac(n: int, macs: int) -> str:
    return f"{n / macs:.2f}" if macs else "-"


def print_table(rows: list[dict]) -> None:
    head = (f"{'model':<24} {'board':<11} {'MACs':>11} | {'portable':>11} {'/MAC':>6} "
            f"{'flash':>9} | {'default':>11} {'/MAC':>6} {'arena':>9} {'flash':>9} "
            f"{'target':>6} | {'flash+32K':>11} {'/MAC':>6} {'flash':>9} | {'exact':>5} "
            f"{'compile':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        if "error" in r:
            print(f"{r['model']:<24} {r['board']:<11} does not fit: {r['error']}")
            continue
        port, opt, bud, macs = r["portable"], r["auto"], r["budgeted"], r["macs"]
        models = BOARD_TARGET_MODELS.get(r["board"], TARGET_MODELS)
        target = TARGETS.get(r["board"]) if r["model"] in models else None
        met = "-" if target is None or not macs else (
            "yes" if opt["instructions"] / macs <= target else "no")
        exact = "yes" if all(x["bit_exact"] for x in (port, opt, bud)) else "NO"
        print(f"{r['model']:<24} {r['board']:<11} {macs:>11,} | "
              f"{port['instructions']:>11,} {_per_mac(port['instructions'], macs):>6} "
              f"{port['flash_bytes']:>9,} | {opt['instructions']:>11,} "
              f"{_per_mac(opt['instructions'], macs):>6} {opt['arena_bytes']:>9,} "
              f"{opt['flash_bytes']:>9,} {met:>6} | {bud['instructions']:>11,} "
              f"{_per_mac(bud['instructions'], macs):>6} {bud['flash_bytes']:>9,} | "
              f"{exact:>5} {r['compile_s']:>6.2f}s")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--boards", default=",".join(BOARDS))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", help="also write the rows to this JSON file")
    args = ap.parse_args(argv)
    jobs = [(m, b) for m in args.models.split(",") for b in args.boards.split(",")]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        rows = list(pool.map(measure, *zip(*jobs)))
    print_table(rows)
    print(f"\n{len(rows)} model/board pairs in {time.perf_counter() - t0:.0f}s; instructions "
          "counted exactly by QEMU (-icount); flash = text + data of the ELF; 'target' = "
          "instructions per MAC of the default build "
          f"({', '.join(f'{b} <= {t}' for b, t in TARGETS.items())}) on "
          f"{', '.join(sorted(TARGET_MODELS))} (mps2-an385: the first three; microbit: "
          "kws_ref_model, micro_speech_quantized); flash+32K = --flash (portable flash + 32 KB)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(r[k]["bit_exact"] for r in rows if "error" not in r
                    for k in ("auto", "portable", "budgeted")) else 1


if __name__ == "__main__":
    sys.exit(main())
