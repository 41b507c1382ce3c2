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
    """C source of a kernel specialised for one call at compile time (see passes/select_kernels).

    `text` defines the call's function; `prototype` declares it for model.c; `runtime_files`
    are runtime_c/src-relative headers the text includes (copied into the project)."""

    text: str
    prototype: str
    runtime_files: tuple[str, ...] = ()


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


def layer_fn(base: str, op) -> str:
    """Name of a kernel generated for one layer: `base` + op index, + the op's "variant" tag
    when one layer gets several kernels (patch tiles of different sizes)."""
    return f"{base}_op{op.index}{op.kernel.get('variant', '')}"
