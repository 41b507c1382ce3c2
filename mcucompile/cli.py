"""Command line: `mcucompile {info,compile,simulate,profile,boards,demo,flash,run}`. A thin
layer over api.py (and profile.py, flash.py; `run` over api.run_on_board and mcucompile/link).

Errors a user can cause print one clear message (no traceback) and exit 1; `--json` prints one
JSON object on stdout for scripting, errors included, progress goes to stderr. main() is the
last resort: exit codes and signals are listed there.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import time
import traceback
from pathlib import Path

from .errors import McucError
from .escape import terminal
from .package import FORMATS
from .procs import Terminated, on_termination

EPILOG = """examples:
  mcucompile info model.tflite
  mcucompile compile model.tflite --board mps2-an386 -o build/
  mcucompile compile kws.tflite --board nucleo-f401re --format cmake --prefix kws_ -o kws/
  mcucompile simulate model.tflite --board host --count 5
  mcucompile simulate model.tflite --board mps2-an386 --inputs vectors.npy --json
  mcucompile profile model.tflite --board mps2-an386
  mcucompile simulate model.tflite --board mps2-an386 --transport serial
  mcucompile run model.tflite --board nucleo-f401re --port /dev/ttyACM0
  mcucompile simulate model_int8.onnx --board mps2-an386
  mcucompile compile float_model.keras --calibrate samples.npy -o build/
  mcucompile boards
  mcucompile flash out/ --board nucleo-f401re --dry-run
  mcucompile demo
"""


def _progress(enabled: bool):
    start = time.time()

    def report(msg: str) -> None:
        if enabled:
            print(f"[{time.time() - start:5.1f}s] {terminal(msg)}", file=sys.stderr, flush=True)
    return report


def _overhead(args) -> float:
    """--max-overhead, 20 when not given (plan --frontier has its own default)."""
    return 20.0 if args.max_overhead is None else args.max_overhead


def _fmt_int(v) -> str:
    return "-" if v is None else f"{v:,}"


def _model(args) -> str:
    """The model to compile: with --calibrate, the float model quantized to INT8 on the
    samples (frontend/calibrate.py); its quantization error goes to stderr and, with --json,
    into the JSON object as "quantization". Without -o it is written to a temporary
    directory that main() removes when the command ends."""
    args.quantization = None
    if not getattr(args, "calibrate", None):
        return args.model
    import tempfile

    from .frontend.calibrate import calibrate
    from .outdir import claim
    output = getattr(args, "output", None)
    new = output is not None and not Path(output).exists()
    out = (claim(output) / "quantized" if output is not None
           else Path(tempfile.mkdtemp(prefix="mcuc_calibrate_")))
    made = out if output is None else output if new else None if out.exists() else out
    try:
        c = calibrate(args.model, args.calibrate, out)
    except BaseException:
        if made is not None:                # what this command made, only
            shutil.rmtree(made, ignore_errors=True)
        raise
    if output is None:              # the quantized model is only for this command
        args.temporary.append(out)
    args.quantization = c.to_json()
    print(c.summary(), file=sys.stderr, flush=True)
    return str(c.model)


def cmd_info(args) -> int:
    from .api import model_info
    info = model_info(_model(args), keep_layout=args.keep_input_layout)
    if args.quantization:
        info["quantization"] = args.quantization
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    if info["supported"]:
        print(f"{Path(args.model).name}: {info['op_count']} ops, {_fmt_int(info['macs'])} MACs, "
              f"{_fmt_int(info['weight_bytes'])} weight bytes, arena "
              f"{_fmt_int(info['arena_bytes'])} bytes (lower bound "
              f"{_fmt_int(info['lower_bound_bytes'])})")
    else:
        print(terminal(f"{Path(args.model).name}: {info['op_count']} ops, "
                       f"{info['unsupported_ops']} not supported: the model cannot be compiled"))
    for k, io in enumerate(info["inputs"]):
        if io["layout"]:
            print(f"input {k} '{io['name']}' {io['shape']}: {io['layout']}")
    print(f"{'#':>3}  {'op':<18} {'input shapes':<28} {'output':<18} {'MACs':>12} {'weights':>9}"
          "  status")
    for r in info["ops"]:
        ins = " ".join(str(s) for s in r["inputs"]).replace(" ", "")
        outs = " ".join(str(s) for s in r["outputs"]).replace(" ", "")
        kind = r["type"] + (" (alias)" if r["alias"] else "")
        print(f"{r['index']:>3}  {kind:<18} {ins:<28} {outs:<18} {_fmt_int(r['macs']):>12} "
              f"{r['weight_bytes']:>9,}  {terminal(r['status'])}")
    print(f"     {'total':<18} {'':<28} {'':<18} {_fmt_int(info['macs']):>12} "
          f"{info['weight_bytes']:>9,}")
    return 0


def cmd_compile(args) -> int:
    from .api import compile_model
    c = compile_model(_model(args), args.board, args.output, _progress(not args.json),
                      kernels=args.kernels,
                      patch=args.patch, sram=args.sram, flash=args.flash,
                      max_overhead=_overhead(args),
                      transport=args.transport, keep_layout=args.keep_input_layout,
                      fmt=args.format, prefix=args.prefix)
    result = dict(model=args.model, board=c.board.name, format=args.format,
                  output=str(c.project.out_dir),
                  files=sorted(str(p.relative_to(c.project.out_dir))
                               for p in c.project.out_dir.rglob("*") if p.is_file()),
                  arena_bytes=c.plan.total_bytes, lower_bound_bytes=c.plan.lower_bound_bytes,
                  const_bytes=c.project.const_bytes, input_bytes=c.project.input_bytes,
                  output_bytes=c.project.output_bytes)
    if args.quantization:
        result["quantization"] = args.quantization
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"wrote {len(result['files'])} files to {result['output']} for {c.board.name}: "
              f"arena {c.plan.total_bytes:,} bytes, constants {c.project.const_bytes:,} bytes")
        print(f"build with: make -C {result['output']}" if args.format == "harness" else
              f"what to compile: {Path(result['output']) / 'README.txt'}")
    return 0


def cmd_simulate(args) -> int:
    from .api import simulate
    rep = simulate(_model(args), args.board, args.inputs, args.count, args.seed, args.sanitize,
                   args.timeout, args.output, _progress(not args.json), kernels=args.kernels,
                   patch=args.patch, sram=args.sram, flash=args.flash,
                   max_overhead=_overhead(args), transport=args.transport, keep=args.keep,
                   keep_layout=args.keep_input_layout)
    return _print_report(rep, args)


def _print_report(rep, args) -> int:
    """The result of `simulate` and `run`: JSON or a few lines; exit 0 only if bit-exact."""
    if args.json:
        j = rep.to_json()
        if getattr(args, "quantization", None):
            j["quantization"] = args.quantization
        print(json.dumps(j, indent=2))
    else:
        j = rep.to_json()
        print(f"model      {Path(rep.model).name} on {rep.board}, {rep.vectors} vector(s)")
        ref = rep.reference_impl
        verdict = f"BIT-EXACT with {ref}" if rep.bit_exact else (
            f"MISMATCH: {rep.mismatches} output values differ, max |diff| {rep.max_abs_diff}, "
            f"first {rep.first_mismatch}")
        print(f"result     {verdict}")
        print(f"arena      {rep.arena_bytes:,} bytes (lower bound {rep.lower_bound_bytes:,})")
        if rep.patch:
            print(f"patches    {rep.patch['grid']} up to op {rep.patch['split_op_index']} "
                  f"({rep.patch['split_op_type']}), +{rep.extra_macs_pct}% MACs")
        if rep.streamed_blocks:
            print(f"streamed   {len(rep.streamed_blocks)} inverted residual block(s) by rows")
        if rep.instructions and rep.counter_unit == "cycles":
            print(f"cycles     {rep.instructions[0]:,} per inference "
                  f"({j['cycles_per_mac']} per MAC, {rep.macs:,} MACs)")
        elif rep.instructions:
            print(f"instr.     {rep.instructions[0]:,} per inference "
                  f"({j['instructions_per_mac']} per MAC, {rep.macs:,} MACs)")
        if rep.instructions and len(set(rep.instructions)) > 1:
            print(f"per vector {', '.join(f'{n:,}' for n in rep.instructions)}")
        if rep.flash_bytes is None and rep.stack_bytes is not None:
            print(f"stack      {rep.stack_bytes:,} bytes")
        if rep.flash_bytes is not None:
            print(f"flash      {rep.flash_bytes:,} bytes")
            print(f"sram       {rep.peak_sram_bytes:,} bytes peak (static {rep.ram_bytes:,} "
                  f"+ stack {_fmt_int(rep.stack_bytes)})")
    return 0 if rep.bit_exact else 2


def cmd_run(args) -> int:
    """`run`: test vectors over a serial port to firmware already running on a board."""
    from .api import run_on_board
    rep = run_on_board(args.model, args.board, args.port, args.inputs, args.count, args.seed,
                       args.timeout, _progress(not args.json), baudrate=args.baud,
                       keep_layout=args.keep_input_layout)
    return _print_report(rep, args)


def _add_run_parser(sub) -> None:
    s = sub.add_parser("run", help="send input vectors over a serial port to mcucompile "
                                   "firmware running on a board (flashed, or QEMU), compare "
                                   "with the reference (TFLM; onnxruntime for .onnx), "
                                   "report cycles and stack (exit 0 only if all "
                                   "are bit-exact)")
    s.add_argument("model", help="the INT8 .tflite or .onnx model the firmware was built from")
    s.add_argument("--board", required=True, help="the board the firmware was built for")
    s.add_argument("--port", required=True, help="serial port: a device (/dev/ttyACM0, COM3) "
                                                 "or a pyserial URL (socket://127.0.0.1:5555)")
    s.add_argument("--baud", type=int, help="baud rate (default: the board's uart.baud)")
    s.add_argument("--inputs", help=".npy (one input) or .npz (one array per input) of int8 "
                                    "vectors; float arrays are quantized with the input's scale")
    s.add_argument("--count", type=int, default=3, help="random vectors when --inputs is not "
                                                          "given (default 3)")
    s.add_argument("--seed", type=int, default=0, help="seed of the random vectors")
    s.add_argument("--timeout", type=float, default=30.0,
                   help="seconds to wait for each answer (default 30)")
    s.add_argument("--keep-input-layout", **KEEP_LAYOUT_ARG)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_run)


TRANSPORT_ARG = dict(choices=["files", "serial"], default=None,
                     help="how the harness gets test vectors: files (semihosting / stdio) or "
                          "serial (the board's UART; real boards: serial only); default: the "
                          "board's first (see Board.transports)")


def cmd_profile(args) -> int:
    from .profile import profile
    rep = profile(_model(args), args.board, args.kernels, args.seed, args.output, args.timeout,
                  _progress(not args.json), patch=args.patch, sram=args.sram, flash=args.flash,
                  max_overhead=_overhead(args), keep_layout=args.keep_input_layout)
    if args.json:
        print(json.dumps(rep.to_json(), indent=2))
        return 0
    est = rep.estimated_instructions
    print(f"{Path(rep.model).name} on {rep.board} ({rep.kernels} kernels): "
          f"{rep.instructions:,} instructions, {rep.macs:,} MACs, "
          f"{rep.instructions_per_mac} per MAC; the cost model estimated {est:,} "
          f"({100 * (est - rep.instructions) / max(rep.instructions, 1):+.1f}%)")
    print(f"{'#':>3}  {'op':<18} {'output':<16} {'kernel':<34} {'instructions':>12} "
          f"{'MACs':>11} {'per MAC':>8} {'share':>6}")
    for r in rep.rows:
        out = " ".join(str(s) for s in r["outputs"]).replace(" ", "")
        per = "-" if r["instructions_per_mac"] is None else f"{r['instructions_per_mac']:.2f}"
        print(f"{r['index']:>3}  {r['type']:<18} {out:<16} {','.join(r['kernels'])[:34]:<34} "
              f"{r['instructions']:>12,} {r['macs']:>11,} {per:>8} {100 * r['share']:>5.1f}%")
    ops = sum(r["instructions"] for r in rep.rows)
    print(f"     {'ops total':<18} {'':<16} {'':<34} {ops:>12,} {rep.macs:>11,}")
    return 0


def cmd_plan(args) -> int:
    from .api import plan_model
    from .planner.arena import single
    from .planner.report import plan_summary, plot_plan
    if args.frontier:
        return _frontier(args)
    graph, plan = plan_model(_model(args), args.board, args.patch, args.sram, _overhead(args),
                             flash=args.flash, keep_layout=args.keep_input_layout)
    summary = plan_summary(graph, plan)
    if args.plot:
        plot_plan(graph, plan, args.plot)
        summary["plot"] = args.plot
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"{Path(args.model).name} on {args.board}: arena {summary['arena_bytes']:,} bytes "
          f"(lower bound {plan.lower_bound_bytes:,}, without patches "
          f"{summary['unpatched_arena_bytes']:,}), packing '{plan.strategy}', "
          f"order '{summary['order']}'")
    if len(summary["regions"]) > 1 or plan.layout is not None and not single(plan.layout):
        print("regions: " + ", ".join(f"{r['name']} {r['bytes']:,} of {r['budget']:,} bytes"
                                      for r in summary["regions"]))
    if summary["const_regions"]:
        print("constants outside the main flash: " + ", ".join(
            f"{r['name']} {r['const_bytes']:,} bytes" for r in summary["const_regions"]))
    if plan.patch:
        p = plan.patch
        print(f"patches: {p['grid']} grid over the output of op {p['split_op_index']} "
              f"({p['split_op_type']}), +{summary['extra_macs_pct']}% MACs")
    if summary["streamed_blocks"]:
        print(f"streamed by rows: {len(summary['streamed_blocks'])} inverted residual "
              f"block(s), no extra MACs")
    if summary["estimated_instructions"]:
        print(f"estimated instructions: {summary['estimated_instructions']:,}")
    print(f"{'step':>4} {'op':>4} {'type':<18} {'kernel':<30} {'est. instr':>11} "
          f"{'scratch':>7} {'consts':>8} {'live bytes':>10}  buffers (name@offset:bytes)")
    for r in summary["steps"]:
        mark = " <- peak" if r["step"] == summary["peak_step"] else ""
        inplace = " (in place)" if r["in_place"] else ""
        if r["shifted_by"] is not None:      # output over its input, this many bytes below
            inplace = f" (in place -{r['shifted_by']})" if r["shifted_by"] else " (in place)"
        if r["streamed_ops"]:
            inplace += f" ops {r['streamed_ops'][0]}-{r['streamed_ops'][-1]}"
        several = len(summary["regions"]) > 1
        bufs = " ".join(f"{b['name']}@" + (f"{b['region']}+" if several else "")
                        + f"{b['offset']}:{b['bytes']}" for b in r["live"])
        kernel = ",".join(r["kernels"])
        kernel = kernel if len(kernel) <= 30 else kernel[:29] + "~"
        print(f"{r['step']:>4} {r['op_index']:>4} {r['op_type'] + inplace:<18} {kernel:<30} "
              f"{_fmt_int(r['estimated_instructions']):>11} {r['scratch_bytes']:>7,} "
              f"{r['const_bytes']:>8,} {r['live_bytes']:>10,}  {bufs}{mark}")
    print("buffers: " + "; ".join(f"{b['name']} = {b['holds']}"
                                  for b in sorted(summary["buffers"],
                                                  key=lambda b: b["first_step"])))
    if summary["state"]:
        print("state (kept across runs, never reused): " + "; ".join(
            f"{b['name']}@{b['offset']}:{b['bytes']} = {b['holds']}" for b in summary["state"]))
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


def _frontier(args) -> int:
    from dataclasses import asdict

    from .api import plan_frontier
    from .boards import get_board
    from .planner.frontier import plot_frontier
    from .planner.search import budgets
    if args.patch is not None or args.sram is not None:
        raise McucError("--frontier plans every schedule shape under its own budget: "
                        "leave out --patch and --sram")
    board = get_board(args.board)
    _, points = plan_frontier(_model(args), board, flash=args.flash,
                              max_overhead=args.max_overhead,
                              keep_layout=args.keep_input_layout,
                              progress=_progress(not args.json))
    fits = budgets(board).sram
    rows = [dict(asdict(p), options=p.options(),
                 fits_board=None if not fits else p.arena_bytes <= fits) for p in points]
    if args.plot:
        plot_frontier(points, f"{Path(args.model).name} on {args.board}", args.plot)
    if args.json:
        print(json.dumps(dict(model=args.model, board=args.board, points=rows,
                              plot=args.plot), indent=2))
        return 0
    print(f"{Path(args.model).name} on {args.board}: {len(points)} schedules, each planned "
          f"with the fastest kernels that fit its arena")
    print(f"{'arena':>10} {'extra MACs':>10} {'est. instr':>13}  {'schedule':<16} options")
    for r in rows:
        mark = "" if r["fits_board"] in (None, True) else "  (over the board's SRAM)"
        print(f"{r['arena_bytes']:>10,} {r['extra_macs_pct']:>9.2f}% "
              f"{r['estimated_instructions']:>13,}  {r['schedule']:<16} {r['options']}{mark}")
    if args.plot:
        print(f"plot written to {args.plot}")
    return 0


_UNITS = {"": 1, "K": 1024, "M": 1024 * 1024}


def _bytes(text: str) -> int:
    """'1000', '128K', '2M' -> bytes."""
    text = text.strip().upper()
    unit = text[-1:] if text[-1:] in ("K", "M") else ""
    number = text[:len(text) - len(unit)]
    if not number.isdigit():
        raise ValueError(text)
    return int(number) * _UNITS[unit]


def _sram_arg(text: str) -> int | dict[str, int]:
    """--sram: BYTES (the main SRAM), or NAME=BYTES,NAME=BYTES (those regions)."""
    try:
        if "=" not in text:
            return _bytes(text)
        out = {}
        for part in text.split(","):
            name, _, size = part.partition("=")
            name = name.strip().lower()
            if not name or name in out:
                raise ValueError(part)
            out[name] = _bytes(size)
        return out
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"'{text}' is neither BYTES nor REGION=BYTES,... (e.g. 131072, 128K, "
            "dtcm=128K,axi=512K)") from None


def _memory_args(s) -> None:
    s.add_argument("--patch", default=None, metavar="off|auto|NxN@LAYER",
                   help="patch-based inference of the first stage: auto (the default on a "
                        "board: patches and row-streamed blocks only when the model does not "
                        "fit the SRAM budget otherwise, with the fewest extra MACs; without "
                        "a budget, e.g. on the host, the smallest arena), off (layer by "
                        "layer; the default on the host), or e.g. 4x4@5 (4x4 patches up to "
                        "op 5)")
    s.add_argument("--sram", type=_sram_arg, metavar="BYTES|REGION=BYTES,...",
                   help="arena budget (default: every RAM region of the board, its main SRAM "
                        "less stack, heap and 2 KB of other static data; the model's inputs "
                        "and outputs live in the arena): BYTES of the main SRAM alone, or "
                        "budgets per region, e.g. dtcm=128K,axi=512K (only those regions; "
                        "`mcucompile boards --json` lists them; K = 1024, M = 1024 K); the "
                        "search picks the fastest kernels that fit it")
    s.add_argument("--flash", type=int, metavar="BYTES",
                   help="budget for constants + code in bytes of the main flash (default: "
                        "the board's flash and its further read-only regions); "
                        "layers whose fast kernels repack weights go back to smaller kernels, "
                        "fewest extra instructions per byte saved first, until it fits")
    s.add_argument("--max-overhead", type=float, default=None, metavar="PCT",
                   help="with --patch auto and no budget: most extra MACs allowed, in percent "
                        "(default 20; with plan --frontier, of the patch schedules shown: "
                        "default 100)")


def _region_json(r) -> dict:
    return dict(name=r.name, origin=r.origin, bytes=r.size, speed=r.speed, dma=r.dma,
                main=r.main)


def cmd_boards(args) -> int:
    from .boards import list_boards
    boards = list_boards()
    if args.json:
        print(json.dumps([dict(name=b.name, kind=b.kind, cpu=b.cpu, description=b.description,
                               flash_bytes=b.flash_size, sram_bytes=b.sram_size,
                               ram_regions=[_region_json(r) for r in b.ram_regions],
                               rom_regions=[_region_json(r) for r in b.rom_regions],
                               clock_hz=b.clock_hz, dsp=b.features.dsp, fpu=b.features.fpu,
                               mve=b.features.mve, qemu_machine=b.qemu_machine, default=b.default)
                          for b in boards], indent=2))
        return 0
    print(f"{'board':<16} {'kind':<9} {'cpu':<13} {'flash':>9} {'sram':>9}  features")
    for b in boards:
        feats = ",".join(k for k in ("dsp", "fpu", "mve") if getattr(b.features, k)) or "-"
        flash = "in SRAM" if b.ram_image else f"{b.flash_size // 1024} KB" if b.flash_size else "-"
        sram = f"{b.sram_size // 1024} KB" if b.sram_size else "-"
        star = " (default)" if b.default else ""
        print(f"{b.name:<16} {b.kind:<9} {b.cpu:<13} {flash:>9} {sram:>9}  {feats}{star}")
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo
    return run_demo(board=args.board, json_out=args.json)


def cmd_flash(args) -> int:
    from .boards import get_board
    from .flash import INSTALL, flash
    res = flash(Path(args.target), get_board(args.board), probe=args.probe, tool=args.tool,
                dry_run=args.dry_run, progress=_progress(not args.json))
    if args.json:
        print(json.dumps(res.to_json(), indent=2))
    elif args.dry_run:
        if not res.tool_installed:
            print(f"# {res.tool} is not installed ({INSTALL[res.tool]})")
        print(terminal("\n".join(res.command_lines()), newlines=True))   # --probe is raw text
    else:
        print(f"flashed {res.elf} ({res.flash_bytes:,} bytes) onto {res.board} with {res.tool}, "
              "verified")
    return 0


MODEL_HELP = ("INT8 .tflite or .onnx model; or a float .onnx, .keras/.h5 or SavedModel "
              "directory with --calibrate")
CALIBRATE_HELP = ("quantize a float model to INT8 first, calibrated on these float input "
                  "samples: [N, *input_shape] .npy, or .npz with one array per input name; "
                  "reports the quantization error")


KEEP_LAYOUT_ARG = dict(action="store_true",
                       help="keep an NCHW model input that a TRANSPOSE turns NHWC as it is "
                            "(default: the TRANSPOSE is folded and the input is NHWC, as "
                            "model.h and `info` say)")
KERNELS_ARG = dict(choices=["auto", "portable"], default="auto",
                   help="auto: fastest bit-exact kernels for the board's CPU (DSP, Helium); "
                        "portable: plain C (default auto)")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="mcucompile",
        description="Compile INT8 TFLite and ONNX models into static C for Cortex-M "
                    "microcontrollers, and check them bit-exact against TensorFlow Lite Micro "
                    "(onnxruntime for ONNX models) on the host or in QEMU.", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("info", help="per-op table: shapes, MACs, weight bytes, status "
                                    "(supported or why not), arena")
    s.add_argument("model", help=MODEL_HELP)
    s.add_argument("--calibrate", metavar="SAMPLES", help=CALIBRATE_HELP)
    s.add_argument("--keep-input-layout", **KEEP_LAYOUT_ARG)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_info)

    s = sub.add_parser("compile", help="write a self-contained C project for a board")
    s.add_argument("model", help=MODEL_HELP)
    s.add_argument("--calibrate", metavar="SAMPLES", help=CALIBRATE_HELP)
    s.add_argument("--board", default="mps2-an386", help="target board (see `mcucompile boards`)")
    s.add_argument("-o", "--output", required=True, help="output directory")
    _memory_args(s)
    s.add_argument("--kernels", **KERNELS_ARG)
    s.add_argument("--transport", **TRANSPORT_ARG)
    s.add_argument("--format", choices=FORMATS, default="harness",
                   help="harness (default): a whole program, the model with a test harness "
                        "and a Makefile (what simulate builds); or a library for your own "
                        "build: library (src/ + README.txt), cmake (+ CMakeLists.txt with "
                        "target PREFIXmodel, and a toolchain file), zephyr (+ zephyr/ module), "
                        "platformio (+ library.json), arduino (+ library.properties)")
    s.add_argument("--prefix", metavar="NAME_",
                   help="libraries: start every exported name with this instead of mcuc_ "
                        "(e.g. kws_: kws_model.h, kws_model_run()), so several models link "
                        "into one program")
    s.add_argument("--keep-input-layout", **KEEP_LAYOUT_ARG)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_compile)

    s = sub.add_parser("simulate", help="compile, build, run input vectors on the host or in "
                                        "QEMU and compare every output with the reference "
                                        "(TFLM; onnxruntime for .onnx) (exit 0 only "
                                        "if all are bit-exact)")
    s.add_argument("model", help=MODEL_HELP)
    s.add_argument("--calibrate", metavar="SAMPLES", help=CALIBRATE_HELP)
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
    s.add_argument("--keep", action="store_true", help="without -o: keep the temporary build "
                                                       "directory (its path is in the report)")
    s.add_argument("--kernels", **KERNELS_ARG)
    s.add_argument("--transport", **TRANSPORT_ARG)
    _memory_args(s)
    s.add_argument("--keep-input-layout", **KEEP_LAYOUT_ARG)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_simulate)

    _add_run_parser(sub)

    s = sub.add_parser("profile", help="per-op instructions on a QEMU board (exact counts), "
                                       "MACs and instructions per MAC, sorted by cost")
    s.add_argument("model", help=MODEL_HELP)
    s.add_argument("--calibrate", metavar="SAMPLES", help=CALIBRATE_HELP)
    s.add_argument("--board", default="mps2-an386", help="a QEMU board (default mps2-an386)")
    s.add_argument("--kernels", **KERNELS_ARG)
    s.add_argument("--seed", type=int, default=0, help="seed of the random input vector")
    s.add_argument("--timeout", type=float, default=120.0,
                   help="seconds before a hung firmware is killed (default 120)")
    s.add_argument("-o", "--output", help="keep the generated project in this directory")
    _memory_args(s)
    s.add_argument("--keep-input-layout", **KEEP_LAYOUT_ARG)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_profile)

    s = sub.add_parser("plan", help="memory plan: schedule, live buffers and offsets per "
                                    "step, peak, patch choice; optional PNG")
    s.add_argument("model", help=MODEL_HELP)
    s.add_argument("--calibrate", metavar="SAMPLES", help=CALIBRATE_HELP)
    s.add_argument("--board", default="host", help="board (its SRAM is the default budget)")
    _memory_args(s)
    s.add_argument("--frontier", action="store_true",
                   help="instead of one plan, the SRAM-versus-speed frontier: every schedule "
                        "shape (layer by layer, streamed blocks, each patch stage) planned "
                        "with the fastest kernels that fit its arena; arena, extra MACs, "
                        "estimated instructions and the options that give each")
    s.add_argument("--plot", metavar="FILE.png", help="draw memory over the schedule (with "
                                                      "--frontier: arena against extra MACs "
                                                      "and instructions)")
    s.add_argument("--keep-input-layout", **KEEP_LAYOUT_ARG)
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_plan)

    s = sub.add_parser("boards", help="list the boards with CPU, memory and features")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(fn=cmd_boards)

    s = sub.add_parser("demo", help="train a small digits CNN, compile it for an emulated "
                                    "Cortex-M4 and compare on-device accuracy with TFLM")
    s.add_argument("--board", default="mps2-an386", help="board to run on (default mps2-an386)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("flash", help="program a built firmware onto a real board through its "
                                     "debug probe (pyOCD or OpenOCD) and verify it")
    s.add_argument("target", metavar="DIR|ELF", help="project directory written by `compile` "
                                                      "(built first if needed: its "
                                                      "build/firmware.elf) or an ELF file")
    s.add_argument("--board", required=True, help="the real board (kind 'hardware' in "
                                                  "`mcucompile boards`)")
    s.add_argument("--probe", metavar="UID", help="debug probe's unique ID / serial number "
                                                  "(default: the only one connected)")
    s.add_argument("--tool", choices=["pyocd", "openocd"],
                   help="flash tool (default: pyOCD if installed, else OpenOCD)")
    s.add_argument("--dry-run", action="store_true",
                   help="build DIR if needed, print the flash commands, flash nothing")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(fn=cmd_flash)
    for s in sub.choices.values():
        s.add_argument("--debug", action="store_true",
                       help="show the traceback of an internal error")
    return p


class _Parser(argparse.ArgumentParser):
    """Usage errors are McucErrors too: one line, exit 1 (2 means MISMATCH for simulate)."""

    def error(self, message: str):
        raise McucError(f"{message} (see `{self.prog} --help`)")


MAX_SEED = 2**63 - 1
MAX_TIMEOUT_S = 7 * 24 * 3600.0
PLOT_FORMATS = (".png", ".pdf", ".svg")
PATH_ARGS = dict(model="the model", target="DIR|ELF", output="-o", plot="--plot",
                 inputs="--inputs", calibrate="--calibrate", port="--port")


def _check_args(args) -> None:
    """Every number a command takes: finite and within its range (one line if not). --count
    is checked against the model's sizes again when the vectors are made (api.vector_chunks)."""
    from .api import MAX_COUNT
    ranges = dict(count=(1, MAX_COUNT), seed=(0, MAX_SEED), timeout=(0.001, MAX_TIMEOUT_S),
                  max_overhead=(0.0, 1e6), sram=(1, 2**32 - 1), flash=(1, 2**32 - 1),
                  baud=(1, 100_000_000))
    for name, (lo, hi) in ranges.items():
        value = getattr(args, name, None)
        values = value.values() if isinstance(value, dict) else () if value is None else (value,)
        for value in values:
            if not (math.isfinite(value) and lo <= value <= hi):
                flag = "--" + name.replace("_", "-")
                raise McucError(f"{flag} must be a number from {lo:,} to {hi:,}, not {value!r}")
    for name, flag in PATH_ARGS.items():     # "" would be the current directory
        if getattr(args, name, None) is not None and not getattr(args, name).strip():
            raise McucError(f"{flag} names no file (\"\")")
    plot = getattr(args, "plot", None)
    if plot and Path(plot).suffix.lower() not in PLOT_FORMATS:
        raise McucError(f"--plot writes {', '.join(PLOT_FORMATS)} files, not '{Path(plot).suffix}'",
                        plot)


def _error_json(message: str, where: str | None, hint: str | None, code: int) -> str:
    return json.dumps(dict(error=message, where=where, hint=hint, exit=code))


def main(argv: list[str] | None = None) -> int:
    """Run one command; every way it can end is an exit code and, with --json, exactly one
    JSON object on stdout: 0 ok, 1 an error the user can act on (one line "error: ...", the
    McucErrors, OS errors such as an unwritable -o, usage errors), 2 simulate/run MISMATCH,
    3 an internal error (one line; the traceback with --debug), 128+N a signal (SIGINT,
    SIGTERM, SIGHUP end the child processes first: procs.py)."""
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    json_out, debug = "--json" in argv, "--debug" in argv

    def fail(message: str, where: str | None = None, hint: str | None = None,
             code: int = 1) -> int:
        if json_out:
            print(_error_json(message, where, hint, code), flush=True)
        text = f"{where}: {message}" if where else message
        print(f"error: {text}" + (f"\n  hint: {hint}" if hint else ""), file=sys.stderr,
              flush=True)
        return code

    with on_termination():
        try:
            args = build_parser().parse_args(argv)
            _check_args(args)
            args.temporary = []
            try:
                code = args.fn(args)
                sys.stdout.flush()      # a closed pipe shows here, not at interpreter exit
                return code
            finally:
                for path in args.temporary:
                    shutil.rmtree(path, ignore_errors=True)
        except McucError as e:
            return fail(e.message, e.where, e.hint)
        except BrokenPipeError:
            # the reader went away (`mcucompile plan ... | head`): end quietly, as other
            # command-line tools do, with stdout pointed away so Python's own flush at exit
            # does not complain
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return 128 + signal.SIGPIPE
        except OSError as e:
            where = " -> ".join(str(f) for f in (e.filename, e.filename2) if f is not None)
            return fail(e.strerror or str(e), where or None)
        except KeyboardInterrupt:
            return fail("interrupted", code=128 + signal.SIGINT)
        except Terminated as t:
            return fail(f"terminated by {signal.Signals(t.signum).name}", code=128 + t.signum)
        except SystemExit as e:     # --help, --version
            return e.code if isinstance(e.code, int) else 0
        except Exception as e:      # noqa: BLE001 - the last resort
            if debug:
                traceback.print_exc()
            detail = " ".join(str(e).split())[:300]
            return fail(f"internal error: {type(e).__name__}" + (f": {detail}" if detail else "")
                        + " (please report it" + ("" if debug else "; --debug shows the traceback")
                        + ")", code=3)


if __name__ == "__main__":
    sys.exit(main())
