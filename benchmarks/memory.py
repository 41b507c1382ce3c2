"""Memory benchmark: activation memory of mcucompile against TFLM, per model.

Prints one table row per model:
  TFLM arena     smallest arena_size the tflite-micro interpreter accepts (binary search;
                 it includes TFLM's own bookkeeping, which is what a TFLM user must reserve)
  lower bound    layer-by-layer: max over ops of the bytes that must be live at that op
                 (model order, no in-place reuse)
  ours           mcucompile's arena, host board (portable kernels), no patches; in-place
                 elementwise, depthwise and 1x1 projection layers may take it below the bound
  M4 default     the arena with default options on mps2-an386 (Cortex-M4: DSP kernels whose
                 scratch the search bounds by what each step leaves under the lower bound
                 + 1% or 256 bytes; 4 MB of SRAM, so no patches), and x bound = M4 / bound
  patched        with --patch auto (no budget, at most 20% extra MACs); x = ours / patched
                 and lower bound / patched
  extra MACs     of the patched schedule
  plan s         frontend + passes + planning with --patch auto, seconds
  QEMU SRAM      peak SRAM measured on mps2-an386 (portable kernels): static RAM of the ELF
                 + the deepest stack seen, unpatched and with the patch schedule above. The
                 harness reads each input vector straight into the arena and writes the
                 outputs from there (model.h's zero-copy API, as a TFLM user fills
                 interpreter.input(0)), so this is everything the firmware needs; compare with
                 the TFLM arena alone. "exact": both runs bit-exact with TFLM

On DSP/Helium boards the fast depthwise/convolution kernels are kept and the in-place
(portable) variants are used only when the plan does not fit the SRAM budget otherwise, so the
unpatched arena there can be above "ours" (the "M4 default" column; planner/search.py).

Run: python benchmarks/memory.py [--quick] [--no-qemu] [--frontier DIR]
  (--quick skips MobileNetV2 1.0 at 224x224; --no-qemu skips the QEMU columns;
  --frontier instead prints, per model, the SRAM-versus-speed frontier on mps2-an386, as
  `mcucompile plan --frontier` does, and draws each into DIR/<model>_frontier.png)
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mcucompile.api import plan_model, simulate  # noqa: E402
from mcucompile.errors import McucError  # noqa: E402
from mcucompile.frontend import load_model  # noqa: E402
from mcucompile.passes import run_passes  # noqa: E402
from mcucompile.planner import plan_schedule  # noqa: E402

import os  # noqa: E402

SHARED = Path(os.environ.get("MCUC_SHARED_MODELS", REPO / "tests" / "data" / "models"))
_PROBE = ("import sys; from tflite_micro.python.tflite_micro import runtime;"
          "runtime.Interpreter.from_bytes(open(sys.argv[1],'rb').read(), arena_size=int(sys.argv[2]))")


def tflm_arena(path: Path) -> int:
    """Smallest arena TFLM accepts, to 16 bytes (each probe in its own process: TFLM may abort)."""
    def ok(n: int) -> bool:
        r = subprocess.run([sys.executable, "-c", _PROBE, str(path), str(n)],
                           capture_output=True)
        return r.returncode == 0
    lo, hi = 0, 1 << 16
    while not ok(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 16:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    return hi


def layer_lower_bound(path: Path) -> int:
    graph = run_passes(load_model(path))
    order = [op for op in graph.ops if not op.is_alias]
    return plan_schedule(graph, order, in_place=False).lower_bound_bytes


def models(quick: bool) -> list[tuple[str, Path]]:
    import modelgen
    out = [(p.stem, p) for p in sorted(SHARED.glob("*.tflite"))]
    tmp = Path(tempfile.mkdtemp(prefix="mcuc_bench_"))
    variants = [(0.35, 96), (0.35, 144)] + ([] if quick else [(1.0, 224)])
    for alpha, size in variants:
        p = tmp / f"mobilenet_v2_{alpha}_{size}.tflite"
        p.write_bytes(modelgen.mobilenet_v2(alpha, size))
        out.append((p.stem, p))
    return out


def frontiers(quick: bool, out_dir: Path) -> None:
    """Per model: arena, extra MACs and estimated instructions of each frontier point."""
    from mcucompile.api import plan_frontier
    from mcucompile.planner.frontier import plot_frontier
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"{'model':<26} {'arena':>10} {'extra MACs':>10} {'est. instr':>13}  "
          f"{'schedule':<16} {'plan s':>7}")
    for name, path in models(quick):
        t0 = time.process_time()
        try:
            _, points = plan_frontier(path, "mps2-an386")
        except McucError as e:
            print(f"{name:<26} not planned: {e}", flush=True)
            continue
        seconds = time.process_time() - t0
        for k, p in enumerate(points):
            print(f"{name if k == 0 else '':<26} {p.arena_bytes:>10,} "
                  f"{p.extra_macs_pct:>9.2f}% {p.estimated_instructions:>13,}  "
                  f"{p.schedule:<16} {f'{seconds:.1f}' if k == 0 else '':>7}", flush=True)
        plot_frontier(points, f"{name} on mps2-an386", out_dir / f"{name}_frontier.png")
    print(f"plots in {out_dir}; plan s = CPU seconds for the whole frontier (one search per "
          f"point)")


def main() -> None:
    quick, qemu = "--quick" in sys.argv, "--no-qemu" not in sys.argv
    if "--frontier" in sys.argv:
        frontiers(quick, Path(sys.argv[sys.argv.index("--frontier") + 1]))
        return
    header = (f"{'model':<26} {'TFLM arena':>11} {'lower bnd':>10} {'ours':>9} "
              f"{'M4 default':>10} {'x bound':>7} {'patched':>9} "
              f"{'x ours':>7} {'x bound':>7} {'grid@op':>9} {'extra MACs':>10} {'plan s':>7}"
              + (f" {'QEMU SRAM':>10} {'patched':>9} {'exact':>5}" if qemu else ""))
    print(header)
    print("-" * len(header))
    for name, path in models(quick):
        t0 = time.time()
        try:
            _, patched = plan_model(path, "host", patch="auto")
        except McucError as e:
            print(f"{name:<26} not planned: {e}", flush=True)
            continue
        plan_s = time.time() - t0
        _, plain = plan_model(path, "host")
        _, m4 = plan_model(path, "mps2-an386")
        bound = layer_lower_bound(path)
        grid = (f"{patched.patch['grid']}@{patched.patch['split_op_index']}"
                if patched.patch else "-")
        print(f"{name:<26} {tflm_arena(path):>11,} {bound:>10,} "
              f"{plain.arena_bytes:>9,} {m4.arena_bytes:>10,} {m4.arena_bytes / bound:>7.3f} "
              f"{patched.arena_bytes:>9,} "
              f"{plain.arena_bytes / patched.arena_bytes:>7.2f} "
              f"{bound / patched.arena_bytes:>7.2f} {grid:>9} "
              f"{patched.extra_macs_pct:>9.1f}% {plan_s:>7.2f}"
              + (qemu_columns(path, grid) if qemu else ""), flush=True)


def qemu_columns(path: Path, grid: str) -> str:
    runs = [simulate(path, "mps2-an386", count=1, kernels="portable", patch="off",
                     timeout=600)]
    if grid != "-":
        runs.append(simulate(path, "mps2-an386", count=1, kernels="portable", patch=grid,
                             timeout=600))
    exact = "yes" if all(r.bit_exact for r in runs) else "NO"
    first, last = (r.peak_sram_bytes for r in (runs[0], runs[-1]))
    return f" {first:>10,} {last:>9,} {exact:>5}"


if __name__ == "__main__":
    main()
