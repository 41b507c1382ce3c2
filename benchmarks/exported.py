"""Exported-model benchmark: arenas of PyTorch-style models against the Keras originals.

For each Keras MobileNetV2 (tests/modelgen.py), its PyTorch-exported form (tests/torch_style.py:
NCHW input read by a TRANSPOSE, a PAD before each padded convolution; op for op the same
outputs in TFLM) is planned on the host board, unpatched and with --patch auto:
  keras            the Keras model
  exported         the exported model, canonicalised (PADs and the input TRANSPOSE folded)
  keep layout      the exported model with --keep-input-layout (the TRANSPOSE stays)
The pass's own effect (before it existed) is measured by running this script on an older
checkout; docs/measured.md "Models exported from PyTorch" has both.

Run: python benchmarks/exported.py [--quick]   (--quick skips MobileNetV2 1.0 at 224x224)
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

from mcucompile.api import plan_model  # noqa: E402


def main() -> None:
    import modelgen
    import torch_style
    variants = [(0.35, 96), (0.35, 144)] + ([] if "--quick" in sys.argv else [(1.0, 224)])
    tmp = Path(tempfile.mkdtemp(prefix="mcuc_exported_"))
    print("| model | keras | keras, patches | exported | exported, patches | keep layout "
          "| keep layout, patches |")
    print("|---|---|---|---|---|---|---|")
    for alpha, size in variants:
        keras = tmp / f"mnv2_{alpha}_{size}.tflite"
        keras.write_bytes(modelgen.mobilenet_v2(alpha, size))
        exported = tmp / f"mnv2_{alpha}_{size}_exported.tflite"
        exported.write_bytes(torch_style.exported(keras.read_bytes()))
        cells = []
        for path, keep in ((keras, False), (exported, False), (exported, True)):
            for patch in ("off", "auto"):
                cells.append(plan_model(path, "host", patch, keep_layout=keep)[1].arena_bytes)
        print(f"| MobileNetV2 {alpha} {size}x{size} | "
              + " | ".join(f"{c:,}" for c in cells) + " |", flush=True)


if __name__ == "__main__":
    main()
