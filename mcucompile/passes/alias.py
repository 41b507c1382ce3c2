"""Aliasing: RESHAPE / SQUEEZE / EXPAND_DIMS only reinterpret a shape, so their output shares
its input's memory (Tensor.alias_of) and the op generates no code and no copy."""
from __future__ import annotations

from ..errors import McucError
from ..frontend.ops import ALIAS_OPS
from ..ir import Graph


def alias_reshapes(graph: Graph) -> Graph:
    for op in graph.ops:
        if op.type not in ALIAS_OPS:
            continue
        x, y = op.inputs[0], op.outputs[0]
        if x.size != y.size:
            raise McucError(f"{op.type} changes the element count ({list(x.shape)} -> "
                            f"{list(y.shape)})", f"{graph.source}: {op.where}")
        if x.quant is not None and not x.quant.same_as(y.quant):
            raise McucError(f"{op.type} input and output quantization differ",
                            f"{graph.source}: {op.where}")
        if x.is_const:
            y.data = x.data.reshape(y.shape)
        else:
            y.alias_of = x
        op.is_alias = True
    return graph
