"""The intermediate representation every frontend lowers to and every later stage reads.

A Graph is a list of tensors and a topologically ordered list of ops. Tensors carry shape,
dtype, quantization (per-tensor or per-channel along `axis`) and, for constants, their data.
Ops carry a TFLite-style type name, attributes, input/output tensors and the index they had in
the source model, so any later error can name "op 12 (CONV_2D)". Passes attach the numbers a
kernel needs (requantisation multipliers, resolved padding ...) in `op.kernel`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field, replace

import numpy as np

# Hard caps on what a microcontroller model can be; checked before anything is allocated so a
# corrupt file with absurd shapes fails fast with a clear error.
MAX_TENSOR_ELEMENTS = 1 << 28
MAX_RANK = 6


@dataclass
class Quant:
    """r = scale * (q - zero_point); per-channel when len(scale) > 1 (along `axis`)."""

    scale: np.ndarray          # float32, shape [1] or [channels]
    zero_point: np.ndarray     # int64, same length as scale
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def scalar(self) -> tuple[float, int]:
        """(scale, zero_point) of a per-tensor quantization, as TFLM sees them (float32)."""
        return float(np.float32(self.scale[0])), int(self.zero_point[0])

    def same_as(self, other: "Quant | None") -> bool:
        return (other is not None and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))


@functools.lru_cache(maxsize=4096)
def _element_count(shape: tuple) -> int:
    return math.prod(int(d) for d in shape)


@functools.lru_cache(maxsize=4096)
def _byte_count(shape: tuple, dtype: str) -> int:
    return _element_count(shape) * np.dtype(dtype).itemsize


@dataclass(eq=False)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str                       # numpy dtype name: "int8", "int32", "float32" ...
    quant: Quant | None = None
    data: np.ndarray | None = None   # constant contents, already shaped
    index: int = -1                  # index in the source model
    alias_of: "Tensor | None" = None  # set by the aliasing pass: shares that tensor's memory
    # a TFLite variable tensor: state an op reads and updates in place, kept across runs in
    # the arena's state region (never planned; planner/arena.py place_state)
    variable: bool = False

    @property
    def is_const(self) -> bool:
        return self.data is not None

    @property
    def planned(self) -> bool:
        """Does the arena planner give it a buffer (a non-constant, non-state tensor)?"""
        return self.data is None and not self.variable

    @property
    def size(self) -> int:
        try:
            return _element_count(self.shape)   # (the planner asks very often)
        except TypeError:                       # an unhashable (list) shape
            return math.prod(int(d) for d in self.shape)

    @property
    def nbytes(self) -> int:
        try:
            return _byte_count(self.shape, self.dtype)
        except TypeError:                       # an unhashable (list) shape
            return math.prod(int(d) for d in self.shape) * np.dtype(self.dtype).itemsize

    def storage(self) -> "Tensor":
        """The tensor whose memory this one occupies (itself unless aliased)."""
        t = self
        while t.alias_of is not None:
            t = t.alias_of
        return t

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, {list(self.shape)}, {self.dtype})"


@dataclass
class OpKernel:
    """What an op runs: the calls codegen prints, and what the passes and the planner chose
    them from. Filled by the lowering (passes/lower.py); the kernel search
    (planner/search.py) sets `calls` on its own copy of the graph's ops."""

    calls: list = field(default_factory=list)    # KernelCalls (passes/kernel_call.py), in order
    # the lowering's portable calls while `calls` holds fast variants of them (None: `calls`
    # are the portable ones)
    portable: list | None = None
    scratch_budget: int = 0          # scratch select_kernels left the op (builders' default)
    tag: str = ""                    # suffix of its generated kernels' names (tiles, rows)
    in_place_of: "Op | None" = None  # the op an in-place copy was made from (inplace.py)
    streamed: list | None = None     # the layers a streamed block step runs (streaming.py)
    rows: object = None              # that step's call on fast row kernels, if any
    over_input: bool = False         # the streamed step writes over its input

    def lowered(self) -> list:
        """The portable calls (whatever `calls` holds now)."""
        return self.portable if self.portable is not None else self.calls

    def take_portable(self) -> list:
        """Back to the portable calls: returns them and forgets the fast ones' origin."""
        portable, self.portable = self.portable, None
        return portable

    def copy(self) -> "OpKernel":
        return replace(self, calls=list(self.calls),
                       portable=None if self.portable is None else list(self.portable))


@dataclass(eq=False)
class Op:
    type: str                            # e.g. "CONV_2D"
    inputs: list[Tensor | None]          # None for an omitted optional input (e.g. bias)
    outputs: list[Tensor]
    attrs: dict = field(default_factory=dict)
    index: int = -1                      # index in the source model's operator list
    kernel: OpKernel = field(default_factory=OpKernel)   # filled by passes: what it runs
    is_alias: bool = False               # reshape-like op that generates no code

    @property
    def where(self) -> str:
        return f"op {self.index} ({self.type})"

    def __repr__(self) -> str:
        return f"Op({self.index}, {self.type})"


@dataclass
class Graph:
    name: str
    tensors: list[Tensor]
    ops: list[Op]
    inputs: list[Tensor]
    outputs: list[Tensor]
    source: str = ""                     # file the graph came from, for messages
    # graph input position -> perm: the model file's input is the firmware's input (this
    # graph's) transposed by perm, e.g. (0, 3, 1, 2) for an NCHW model input fed NHWC
    input_perms: dict[int, tuple[int, ...]] = field(default_factory=dict)
    # op index -> why it has no kernel here: set only on a graph the frontend returned
    # unchecked for `info` (load_model(keep_unsupported=True)); nothing compiles such a graph
    unsupported: dict[int, str] = field(default_factory=dict)

    def consumers(self, t: Tensor) -> list[Op]:
        return [op for op in self.ops if any(i is t for i in op.inputs)]

    def producer(self, t: Tensor) -> Op | None:
        for op in self.ops:
            if any(o is t for o in op.outputs):
                return op
        return None

    def input_layout(self, k: int) -> str | None:
        """How graph input k's layout differs from the model file's input, in words (None if
        it does not): what `info` and model.h state."""
        perm = self.input_perms.get(k)
        if perm is None:
            return None
        if tuple(perm) == (0, 3, 1, 2):
            return "NHWC (the model file's input is NCHW: transposed at compile time)"
        return f"the model file's input is this one transposed by {list(perm)}"

    def activations(self) -> list[Tensor]:
        """Non-constant, non-state tensors used by the graph (what the planner packs)."""
        seen: dict[int, Tensor] = {}
        for t in self.inputs:
            seen[id(t)] = t
        for op in self.ops:
            for t in list(op.inputs) + list(op.outputs):
                if t is not None and t.planned:
                    seen[id(t)] = t
        return list(seen.values())

    def state(self) -> list[Tensor]:
        """The variable tensors the ops read, in model order (the arena's state region)."""
        seen: dict[int, Tensor] = {}
        for op in self.ops:
            for t in op.inputs:
                if t is not None and t.variable:
                    seen[id(t)] = t
        return list(seen.values())
