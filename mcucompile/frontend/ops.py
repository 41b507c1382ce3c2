"""The TFLite builtin ops the runtime can execute (int8 activations), and why any other op
is refused (`unsupported_reason`: the one line every command prints for it, and `info`'s
status column).

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
    "SVDF", "UNIDIRECTIONAL_SEQUENCE_LSTM",
    # issue 14
    "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "MINIMUM", "MAXIMUM", "ARG_MAX", "ARG_MIN",
    "GATHER", "SQUARED_DIFFERENCE", "RSQRT", "TRANSPOSE_CONV", "BATCH_MATMUL", "DEQUANTIZE",
})

# Activation types other than int8 an op takes: (its data inputs, its outputs). Everything
# else is int8. So an int16 graph input (TFLM's SVDF keyword model) reaches the int8 body
# through a QUANTIZE, and an int16 / int32 result leaves it through one; an SVDF's state (a
# variable tensor) may be int16.
WIDE_DTYPES = {
    "QUANTIZE": (("int16",), ("int16", "int32")),
    "SOFTMAX": ((), ("int16",)),
    "SVDF": (("int16",), ()),
    "UNIDIRECTIONAL_SEQUENCE_LSTM": (("int16",), ()),    # the cell state
}

# Ops whose output is int32 indices, not int8 data (TFLM writes int32 only): such a tensor
# may be reshaped and must end as a graph output (frontend/tflite.py check_supported).
INDEX_OPS = frozenset({"ARG_MAX", "ARG_MIN"})

# Ops that only reinterpret a shape: the aliasing pass removes them, no code, no copy.
ALIAS_OPS = frozenset({"RESHAPE", "SQUEEZE", "EXPAND_DIMS"})

# The builtin options table each op reads (schema BuiltinOptions names). An op given another
# table, or none where its table has fields, is refused: TFLM would read a missing table as
# zeros (stride 0, beta 0 ...) and a foreign one not at all. Ops not listed take no options;
# OPTIONAL_OPTIONS may go without (converters write RESHAPE without options, its shape is a
# tensor; a missing table reads as no fused activation both in TFLM and here).
OPTIONS = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "ADD": "AddOptions", "SUB": "SubOptions",
    "MUL": "MulOptions", "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
    "MEAN": "ReducerOptions", "SOFTMAX": "SoftmaxOptions", "LEAKY_RELU": "LeakyReluOptions",
    "HARD_SWISH": "HardSwishOptions", "QUANTIZE": "QuantizeOptions",
    "RESHAPE": "ReshapeOptions", "SQUEEZE": "SqueezeOptions", "EXPAND_DIMS": "ExpandDimsOptions",
    "PAD": "PadOptions", "PADV2": "PadV2Options", "CONCATENATION": "ConcatenationOptions",
    "TRANSPOSE": "TransposeOptions", "STRIDED_SLICE": "StridedSliceOptions",
    "SLICE": "SliceOptions", "SPLIT": "SplitOptions", "SPLIT_V": "SplitVOptions",
    "SVDF": "SVDFOptions",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "UnidirectionalSequenceLSTMOptions",
    "RESIZE_NEAREST_NEIGHBOR": "ResizeNearestNeighborOptions",
    "RESIZE_BILINEAR": "ResizeBilinearOptions",
    "MINIMUM": "MaximumMinimumOptions", "MAXIMUM": "MaximumMinimumOptions",
    "ARG_MAX": "ArgMaxOptions", "ARG_MIN": "ArgMinOptions",
    "GATHER": "GatherOptions", "SQUARED_DIFFERENCE": "SquaredDifferenceOptions",
    "TRANSPOSE_CONV": "TransposeConvOptions", "BATCH_MATMUL": "BatchMatMulOptions",
}
OPTIONAL_OPTIONS = frozenset({"RESHAPE", "ADD", "SUB", "MUL"})

# What a CUSTOM op is, for the custom codes a user meets (the converter and Vela write them).
CUSTOM_CODES = {
    "ethos-u": "a command stream for an Ethos-U NPU compiled by Vela; give the model from "
               "before Vela",
    "TFLite_Detection_PostProcess": "SSD detection post-processing (box decoding and "
                                    "non-maximum suppression) has no kernel here; cut the "
                                    "model before it and run it in your application",
}
NO_GROUND_TRUTH = {"RELU_N1_TO_1": "TFLM has no kernel for it (no reference to be exact with)"}


def unsupported_reason(op_type: str, custom_code: str | None = None) -> str | None:
    """None when the op runs here; else one line saying which op it is and why not
    ("CUMSUM is not supported", "CUSTOM op 'ethos-u': a command stream ...")."""
    from ..escape import shown
    if op_type == "CUSTOM":
        what = CUSTOM_CODES.get(custom_code or "", "a custom op is not supported (it has no "
                                "kernel outside the application that registered it)")
        return f"CUSTOM op {shown(custom_code or '')}: {what}"
    if op_type in SUPPORTED_OPS:
        return None
    # (builtin names come from the schema's table, or "builtin_N" for an unknown code)
    if op_type in NO_GROUND_TRUTH:
        return f"{op_type} is not supported: {NO_GROUND_TRUTH[op_type]}"
    return f"{op_type} is not supported"
