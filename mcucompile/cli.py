"""Command line: `mcucompile {info,compile,simulate,boards,demo}`. A thin layer over api.py.

Errors a user can cause print one clear message (no traceback) and exit 1; `--json` prints one
JSON object on stdout for scripting, progress goes to stderr.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .errors import McucError

EPILOG = """examples:
  mcucompile info model.tflite
  mcucompile compile model.tflite --board mps2-an386 -o build/
  mcucompile simulate model.tflite --board host --count 5
  mcucompile simulate model.tflite --board mps2-an386 --inputs vectors.npy --json
  mcucompile boards
  mcucompile demo
"""


def _progress(enabled: bool):
    start = time.time()

    def report(msg: str) -> None:
        if enabled:
            print(f"[{time.time() - start:5.1f}s] {msg}", file=sys.stderr, flush=True)
    return report


def _fmt_int(v) -> str:
    return "-" if v is None else f"{v:,}"


def cmd_info(args) -> int:
    from .api import model_info
    info = model_info(args.model)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{Path(args.model).name}: {info['op_count']} ops, {_fmt_int(info['macs'])} MACs, "
          f"{_fmt_int(info['weight_bytes'])} weight bytes, arena {_fmt_int(info['arena_bytes'])} "
          f"bytes (lower bound {_fmt_int(info['lower_bound_bytes'])})")
    print(f"{'#':>3}  {'op':<18} {'input shapes':<28} {'output':<18} {'MACs':>12} {'weights':>9}")
    for r in info["ops"]:
        ins = " ".join(str(s) for s in r["inputs"]).replace(" ", "")
        outs = " ".join(str(s) for s in r["outputs"]).replace(" ", "")
        kind = r["type"] + (" (alias)" if r["alias"] else "")
        print(f"{r['index']:>3}  {kind:<18} {ins:<28} {outs:<18} {r['macs']:>12,} "
              f"{r['weight_bytes']:>9,}")
    print(f"     {'total':<18} {'':<28} {'':<18} {info['macs']:>12,} {info['weight_bytes']:>9,}")
    return 0


def cmd_compile(args) -> int:
    from .api import compile_model
    c = compile_model(args.model, args.board, args.output, _progress(not args.json))
    result = dict(model=args.model, board=c.board.name, output=str(c.project.out_dir),
                  files=sorted(str(p.relative_to(c.project.out_dir))
                               for p in c.project.out_dir.rglob("*") if p.is_file()),
                  arena_bytes=c.plan.arena_bytes, lower_bound_bytes=c.plan.lower_bound_bytes,
                  const_bytes=c.project.const_bytes, input_bytes=c.project.input_bytes,
                  output_bytes=c.project.output_bytes)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"wrote {len(result['files'])} files to {result['output']} for {c.board.name}: "
              f"arena {c.plan.arena_bytes:,} bytes, constants {c.project.const_bytes:,} bytes")
        print(f"build with: make -C {result['output']}")
    return 0


def cmd_simulate(args) -> int:
    from .api import simulate
    rep = simulate(args.model, args.board, args.inputs, args.count, args.seed, args.sanitize,
                   args.timeout, args.output, _progress(not args.json))
    if args.json:
        print(json.dumps(rep.to_json(), indent=2))
    else:
        j = rep.to_json()
        print(f"model      {Path(rep.model).name} on {rep.board}, {rep.vectors} vector(s)")
        verdict = "BIT-EXACT with TFLM" if rep.bit_exact else (
            f"MISMATCH: {rep.mismatches} output values differ, max |diff| {rep.max_abs_diff}, "
            f"first {rep.first_mismatch}")
        print(f"result     {verdict}")
        print(f"arena      {rep.arena_bytes:,} bytes (lower bound {rep.lower_bound_bytes:,})")
        if rep.instructions:
            print(f"instr.     {rep.instructions[0]:,} per inference "
                  f"({j['instructions_per_mac']} per MAC, {rep.macs:,} MACs)")
        if rep.flash_bytes is not None:
            print(f"flash      {rep.flash_bytes:,} bytes")
            print(f"sram       {rep.peak_sram_bytes:,} bytes peak (static {rep.ram_bytes:,} "
                  f"+ stack {_fmt_int(rep.stack_bytes)})")
    return 0 if rep.bit_exact else 2


def cmd_boards(args) -> int:
    from .boards import list_boards
    boards = list_boards()
    if args.json:
        print(json.dumps([dict(name=b.name, kind=b.kind, cpu=b.cpu, description=b.description,
                               flash_bytes=b.flash_size, sram_bytes=b.sram_size,
                               clock_hz=b.clock_hz, dsp=b.features.dsp, fpu=b.features.fpu,
                               mve=b.features.mve, qemu_machine=b.qemu_machine, default=b.default)
                          for b in boards], indent=2))
        return 0
    print(f"{'board':<16} {'kind':<9} {'cpu':<11} {'flash':>9} {'sram':>9}  features")
    for b in boards:
        feats = ",".join(k for k in ("dsp", "fpu", "mve") if getattr(b.features, k)) or "-"
        flash = f"{b.flash_size // 1024} KB" if b.flash_size else "-"
        sram = f"{b.sram_size // 1024} KB" if b.sram_size else "-"
        star = " (default)" if b.default else ""
        print(f"{b.name:<16} {b.kind:<9} {b.cpu:<11} {flash:>9} {sram:>9}  {feats}{star}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(board=args.board, json_out=args.json)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mcucompile",
        description="Compile INT8 TFLite models into static C for Cortex-M microcontrollers, "
                    "and check them bit-exact against TensorFlow Lite Micro on the host or in "
                    "QEMU.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("info", help="per-op table: shapes, MACs, weight bytes, arena")
    s.add_argument("model", help="INT8 .tflite model")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("compile", help="write a self-contained C project for a board")
    s.add_argument("model", help="INT8 .tflite model")
    s.add_argument("--board", default="mps2-an386", help="target board (see `mcucompile boards`)")
    s.add_argument("-o", "--output", required=True, help="output directory")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_compile)

    s = sub.add_parser("simulate", help="compile, build, run input vectors on the host or in "
                                        "QEMU and compare every output with TFLM (exit 0 only "
                                        "if all are bit-exact)")
    s.add_argument("model", help="INT8 .tflite model")
    s.add_argument("--board", default="host", help="host, or a QEMU board (default: host)")
    s.add_argument("--inputs", help=".npy (one input) or .npz (one array per input) of int8 "
                                    "vectors; float arrays are quantized with the input's scale")
    s.add_argument("--count", type=int, default=3, help="random vectors when --inputs is not "
                                                          "given (default 3)")
    s.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    s.add_argument("--sanitize", action="store_true",
                   help="host only: build with -fsanitize=address,undefined")
    s.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before a hung firmware is killed (default 120)")
    s.add_argument("-o", "--output", help="keep the generated project in this directory")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_simulate)

    s = sub.add_parser("boards", help="list the boards with CPU, memory and features")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(fn=cmd_boards)

    s = sub.add_parser("demo", help="train a small digits CNN, compile it for an emulated "
                                    "Cortex-M4 and compare on-device accuracy with TFLM")
    s.add_argument("--board", default="mps2-an386", help="board to run on (default mps2-an386)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_demo)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "count", 1) is not None and getattr(args, "count", 1) < 1:
        print("error: --count must be at least 1", file=sys.stderr)
        return 1
    try:
        return args.fn(args)
    except McucError as e:
        if getattr(args, "json", False):
            print(json.dumps(dict(error=str(e))))
        print(f"error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
