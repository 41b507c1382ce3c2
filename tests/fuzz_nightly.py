"""The long fuzz run (nightly): many more cases than tests/test_fuzz.py, grouped by fault.

    python tests/fuzz_nightly.py --cases 2000 --seed 7 [--kinds tflite_fields,onnx_fields]
        [--simulate-share 0.05] [--save DIR]

Prints one line per distinct fault (the exit code and the error's first words, with how many
cases and one command that shows it), saves each faulty mutant into --save, and exits 1 if any
case went wrong (see tests/fuzzing.py for what is judged).
"""
from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import fuzzing  # noqa: E402
from conftest import SHARED_MODELS  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinds", default="tflite_fields,onnx_fields,model_bytes,cli_misuse")
    p.add_argument("--simulate-share", type=float, default=0.05,
                   help="share of model cases run through simulate on the host board")
    p.add_argument("--limit", type=float, default=60.0, help="seconds per case")
    p.add_argument("--save", type=Path, help="directory for the faulty mutants")
    args = p.parse_args()
    faults: dict[str, list] = collections.defaultdict(list)
    t0, n = time.time(), 0
    with tempfile.TemporaryDirectory(prefix="mcuc_fuzz_") as tmp:
        for o in fuzzing.campaign(args.cases, args.seed, Path(tmp), SHARED_MODELS,
                                  args.kinds.split(","), args.simulate_share, args.limit):
            n += 1
            if o.problems:
                key = f"{o.kind}: {o.problems[0][:60]} | {fuzzing.signature(o)}"
                faults[key].append(o)
                if args.save is not None and hasattr(o, "mutant"):
                    args.save.mkdir(parents=True, exist_ok=True)
                    suffix = Path(o.argv[2]).suffix
                    (args.save / f"case{n:05d}{suffix}").write_bytes(o.mutant)
            if n % 100 == 0:
                print(f"{n} cases, {sum(map(len, faults.values()))} faulty, "
                      f"{time.time() - t0:.0f}s", file=sys.stderr, flush=True)
    print(f"{n} cases in {time.time() - t0:.0f}s, "
          f"{sum(map(len, faults.values()))} faulty, {len(faults)} distinct faults")
    for key, outs in sorted(faults.items(), key=lambda kv: -len(kv[1])):
        print(f"{len(outs):5d}  {key}\n       e.g. {' '.join(outs[0].argv)}")
    return 1 if faults else 0


if __name__ == "__main__":
    sys.exit(main())
