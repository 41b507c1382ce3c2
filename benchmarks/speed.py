"""Speed benchmark: instructions per inference of the shared models, portable vs optimised.

For each model in ../shared/models and each board (default: mps2-an386 Cortex-M4,
mps3-an547 Cortex-M55, mps2-an385 Cortex-M3), compile with the optimised kernels ("auto")
and with the portable C kernels, run one random input in QEMU (exact instruction counts),
check both against TFLM, and print MACs, instructions, instructions per MAC, the speed-up
and mcucompile's compile time (frontend to C sources, without gcc). The Cortex-M3 has no fast
kernels, so it runs once. Takes a few minutes.

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

from mcucompile.api import compile_model, simulate  # noqa: E402
from mcucompile.boards import get_board  # noqa: E402

MODELS = ["person_detect", "kws_ref_model", "pretrainedResnet_quant",
          "micro_speech_quantized", "hello_world_int8"]
BOARDS = ["mps2-an386", "mps3-an547", "mps2-an385"]
MODEL_DIR = Path(os.environ.get("MCUC_SHARED_MODELS", REPO.parent / "shared" / "models"))
TARGETS = {"mps2-an386": 1.2, "mps3-an547": 0.5}  # instructions per MAC (issue 5) ...
TARGET_MODELS = {"person_detect", "kws_ref_model", "pretrainedResnet_quant"}  # ... on these


def _has_fast_kernels(board: str) -> bool:
    f = get_board(board).features
    return f.dsp or f.mve


def measure(model: str, board: str) -> dict:
    path = MODEL_DIR / f"{model}.tflite"
    row = dict(model=model, board=board)
    with tempfile.TemporaryDirectory(prefix="mcuc-bench-") as tmp:
        t0 = time.perf_counter()
        compile_model(path, board, Path(tmp) / "compile")
        row["compile_s"] = round(time.perf_counter() - t0, 3)
        kernel_sets = ["auto", "portable"] if _has_fast_kernels(board) else ["portable"]
        for kernels in kernel_sets:
            rep = simulate(path, board, count=1, seed=1, out_dir=Path(tmp) / kernels,
                           kernels=kernels)
            row["macs"] = rep.macs
            row[kernels] = dict(instructions=rep.instructions[0], bit_exact=rep.bit_exact,
                                arena_bytes=rep.arena_bytes, flash_bytes=rep.flash_bytes)
    if "auto" not in row:
        row["auto"] = row["portable"]
    return row


def _per_mac(n: int, macs: int) -> str:
    return f"{n / macs:.3f}" if macs else "-"


def print_table(rows: list[dict]) -> None:
    head = (f"{'model':<24} {'board':<11} {'MACs':>11} {'portable':>12} {'per MAC':>8} "
            f"{'optimised':>12} {'per MAC':>8} {'speed-up':>8} {'target':>6} {'exact':>5} "
            f"{'compile':>8}")
    print(head)
    print("-" * len(head))
    for r in rows:
        port, opt = r["portable"]["instructions"], r["auto"]["instructions"]
        target = TARGETS.get(r["board"]) if r["model"] in TARGET_MODELS else None
        met = "-" if target is None or not r["macs"] else (
            "yes" if opt / r["macs"] <= target else "no")
        exact = "yes" if r["auto"]["bit_exact"] and r["portable"]["bit_exact"] else "NO"
        print(f"{r['model']:<24} {r['board']:<11} {r['macs']:>11,} {port:>12,} "
              f"{_per_mac(port, r['macs']):>8} {opt:>12,} {_per_mac(opt, r['macs']):>8} "
              f"{port / opt:>7.1f}x {met:>6} {exact:>5} {r['compile_s']:>7.2f}s")


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
          "counted exactly by QEMU (-icount); 'target' = issue 5's instructions per MAC "
          f"({', '.join(f'{b} <= {t}' for b, t in TARGETS.items())}) on "
          f"{', '.join(sorted(TARGET_MODELS))}")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0 if all(r["auto"]["bit_exact"] and r["portable"]["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
