"""Fit table: which shared model fits which real board, and how much flash and SRAM it uses.

For every model in tests/data/models/*.tflite and every real board (kind "hardware" in boards/):
compile for the board (default kernels, no patches; the board's transport, i.e. the serial
harness and UART driver), build the firmware with arm-none-eabi-gcc, and read the ELF:
  flash   bytes of flash used (code, weights, initial data; elfinfo.sizes)
  SRAM    static RAM (.data + .bss, which holds the arena) plus the board's stack reserve and
          minimum heap, i.e. what the firmware needs of the board's SRAM
  fits    "yes" (with the SRAM left free), or "no: RAM +N" / "no: FLASH +N", N the bytes the
          linker reports the region overflowed by (the board's real sizes are in its linker
          script). When the planner already refuses the arena for the board's budget, the
          model is compiled again without that budget so the linker gives the exact figure.
Nothing runs on a board; this needs only the cross compiler. About 20 s on 2 cores.

Run: python benchmarks/boards.py [--models NAME,...] [--boards NAME,...] [--json FILE]
"""
from __future__ import annotations

import argparse
import json
import re
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from mcucompile.api import compile_model  # noqa: E402
from mcucompile.boards import Board, list_boards  # noqa: E402
from mcucompile.build import build_project  # noqa: E402
from mcucompile.elfinfo import sizes  # noqa: E402
from mcucompile.errors import McucError  # noqa: E402

SHARED = Path(os.environ.get("MCUC_SHARED_MODELS", REPO / "tests" / "data" / "models"))
_OVERFLOW = re.compile(r"(RAM|FLASH) overflowed by (\d+) bytes")
_CONSTANTS = re.compile(r"constants need .* over by ([\d,]+) before any code")  # api.compile_model
_UNBOUNDED = 1 << 40  # an arena budget no model reaches: leave the verdict to the linker


def fit(model: Path, board: Board, work: Path) -> dict:
    """Compile and build `model` for `board`; the row of the table as a dict."""
    row = dict(model=model.stem, board=board.name, fits=False, flash_bytes=None,
               sram_bytes=None, free_sram_bytes=None, overflow={})
    out = work / f"{model.stem}-{board.name}"
    try:
        try:
            compile_model(model, board, out)
        except McucError as exc:
            if "does not fit" not in str(exc):
                raise
            compile_model(model, board, out, sram=_UNBOUNDED)  # let the linker measure it
        elf = build_project(out, board)
    except McucError as exc:
        overflow = {region: int(n) for region, n in _OVERFLOW.findall(str(exc))}
        constants = _CONSTANTS.search(str(exc))
        if constants:  # weights alone exceed the flash (code not counted: at least this much)
            overflow = {"FLASH": int(constants.group(1).replace(",", ""))}
        if not overflow:
            row["error"] = str(exc).splitlines()[0]
        row["overflow"] = overflow
        return row
    s = sizes(elf)
    row.update(fits=True, flash_bytes=s["flash_bytes"],
               sram_bytes=s["ram_bytes"] + board.stack_bytes + board.heap_bytes,
               free_sram_bytes=s["heap_bytes"] - board.heap_bytes)
    return row


def verdict(row: dict) -> str:
    if row["fits"]:
        return "yes"
    if row["overflow"]:
        return "no: " + ", ".join(f"{r} +{n:,}" for r, n in sorted(row["overflow"].items()))
    return "error: " + row.get("error", "?")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", help="comma-separated model names (default: all shared models)")
    ap.add_argument("--boards", help="comma-separated board names (default: all real boards)")
    ap.add_argument("--json", metavar="FILE", help="also write the rows as JSON")
    args = ap.parse_args()
    models = sorted(SHARED.glob("*.tflite"))
    if args.models:
        models = [m for m in models if m.stem in args.models.split(",")]
    boards = [b for b in list_boards() if b.kind == "hardware"]
    if args.boards:
        boards = [b for b in boards if b.name in args.boards.split(",")]
    if not models or not boards:
        print(f"nothing to do: models in {SHARED}: {len(models)}, real boards: {len(boards)}",
              file=sys.stderr)
        return 1
    rows, start = [], time.time()
    with tempfile.TemporaryDirectory(prefix="mcuc_fit_") as tmp:
        for model in models:
            for board in boards:
                rows.append(fit(model, board, Path(tmp)))
                print(f"[{time.time() - start:5.0f}s] {model.stem} on {board.name}: "
                      f"{verdict(rows[-1])}", file=sys.stderr, flush=True)
    print("| model | board | flash (board) | SRAM (board) | fits | SRAM free |")
    print("|---|---|---|---|---|---|")
    by_name = {b.name: b for b in boards}
    for r in rows:
        b = by_name[r["board"]]
        flash = "-" if r["flash_bytes"] is None else f"{r['flash_bytes']:,}"
        sram = "-" if r["sram_bytes"] is None else f"{r['sram_bytes']:,}"
        free = "-" if r["free_sram_bytes"] is None else f"{r['free_sram_bytes']:,}"
        print(f"| {r['model']} | {r['board']} | {flash} ({b.flash_size // 1024} KB) | "
              f"{sram} ({b.sram_size // 1024} KB) | {verdict(r)} | {free} |")
    print(f"\nSRAM = .data + .bss (arena; the inputs and outputs live in it) + stack reserve "
          f"+ minimum heap; "
          f"{time.time() - start:.0f} s", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
