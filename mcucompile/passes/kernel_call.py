"""What one runtime call needs: the C function, its params struct and its arguments.

The lowering pass turns every op into one or more KernelCalls; the code generator prints them
without knowing anything about the op.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import Tensor


@dataclass
class Arg:
    """A pointer argument: an activation tensor (in the arena) or a constant array (in flash)."""

    tensor: Tensor | None = None
    const: np.ndarray | None = None
    const_name: str = ""        # short role name, e.g. "filter", "bias", "mult"
    writes: bool = False        # output argument

    @staticmethod
    def input(t: Tensor) -> "Arg":
        return Arg(tensor=t)

    @staticmethod
    def output(t: Tensor) -> "Arg":
        return Arg(tensor=t, writes=True)

    @staticmethod
    def constant(name: str, data: np.ndarray | None) -> "Arg":
        return Arg(const=data, const_name=name)  # data None -> NULL pointer


@dataclass
class GeneratedKernel:
    """A kernel specialised for one call at compile time (see passes/select_kernels): the
    template (templates/kernels/) and the values codegen renders it with (only codegen renders
    C: codegen/kernels.py). `prototype` declares it for model.c; `runtime_files` are
    runtime_c/src-relative headers its text includes (copied into the project)."""

    template: str
    context: dict
    prototype: str
    runtime_files: tuple[str, ...] = ()


@dataclass(frozen=True)
class Variant:
    """What a fast-kernel builder (kernels_dsp, kernels_mve) chose for a layer: the weight
    encoding in flash and the tiling that sets its scratch (0: not applicable).

    weights   "int16" (pre-scaled, twice the flash) or "int8" ("" : no weights)
    pixels    GEMM: output pixels per im2col block (its scratch is proportional)
    band      depthwise: output rows per band of input planes
    strip     depthwise: output columns per strip (0: whole rows)
    channels  depthwise (Helium): input channels per plane chunk (0: all; fewer than all
              is the family mcuc_depthwise_conv_s8_mve_chunks, which has no shift)
    raster    built to write its outputs in memory order (asked for a shifted in-place
              layer, backend/shift.py)
    direct    GEMM (DSP): reads its input in place, no im2col (scratch 0)
    """

    weights: str = ""
    pixels: int = 0
    band: int = 0
    strip: int = 0
    channels: int = 0
    raster: bool = False
    direct: bool = False


@dataclass
class KernelCall:
    fn: str                               # e.g. "mcuc_conv_s8"
    params_type: str | None               # struct name, passed by const pointer first
    params: dict = field(default_factory=dict)
    args: list[Arg] = field(default_factory=list)
    scratch_bytes: int = 0
    macs: int = 0
    generated: GeneratedKernel | None = None  # None: fn is a runtime_c function
    uses: list = field(default_factory=list)  # generated KernelCalls the generated fn calls
    variant: Variant | None = None            # a fast builder's choices (None: portable)
    # bytes its output may start below an input that dies at it, the two overlapping
    # (backend/shift.py; None: they must not overlap)
    shift: int | None = None
    shifted: bool = False     # the search took this call on condition it is shifted so


def layer_fn(base: str, op) -> str:
    """Name of a kernel generated for one layer: `base` + op index, + the op's "variant" tag
    when one layer gets several kernels (patch tiles of different sizes)."""
    return f"{base}_op{op.index}{op.kernel.tag}"
