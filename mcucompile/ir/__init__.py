"""IR: tensors, ops and graphs shared by all frontends and later stages."""
from .graph import Graph, Op, OpKernel, Quant, Tensor  # noqa: F401
from .validate import validate  # noqa: F401
from .verify import verify  # noqa: F401
