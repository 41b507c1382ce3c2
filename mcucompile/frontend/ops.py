"""The TFLite builtin ops the runtime can execute (int8 activations).

RELU_N1_TO_1 is left out on purpose: TFLM has no kernel for it, so there is no ground truth.
"""

SUPPORTED_OPS = frozenset({
    "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED",
    "ADD", "SUB", "MUL",
    "AVERAGE_POOL_2D", "MAX_POOL_2D", "MEAN",
    "SOFTMAX", "LOGISTIC", "TANH", "HARD_SWISH", "RELU", "RELU6", "LEAKY_RELU",
    "QUANTIZE",
    "RESHAPE", "SQUEEZE", "EXPAND_DIMS",
    "PAD", "PADV2", "CONCATENATION", "TRANSPOSE", "STRIDED_SLICE", "SLICE", "SPLIT", "SPLIT_V",
})

# Ops that only reinterpret a shape: the aliasing pass removes them, no code, no copy.
ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})
