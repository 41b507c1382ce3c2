"""`mcucompile demo`: the whole product in one command, with nothing downloaded.

Trains a small CNN on scikit-learn's bundled 8x8 digits, converts it to full INT8, compiles it
for an emulated Cortex-M4 (mps2-an386), runs every held-back test image in QEMU and prints the
on-device accuracy beside TFLM's, bit-exactness, instructions per inference, SRAM and flash.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def run_demo(board: str = "mps2-an386", json_out: bool = False, workdir: str | None = None) -> int:
    from .api import simulate
    from .demo_model import train_digits_model

    start = time.time()

    def progress(msg: str) -> None:
        print(f"[{time.time() - start:5.1f}s] {msg}", file=sys.stderr, flush=True)

    work = Path(workdir or tempfile.mkdtemp(prefix="mcuc_demo_"))
    work.mkdir(parents=True, exist_ok=True)
    progress("training a digits CNN on scikit-learn's 8x8 digits (float, then INT8)")
    demo = train_digits_model(progress=progress)
    model = work / "digits_int8.tflite"
    model.write_bytes(demo.tflite)
    inputs = work / "test_images.npy"
    np.save(inputs, demo.x_test.astype(np.int8))
    progress(f"compiling and running {len(demo.x_test)} test images on {board} (QEMU)")
    rep = simulate(model, board, inputs=inputs, out_dir=work / "firmware", progress=progress)
    n = len(demo.y_test)
    device_acc = demo.accuracy(rep.outputs.reshape(n, -1))
    tflm_acc = demo.accuracy(rep.reference.reshape(n, -1))
    ins = rep.instructions or []
    result = dict(board=rep.board, test_images=n, float_accuracy=round(demo.float_accuracy, 4),
                  tflm_int8_accuracy=round(tflm_acc, 4), device_accuracy=round(device_acc, 4),
                  bit_exact=rep.bit_exact, mismatches=rep.mismatches,
                  instructions_per_inference=(int(np.median(ins)) if ins else None),
                  instructions_identical_each_run=(len(set(ins)) == 1 if ins else None),
                  macs=rep.macs, arena_bytes=rep.arena_bytes, stack_bytes=rep.stack_bytes,
                  peak_sram_bytes=rep.peak_sram_bytes, flash_bytes=rep.flash_bytes,
                  model=str(model), firmware=rep.build_dir)
    if json_out:
        print(json.dumps(result, indent=2))
    else:
        print()
        print(f"mcucompile demo: digits CNN ({rep.macs:,} MACs) on {rep.board}, "
              f"{n} held-back test images")
        print(f"  accuracy on device (QEMU)   {device_acc:7.2%}")
        print(f"  accuracy, TFLM reference    {tflm_acc:7.2%}   (float Keras model "
              f"{demo.float_accuracy:.2%})")
        print(f"  bit-exact with TFLM         {'yes, all ' + str(n) + ' outputs' if rep.bit_exact else 'NO: ' + str(rep.mismatches) + ' values differ'}")
        if ins:
            print(f"  instructions per inference  {int(np.median(ins)):,} "
                  f"({np.median(ins) / max(rep.macs, 1):.2f} per MAC)")
        print(f"  SRAM peak                   {rep.peak_sram_bytes:,} bytes (arena "
              f"{rep.arena_bytes:,} + stack {rep.stack_bytes or 0:,} + other static)")
        print(f"  flash                       {rep.flash_bytes:,} bytes")
        print(f"  model and firmware in       {work}")
    return 0 if rep.bit_exact else 2
