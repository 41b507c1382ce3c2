"""Small, deterministic INT8 TFLite model generators for tests.

Every public generator returns the ``bytes`` of a TFLite flatbuffer.  Unless
stated otherwise the model is *full INT8*: int8 input(s), int8 output(s),
int8 activations, int8 weights, int32 biases (post-training quantization
with a representative dataset of seeded random data).

Each generator's docstring has an ``Ops:`` line listing exactly the set of
TFLite builtin operators the model contains (``tests/test_modelgen.py``
checks it against :func:`ops_in`).

Weights are drawn from ``numpy.random.default_rng(seed)`` and baked into a
``tf.function`` as constants, so a given argument tuple always yields the
same bytes within a TF version.  Results are cached per process
(``functools.lru_cache``) and on disk in :data:`CACHE_DIR` (keyed by the
generator, its arguments, this file's text and the TF version), so test
processes after the first neither import TensorFlow nor convert again.

Model inputs are named ``input_0``, ``input_1``, ... and outputs
``output_0``, ...; the converter lists them in arbitrary order in the
subgraph, so every generated model is post-processed so that subgraph input
i is argument i and output i is result i (see ``_canonical_io``).
Representative data is uniform in ``input_range`` (default ``(-1, 1)``).

Helpers:
  * :func:`ops_in` - list of op names (in execution order) of a model.
  * :func:`run_tflm` - run a model through the TFLM reference interpreter.
  * :func:`io_quant` - (scale, zero_point) of model inputs/outputs.
  * :func:`quantize_input` - float -> int8 with the model's input params.
  * :func:`weight_scales` - per-op weight scales (per-channel check).

TFLM caveats seen while building this: the Python TFLM interpreter
SIGABRTs the whole process (no exception) when a kernel's Prepare fails,
e.g. SOFTMAX on a degenerate ~1e-8 input scale; it raises on a truncated
flatbuffer; it does NOT check the 'TFL3' identifier (wrong_magic() models
load and run).
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import os
import sys
import tempfile
import warnings

import numpy as np

__all__ = [
    "CACHE_DIR",
    "ops_in",
    "run_tflm",
    "io_quant",
    "quantize_input",
    "weight_scales",
    "convert_fn",
    "convert_keras",
    # generators
    "conv2d",
    "depthwise_conv2d",
    "dense",
    "dense_3d",
    "add",
    "sub",
    "mul",
    "avg_pool",
    "max_pool",
    "mean",
    "pad",
    "concat",
    "softmax",
    "logistic",
    "tanh",
    "hard_swish",
    "relu",
    "relu6",
    "leaky_relu",
    "reshape",
    "squeeze",
    "transpose",
    "strided_slice",
    "slice_",
    "split",
    "split_v",
    "residual_block",
    "small_cnn",
    "dead_channels",
    "requant_edges",
    "unsupported_op",
    "UNSUPPORTED_KINDS",
    "mobilenet_v1",
    "mobilenet_v2",
    "float_model",
    "truncated",
    "wrong_magic",
]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

#: On-disk cache of converted models (see on_disk). Override with the
#: ``MCUCOMPILE_MODEL_CACHE`` environment variable.
CACHE_DIR = os.environ.get(
    "MCUCOMPILE_MODEL_CACHE",
    os.path.join(tempfile.gettempdir(), "mcucompile_modelgen_cache"),
)

_REP_SAMPLES = 16


# --------------------------------------------------------------------------
# schema / interpreter helpers
# --------------------------------------------------------------------------

def _schema():
    from tflite_micro.tensorflow.lite.micro.python import (
        schema_py_generated as schema,
    )

    return schema


@functools.lru_cache(maxsize=None)
def _op_names() -> dict:
    s = _schema()
    return {
        v: k
        for k, v in vars(s.BuiltinOperator).items()
        if not k.startswith("_") and isinstance(v, int)
    }


def _model_t(model_bytes: bytes):
    s = _schema()
    return s.ModelT.InitFromPackedBuf(bytearray(model_bytes), 0)


def ops_in(model_bytes: bytes, subgraph: int = 0) -> list[str]:
    """Op names (e.g. ``'CONV_2D'``) of ``subgraph`` in execution order.

    The opcode is ``max(builtin_code, deprecated_builtin_code)`` as required
    by schema v3a.
    """
    m = _model_t(model_bytes)
    names = _op_names()
    out = []
    for op in m.subgraphs[subgraph].operators or []:
        oc = m.operatorCodes[op.opcodeIndex]
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        out.append(names.get(code, f"UNKNOWN_{code}"))
    return out


def _tensor_quant(t):
    q = t.quantization
    if q is None or q.scale is None:
        return None
    return [float(v) for v in q.scale], [int(v) for v in q.zeroPoint]


def io_quant(model_bytes: bytes):
    """Return ``(inputs, outputs)``: lists of ``(scale, zero_point)``."""
    m = _model_t(model_bytes)
    sg = m.subgraphs[0]

    def q(i):
        sq = _tensor_quant(sg.tensors[i])
        if sq is None:
            return (None, None)
        return (sq[0][0], sq[1][0])

    return [q(i) for i in sg.inputs], [q(i) for i in sg.outputs]


def weight_scales(model_bytes: bytes, op_name: str = None) -> list[list[float]]:
    """Scales of the weight (input #1) tensor of every op named ``op_name``
    (default: every CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED)."""
    m = _model_t(model_bytes)
    sg = m.subgraphs[0]
    names = _op_names()
    wanted = {op_name} if op_name else {
        "CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}
    res = []
    for op in sg.operators:
        oc = m.operatorCodes[op.opcodeIndex]
        if names[max(oc.builtinCode, oc.deprecatedBuiltinCode)] in wanted:
            sq = _tensor_quant(sg.tensors[op.inputs[1]])
            res.append(sq[0] if sq else [])
    return res


def quantize_input(model_bytes: bytes, x: np.ndarray, index: int = 0):
    """Quantize float ``x`` to int8 with the model's input ``index`` params."""
    (scale, zp) = io_quant(model_bytes)[0][index]
    q = np.round(np.asarray(x, np.float64) / scale) + zp
    return np.clip(q, -128, 127).astype(np.int8)


def run_tflm(model_bytes: bytes, inputs, arena_size: int | None = None):
    """Run ``model_bytes`` in the TFLM reference interpreter.

    ``inputs``: one array or a list of arrays (int8 for int8 models).
    Returns a list of output arrays.  The arena defaults to a generous
    ``max(1 MiB, 10 * len(model))`` (TFLM's own default of 10x model size is
    too small for tiny models with large activations).
    """
    from tflite_micro.python.tflite_micro import runtime

    if arena_size is None:
        arena_size = max(1 << 20, 10 * len(model_bytes))
    ip = runtime.Interpreter.from_bytes(bytes(model_bytes), arena_size=arena_size)
    if isinstance(inputs, np.ndarray):
        inputs = [inputs]
    for i, x in enumerate(inputs):
        ip.set_input(x, i)
    ip.invoke()
    n_out = len(_model_t(model_bytes).subgraphs[0].outputs)
    return [ip.get_output(i) for i in range(n_out)]


# --------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------

def _tf():
    if "tensorflow" not in sys.modules:
        with _silenced():
            import tensorflow as tf

            tf.config.list_physical_devices()  # noisy CUDA probing
    import tensorflow as tf

    try:
        tf.get_logger().setLevel("ERROR")
    except Exception:  # pragma: no cover
        pass
    return tf


def _seed_all(seed: int):
    tf = _tf()
    np.random.seed(seed)
    tf.random.set_seed(seed)
    try:
        import keras

        keras.utils.set_random_seed(seed)
    except Exception:  # pragma: no cover
        pass


def _rep_dataset(shapes, seed, input_range, n=_REP_SAMPLES):
    lo, hi = input_range

    def gen():
        rng = np.random.default_rng(seed + 12345)
        for _ in range(n):
            yield [rng.uniform(lo, hi, s).astype(np.float32) for s in shapes]

    return gen


def _configure(conv, shapes, seed, input_range, per_channel, quantize=True):
    tf = _tf()
    if quantize:
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = _rep_dataset(shapes, seed, input_range)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
        if not per_channel:
            # Private flag of the MLIR quantizer; verified by weight_scales().
            conv._experimental_disable_per_channel = True
    return conv


# Quiet TF/Keras conversions: the same fd-level silencer the demo uses.
from mcucompile.demo_model import _silenced  # noqa: E402


def _convert_quiet(conv) -> bytes:
    with warnings.catch_warnings(), _silenced():
        warnings.simplefilter("ignore")
        return _canonical_io(bytes(conv.convert()))


def _pack(m) -> bytes:
    """Serialize a schema ``ModelT`` back to TFLite bytes."""
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _canonical_io(model_bytes: bytes) -> bytes:
    """Reorder subgraph 0's inputs/outputs to the signature order.

    The converter lists subgraph inputs/outputs in an arbitrary order (e.g.
    ``[input_1, input_0]``, split outputs ``[1, 0, 2]``); the signature def
    has them in argument / return order.  We rewrite ``subgraphs[0].inputs``
    and ``.outputs`` so that index i == argument i / result i.
    """
    m = _model_t(model_bytes)
    if not m.signatureDefs:
        return model_bytes
    sd = m.signatureDefs[0]
    sg = m.subgraphs[0]

    def order(entries, current):
        def key(e):
            name = e.name.decode() if isinstance(e.name, bytes) else e.name
            tail = name.rsplit("_", 1)[-1]
            return int(tail) if tail.isdigit() else name
        try:
            want = [int(e.tensorIndex) for e in sorted(entries, key=key)]
        except TypeError:  # mixed names: keep signature order as is
            want = [int(e.tensorIndex) for e in entries]
        if sorted(want) != sorted(int(i) for i in current):
            return None
        return want

    ins = order(sd.inputs or [], sg.inputs)
    outs = order(sd.outputs or [], sg.outputs)
    changed = False
    if ins is not None and ins != [int(i) for i in sg.inputs]:
        sg.inputs, changed = np.array(ins, np.int32), True
    if outs is not None and outs != [int(i) for i in sg.outputs]:
        sg.outputs, changed = np.array(outs, np.int32), True
    return _pack(m) if changed else model_bytes


def convert_fn(fn, in_shapes, seed=0, input_range=(-1.0, 1.0),
               per_channel=True, quantize=True) -> bytes:
    """Convert python function ``fn(*inputs)`` of tf ops to TFLite bytes.

    ``in_shapes``: list of input shapes (float32 inputs named input_0..).
    """
    tf = _tf()
    _seed_all(seed)
    sig = [tf.TensorSpec(tuple(s), tf.float32, name=f"input_{i}")
           for i, s in enumerate(in_shapes)]
    module = tf.Module()
    module.f = tf.function(fn, input_signature=sig)
    cf = module.f.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], module)
    _configure(conv, in_shapes, seed, input_range, per_channel, quantize)
    return _convert_quiet(conv)


def convert_keras(model, seed=0, input_range=(-1.0, 1.0), per_channel=True,
                  quantize=True, rep_data=None) -> bytes:
    """Convert a Keras model (fixed input shapes incl. batch) to TFLite.

    ``rep_data``: optional callable returning the representative dataset
    generator (default: seeded uniform noise in ``input_range``).
    """
    tf = _tf()
    shapes = [tuple(d if d is not None else 1 for d in i.shape)
              for i in model.inputs]
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    _configure(conv, shapes, seed, input_range, per_channel, quantize)
    if quantize and rep_data is not None:
        conv.representative_dataset = rep_data
    return _convert_quiet(conv)


def _hashable(v):
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, np.ndarray):
        return _hashable(v.tolist())
    return v


@functools.lru_cache(maxsize=None)
def _generation(source_file: str = __file__) -> str:
    """What a cached conversion depends on besides its arguments: the generator's file (this
    one, or another module's using :func:`_cached`) and TF."""
    from importlib.metadata import version

    with open(source_file, "rb") as fh:
        source = hashlib.sha256(fh.read()).hexdigest()[:16]
    return f"{source}|{version('tensorflow')}"


def on_disk(stem: str, key: str, produce) -> bytes:
    """``produce()`` once per ``key`` across processes: its bytes are kept as
    CACHE_DIR/<stem>_<hash of key>.tflite (written under a temporary name and
    renamed, so a parallel test worker never reads half a file)."""
    path = os.path.join(CACHE_DIR, f"{stem}_{hashlib.sha256(key.encode()).hexdigest()[:16]}.tflite")
    if os.path.exists(path):
        with open(path, "rb") as fh:
            return fh.read()
    data = produce()
    os.makedirs(CACHE_DIR, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)
    return data


def _cached(fn):
    """lru_cache that accepts lists (converted to tuples) as arguments, backed by
    :func:`on_disk` (keyed by the text of the file that defines ``fn``);
    ``fn.uncached(...)`` converts afresh."""
    sig = inspect.signature(fn)
    source_file = inspect.getsourcefile(fn)

    @functools.lru_cache(maxsize=None)
    def inner(**kwargs):
        key = f"{fn.__name__}|{sorted(kwargs.items())!r}|{_generation(source_file)}"
        return on_disk(fn.__name__, key, lambda: fn(**kwargs))

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        # Normalize (positional / keyword / defaulted) to one cache key.
        bound = sig.bind(*args, **kwargs)
        bound.apply_defaults()
        return inner(**{k: _hashable(v) for k, v in bound.arguments.items()})

    wrapper.cache_clear = inner.cache_clear
    wrapper.cache_info = inner.cache_info
    wrapper.uncached = fn
    return wrapper


def _rng(seed):
    return np.random.default_rng(seed)


def _act(tf, x, activation):
    if activation is None or activation == "none":
        return x
    if activation == "relu":
        return tf.nn.relu(x)
    if activation == "relu6":
        return tf.nn.relu6(x)
    raise ValueError(f"unsupported fused activation {activation!r}")


def _pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# --------------------------------------------------------------------------
# generators: convolutions / FC
# --------------------------------------------------------------------------

@_cached
def conv2d(in_shape=(1, 9, 9, 3), filters=5, kernel=(3, 3), strides=(1, 1),
           padding="same", dilation=(1, 1), activation=None, use_bias=True,
           per_channel=True, stem=False, seed=0) -> bytes:
    """Single 2-D convolution, optional fused RELU/RELU6; `stem`: after a 3x3 convolution
    (so the layer's input is not the graph input).

    Ops: CONV_2D

    Weights per-channel quantized (one scale per output channel) unless
    ``per_channel=False`` (one scale). With ``use_bias=False`` the converter
    still adds an all-zero int32 bias tensor (3 op inputs either way).
    """
    tf = _tf()
    kh, kw = _pair(kernel)
    rng = _rng(seed)
    w = rng.normal(0, 0.5, (kh, kw, in_shape[-1], filters)).astype(np.float32)
    b = rng.normal(0, 0.2, (filters,)).astype(np.float32)

    ws = rng.normal(0, 0.5, (3, 3, in_shape[-1], in_shape[-1])).astype(np.float32)

    def f(x):
        if stem:
            x = tf.nn.relu(tf.nn.conv2d(x, ws, 1, "SAME"))
        y = tf.nn.conv2d(x, w, strides=(1,) + _pair(strides) + (1,),
                         padding=padding.upper(),
                         dilations=(1,) + _pair(dilation) + (1,))
        if use_bias:
            y = tf.nn.bias_add(y, b)
        return _act(tf, y, activation)

    return convert_fn(f, [in_shape], seed=seed, per_channel=per_channel)


@_cached
def depthwise_conv2d(in_shape=(1, 9, 9, 4), kernel=(3, 3), strides=(1, 1),
                     padding="same", depth_multiplier=1, dilation=(1, 1),
                     activation=None, per_channel=True, stem=False, seed=0) -> bytes:
    """Single depthwise convolution (with bias), optional fused RELU/RELU6; `stem`: after a
    3x3 convolution (so the layer's input is not the graph input).

    Ops: DEPTHWISE_CONV_2D
    """
    tf = _tf()
    kh, kw = _pair(kernel)
    cin = in_shape[-1]
    rng = _rng(seed)
    w = rng.normal(0, 0.5, (kh, kw, cin, depth_multiplier)).astype(np.float32)
    b = rng.normal(0, 0.2, (cin * depth_multiplier,)).astype(np.float32)
    ws = rng.normal(0, 0.5, (3, 3, cin, cin)).astype(np.float32)

    def f(x):
        if stem:
            x = tf.nn.relu(tf.nn.conv2d(x, ws, 1, "SAME"))
        y = tf.raw_ops.DepthwiseConv2dNative(
            input=x, filter=w, strides=(1,) + _pair(strides) + (1,),
            padding=padding.upper(), dilations=(1,) + _pair(dilation) + (1,))
        y = tf.nn.bias_add(y, b)
        return _act(tf, y, activation)

    return convert_fn(f, [in_shape], seed=seed, per_channel=per_channel)


@_cached
def dense(in_features=16, units=10, activation=None, batch_dims=(1,),
          use_bias=True, per_channel=True, seed=0) -> bytes:
    """Fully connected layer on input of shape ``batch_dims + (in_features,)``.

    Ops: FULLY_CONNECTED

    With ``len(batch_dims) > 1`` (e.g. ``(1, 4)``, input rank 3) the op has
    ``keep_num_dims=True`` and the output has shape ``batch_dims + (units,)``.
    Weights are per-channel quantized (one scale per output unit, TF 2.21
    default) unless ``per_channel=False`` (one scale).
    """
    tf = _tf()
    rng = _rng(seed)
    w = rng.normal(0, 0.5, (in_features, units)).astype(np.float32)
    b = rng.normal(0, 0.2, (units,)).astype(np.float32)
    in_shape = tuple(batch_dims) + (in_features,)

    def f(x):
        if len(batch_dims) == 1:
            y = tf.matmul(x, w)
        else:
            y = tf.tensordot(x, w, axes=[[len(batch_dims)], [0]])
        if use_bias:
            y = y + b
        return _act(tf, y, activation)

    return convert_fn(f, [in_shape], seed=seed, per_channel=per_channel)


def dense_3d(in_features=8, units=6, seq=4, activation=None, seed=0) -> bytes:
    """FULLY_CONNECTED on a rank-3 input ``(1, seq, in_features)`` with
    ``keep_num_dims=True`` (output ``(1, seq, units)``).

    Ops: FULLY_CONNECTED
    """
    return dense(in_features, units, activation, batch_dims=(1, seq), seed=seed)


# --------------------------------------------------------------------------
# elementwise binary
# --------------------------------------------------------------------------

def _binary(op, shape_a, shape_b, activation, const_b, seed, input_range):
    tf = _tf()
    if const_b:
        c = _rng(seed).uniform(-1, 1, shape_b).astype(np.float32)

        def f(a):
            return _act(tf, op(a, c), activation)

        return convert_fn(f, [shape_a], seed=seed, input_range=input_range)

    def f(a, b):
        return _act(tf, op(a, b), activation)

    return convert_fn(f, [shape_a, shape_b], seed=seed, input_range=input_range)


@_cached
def add(shape_a=(1, 4, 4, 3), shape_b=(1, 4, 4, 3), activation=None,
        const_b=False, seed=0) -> bytes:
    """Elementwise ``a + b`` (numpy broadcasting), optional fused RELU/RELU6.

    Ops: ADD

    Two model inputs (input 0 = a, input 1 = b) by default; with
    ``const_b=True`` b is a constant int8 tensor and the model has one input.
    Representative data: a in [-1, 1], b in [-1, 1] (different calibrated
    scales, so the kernel must rescale both operands).
    """
    tf = _tf()
    return _binary(tf.add, shape_a, shape_b, activation, const_b, seed,
                   (-1.0, 1.0))


@_cached
def sub(shape_a=(1, 4, 4, 3), shape_b=(1, 4, 4, 3), activation=None,
        const_b=False, seed=0) -> bytes:
    """Elementwise ``a - b`` (broadcasting), two inputs or constant b.

    Ops: SUB
    """
    tf = _tf()
    return _binary(tf.subtract, shape_a, shape_b, activation, const_b, seed,
                   (-1.0, 1.0))


@_cached
def mul(shape_a=(1, 4, 4, 3), shape_b=(1, 4, 4, 3), activation=None,
        const_b=False, seed=0) -> bytes:
    """Elementwise ``a * b`` (broadcasting), two inputs or constant b.

    Ops: MUL
    """
    tf = _tf()
    return _binary(tf.multiply, shape_a, shape_b, activation, const_b, seed,
                   (-1.0, 1.0))


# --------------------------------------------------------------------------
# pooling / reductions
# --------------------------------------------------------------------------

@_cached
def avg_pool(in_shape=(1, 8, 8, 3), pool=(2, 2), strides=(2, 2),
             padding="valid", seed=0) -> bytes:
    """Average pooling.

    Ops: AVERAGE_POOL_2D
    """
    tf = _tf()

    def f(x):
        return tf.nn.avg_pool2d(x, _pair(pool), _pair(strides),
                                padding.upper())

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def max_pool(in_shape=(1, 8, 8, 3), pool=(2, 2), strides=(2, 2),
             padding="valid", seed=0) -> bytes:
    """Max pooling.

    Ops: MAX_POOL_2D
    """
    tf = _tf()

    def f(x):
        return tf.nn.max_pool2d(x, _pair(pool), _pair(strides),
                                padding.upper())

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def mean(in_shape=(1, 6, 6, 4), axes=(1, 2), keepdims=False, seed=0) -> bytes:
    """Reduce-mean over ``axes`` (default = global average pooling).

    Ops: MEAN
    """
    tf = _tf()

    def f(x):
        return tf.reduce_mean(x, axis=list(axes), keepdims=keepdims)

    return convert_fn(f, [in_shape], seed=seed)


# --------------------------------------------------------------------------
# shape / data movement
# --------------------------------------------------------------------------

@_cached
def pad(in_shape=(1, 5, 5, 3), paddings=((0, 0), (1, 2), (2, 1), (0, 0)),
        seed=0) -> bytes:
    """Zero padding (pads with the zero point in int8).

    Ops: PAD
    """
    tf = _tf()

    def f(x):
        return tf.pad(x, [list(p) for p in paddings])

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def concat(shapes=((1, 4, 4, 3), (1, 4, 4, 5)), axis=-1, seed=0) -> bytes:
    """Concatenation of ``len(shapes)`` model inputs along ``axis``.

    Ops: CONCATENATION

    Inputs are calibrated on different ranges ([-1,1], [-2,2], ...), but the
    int8 quantizer forces one shared scale/zero point on all inputs and the
    output (the widest range).
    """
    tf = _tf()

    def f(*xs):
        return tf.concat(list(xs), axis=axis)

    return _convert_multi_range(f, shapes, seed)


def _convert_multi_range(f, shapes, seed):
    """convert_fn where input i is calibrated on [-(i+1), i+1]."""
    tf = _tf()
    _seed_all(seed)
    sig = [tf.TensorSpec(tuple(s), tf.float32, name=f"input_{i}")
           for i, s in enumerate(shapes)]
    module = tf.Module()
    module.f = tf.function(f, input_signature=sig)
    cf = module.f.get_concrete_function()
    conv = tf.lite.TFLiteConverter.from_concrete_functions([cf], module)
    _configure(conv, shapes, seed, (-1, 1), True)

    def gen():
        rng = np.random.default_rng(seed + 12345)
        for _ in range(_REP_SAMPLES):
            yield [rng.uniform(-(i + 1), i + 1, s).astype(np.float32)
                   for i, s in enumerate(shapes)]

    conv.representative_dataset = gen
    return _convert_quiet(conv)


@_cached
def reshape(in_shape=(1, 4, 4, 3), new_shape=(1, 48), seed=0) -> bytes:
    """Reshape.

    Ops: RESHAPE
    """
    tf = _tf()

    def f(x):
        return tf.reshape(x, new_shape)

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def squeeze(in_shape=(1, 1, 1, 8), axes=(1, 2), seed=0) -> bytes:
    """Squeeze size-1 dims.

    Ops: RESHAPE

    (The TFLite converter lowers tf.squeeze to RESHAPE; a SQUEEZE op is not
    emitted for static shapes.)
    """
    tf = _tf()

    def f(x):
        return tf.squeeze(x, axis=list(axes))

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def transpose(in_shape=(1, 3, 4, 5), perm=(0, 3, 1, 2), seed=0) -> bytes:
    """Transpose.

    Ops: TRANSPOSE
    """
    tf = _tf()

    def f(x):
        return tf.transpose(x, perm=list(perm))

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def strided_slice(in_shape=(1, 8, 8, 4), begin=(0, 1, 0, 1),
                  end=(1, 7, 8, 4), strides=(1, 2, 3, 1), seed=0) -> bytes:
    """Strided slice (no masks).

    Ops: STRIDED_SLICE
    """
    tf = _tf()

    def f(x):
        return tf.strided_slice(x, list(begin), list(end), list(strides))

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def slice_(in_shape=(1, 6, 6, 4), begin=(0, 1, 2, 0), size=(1, 3, 4, 2),
           seed=0) -> bytes:
    """Slice (``tf.slice``).

    Ops: SLICE
    """
    tf = _tf()

    def f(x):
        return tf.slice(x, list(begin), list(size))

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def split(in_shape=(1, 4, 4, 6), num=3, axis=-1, seed=0) -> bytes:
    """Split into ``num`` equal parts: a multi-output model (``num`` outputs,
    in split order).

    Ops: SPLIT
    """
    tf = _tf()

    def f(x):
        return tuple(tf.split(x, num, axis=axis))

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def split_v(in_shape=(1, 4, 4, 6), sizes=(1, 2, 3), axis=-1, seed=0) -> bytes:
    """Split into parts of the given ``sizes``: multi-output model.

    Ops: SPLIT_V
    """
    tf = _tf()

    def f(x):
        return tuple(tf.split(x, list(sizes), axis=axis))

    return convert_fn(f, [in_shape], seed=seed)


# --------------------------------------------------------------------------
# standalone activations
# --------------------------------------------------------------------------

def _unary(fn, shape, seed, input_range):
    return convert_fn(fn, [shape], seed=seed, input_range=input_range)


@_cached
def softmax(shape=(1, 10), beta=1.0, seed=0) -> bytes:
    """Softmax over the last axis (input calibrated on [-4, 4]).

    Ops: SOFTMAX

    Output quantization is fixed by TFLite: scale 1/256, zero point -128.
    The converter always emits ``beta=1``; ``beta != 1`` is written into the
    op's SoftmaxOptions afterwards (TFLM honours it).
    """
    tf = _tf()
    b = _unary(tf.nn.softmax, shape, seed, (-4.0, 4.0))
    if beta != 1.0:
        m = _model_t(b)
        (op,) = m.subgraphs[0].operators
        op.builtinOptions.beta = float(beta)
        b = _pack(m)
    return b


@_cached
def logistic(shape=(1, 4, 4, 3), seed=0) -> bytes:
    """Standalone sigmoid (input calibrated on [-6, 6]).

    Ops: LOGISTIC

    Output quantization fixed: scale 1/256, zero point -128.
    """
    tf = _tf()
    return _unary(tf.math.sigmoid, shape, seed, (-6.0, 6.0))


@_cached
def tanh(shape=(1, 4, 4, 3), seed=0) -> bytes:
    """Standalone tanh (input calibrated on [-3, 3]).

    Ops: TANH

    Output quantization fixed: scale 1/128, zero point 0.
    """
    tf = _tf()
    return _unary(tf.math.tanh, shape, seed, (-3.0, 3.0))


@_cached
def hard_swish(shape=(1, 4, 4, 3), seed=0) -> bytes:
    """Standalone hard-swish ``x * relu6(x + 3) / 6`` (input in [-5, 5]).

    Ops: HARD_SWISH
    """
    tf = _tf()

    def f(x):
        return x * tf.nn.relu6(x + 3.0) * (1.0 / 6.0)

    return _unary(f, shape, seed, (-5.0, 5.0))


@_cached
def relu(shape=(1, 4, 4, 3), seed=0) -> bytes:
    """Standalone ReLU (input in [-2, 2]).

    Ops: RELU
    """
    tf = _tf()
    return _unary(tf.nn.relu, shape, seed, (-2.0, 2.0))


@_cached
def relu6(shape=(1, 4, 4, 3), seed=0) -> bytes:
    """Standalone ReLU6 (input in [-8, 8]).

    Ops: RELU6
    """
    tf = _tf()
    return _unary(tf.nn.relu6, shape, seed, (-8.0, 8.0))


@_cached
def leaky_relu(shape=(1, 4, 4, 3), alpha=0.2, seed=0) -> bytes:
    """Standalone leaky ReLU (input in [-2, 2]).

    Ops: LEAKY_RELU
    """
    tf = _tf()

    def f(x):
        return tf.nn.leaky_relu(x, alpha=alpha)

    return _unary(f, shape, seed, (-2.0, 2.0))


# --------------------------------------------------------------------------
# small graphs
# --------------------------------------------------------------------------

@_cached
def residual_block(in_shape=(1, 8, 8, 4), kernel=3, seed=0) -> bytes:
    """Branching graph: ``relu(x + conv(relu(conv(x))))``.

    Ops: CONV_2D, ADD

    Both convs are 'same' padded with ``in_shape[-1]`` filters; the first
    conv has a fused RELU, the ADD has a fused RELU. The model input feeds
    both the first conv and the ADD (fan-out).
    """
    tf = _tf()
    c = in_shape[-1]
    rng = _rng(seed)
    w1 = rng.normal(0, 0.4, (kernel, kernel, c, c)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (c,)).astype(np.float32)
    w2 = rng.normal(0, 0.4, (kernel, kernel, c, c)).astype(np.float32)
    b2 = rng.normal(0, 0.1, (c,)).astype(np.float32)

    def f(x):
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, w1, 1, "SAME"), b1))
        y = tf.nn.bias_add(tf.nn.conv2d(y, w2, 1, "SAME"), b2)
        return tf.nn.relu(x + y)

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def small_cnn(in_shape=(1, 12, 12, 3), num_classes=5, seed=0) -> bytes:
    """Small sequential CNN chaining many supported ops.

    Ops: CONV_2D, DEPTHWISE_CONV_2D, MAX_POOL_2D, MEAN, FULLY_CONNECTED,
    SOFTMAX

    conv3x3(8, relu6, stride 2) -> dw3x3(relu) -> conv1x1(12) -> maxpool2x2
    -> mean(1,2) -> fc -> softmax.
    """
    tf = _tf()
    rng = _rng(seed)
    cin = in_shape[-1]
    w1 = rng.normal(0, 0.5, (3, 3, cin, 8)).astype(np.float32)
    b1 = rng.normal(0, 0.1, (8,)).astype(np.float32)
    wd = rng.normal(0, 0.5, (3, 3, 8, 1)).astype(np.float32)
    bd = rng.normal(0, 0.1, (8,)).astype(np.float32)
    w2 = rng.normal(0, 0.5, (1, 1, 8, 12)).astype(np.float32)
    b2 = rng.normal(0, 0.1, (12,)).astype(np.float32)
    wf = rng.normal(0, 0.5, (12, num_classes)).astype(np.float32)
    bf = rng.normal(0, 0.1, (num_classes,)).astype(np.float32)

    def f(x):
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, w1, 2, "SAME"), b1))
        y = tf.nn.relu(tf.nn.bias_add(
            tf.nn.depthwise_conv2d(y, wd, (1, 1, 1, 1), "SAME"), bd))
        y = tf.nn.bias_add(tf.nn.conv2d(y, w2, 1, "VALID"), b2)
        y = tf.nn.max_pool2d(y, 2, 2, "VALID")
        y = tf.reduce_mean(y, axis=[1, 2])
        y = tf.matmul(y, wf) + bf
        return tf.nn.softmax(y)

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def two_branches(in_shape=(1, 32, 32, 16), channels=34, out_channels=8, seed=0) -> bytes:
    """Two branches of one input joined by a concatenation, then a 1x1 conv: at the
    CONCATENATION both branches and their join are live (no op there can work in place).

    conv1x1(x) -> a, conv3x3(x) -> b (`channels` each, relu) -> concat(a, b) -> conv1x1
    (`out_channels`).

    Ops: CONV_2D, CONCATENATION
    """
    tf = _tf()
    rng = _rng(seed)
    cin = in_shape[-1]
    wa = rng.normal(0, 0.5, (1, 1, cin, channels)).astype(np.float32)
    wb = rng.normal(0, 0.3, (3, 3, cin, channels)).astype(np.float32)
    wc = rng.normal(0, 0.3, (1, 1, 2 * channels, out_channels)).astype(np.float32)

    def f(x):
        a = tf.nn.relu(tf.nn.conv2d(x, wa, 1, "SAME"))
        b = tf.nn.relu(tf.nn.conv2d(x, wb, 1, "SAME"))
        return tf.nn.conv2d(tf.concat([a, b], axis=-1), wc, 1, "SAME")

    return convert_fn(f, [in_shape], seed=seed)


@_cached
def kernel_chain(in_shape=(1, 11, 10, 3), big_channel=False, seed=0) -> bytes:
    """The layer shapes the fast kernels distinguish, chained (one model, one build):

    conv3x3 s1 SAME (in_c = the input's, e.g. 3 or 1) -> conv3x3 s2 VALID (6 -> 8, relu6)
    -> dw3x3 s1 SAME (relu6) -> dw5x5 s2 SAME -> conv1x1 (8 -> 12) -> conv1x1 (12 -> 5,
    relu6) -> FULLY_CONNECTED (5 outputs).

    `big_channel`: channel 0 of the relu6 conv and of the first depthwise layer gets
    weights 300x the others: with the relu6 output range their multipliers exceed 1, so
    channels of one layer shift left by different amounts.

    Ops: CONV_2D, DEPTHWISE_CONV_2D, RESHAPE, FULLY_CONNECTED
    """
    tf = _tf()
    rng = _rng(seed)
    cin = in_shape[-1]
    w1 = rng.normal(0, 0.5, (3, 3, cin, 6)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (3, 3, 6, 8)).astype(np.float32)
    wd1 = rng.normal(0, 0.5, (3, 3, 8, 1)).astype(np.float32)
    wd2 = rng.normal(0, 0.5, (5, 5, 8, 1)).astype(np.float32)
    w3 = rng.normal(0, 0.5, (1, 1, 8, 12)).astype(np.float32)
    w4 = rng.normal(0, 0.5, (1, 1, 12, 5)).astype(np.float32)
    if big_channel:
        w2[..., 0] *= 300
        wd1[:, :, 0, :] *= 300
    b = [rng.normal(0, 0.1, (n,)).astype(np.float32) for n in (6, 8, 8, 8, 12, 5)]

    def f(x):
        y = tf.nn.bias_add(tf.nn.conv2d(x, w1, 1, "SAME"), b[0])
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(y, w2, 2, "VALID"), b[1]))
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.depthwise_conv2d(y, wd1, (1, 1, 1, 1), "SAME"),
                                       b[2]))
        y = tf.nn.bias_add(tf.nn.depthwise_conv2d(y, wd2, (1, 2, 2, 1), "SAME"), b[3])
        y = tf.nn.bias_add(tf.nn.conv2d(y, w3, 1, "VALID"), b[4])
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(y, w4, 1, "VALID"), b[5]))
        y = tf.reshape(y, (1, -1))
        wf = tf.constant(rng.normal(0, 0.3, (int(y.shape[1]), 5)).astype(np.float32))
        return tf.matmul(y, wf)

    return convert_fn(f, [in_shape], seed=seed)


def gemm_chain(in_shape=(1, 9, 11, 7), dead=(), seed=0) -> bytes:
    """Layers for the DSP GEMM's one-pixel and direct tilings, odd shapes throughout:

    conv1x1 (7 -> 13: K % 4 = 3, rows at odd addresses) -> conv3x3 s2 SAME (13 -> 10,
    relu6: K = 117, no word-aligned runs, padding) -> conv1x1 (10 -> 70) -> conv1x1 (70 ->
    9, K = 70: more than 16 input words) -> conv3x3 SAME dilation 2 (9 -> 11) ->
    FULLY_CONNECTED on every pixel (11 -> 6, batches = pixels) -> FULLY_CONNECTED (180 -> 5).

    `dead`: output channels of the first two layers with weights at 1e-6 of the others and
    biases of +-0.5 (a trained network's dead channels: int32 biases near 2^31).

    Ops: CONV_2D, RESHAPE, FULLY_CONNECTED
    """
    tf = _tf()
    rng = _rng(seed)
    cin = in_shape[-1]
    w = [rng.normal(0, 0.5, (1, 1, cin, 13)), rng.normal(0, 0.3, (3, 3, 13, 10)),
         rng.normal(0, 0.5, (1, 1, 10, 70)), rng.normal(0, 0.2, (1, 1, 70, 9)),
         rng.normal(0, 0.3, (3, 3, 9, 11)), rng.normal(0, 0.4, (11, 6))]
    b = [rng.normal(0, 0.1, (n,)) for n in (13, 10, 70, 9, 11, 6)]
    for c in dead:
        for i in (0, 1):
            w[i][..., c] *= 1e-6
            b[i][c] = 0.5 if c % 2 else -0.5
    w = [a.astype(np.float32) for a in w]
    b = [a.astype(np.float32) for a in b]

    def f(x):
        y = tf.nn.bias_add(tf.nn.conv2d(x, w[0], 1, "VALID"), b[0])
        y = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(y, w[1], 2, "SAME"), b[1]))
        y = tf.nn.bias_add(tf.nn.conv2d(y, w[2], 1, "VALID"), b[2])
        y = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(y, w[3], 1, "VALID"), b[3]))
        y = tf.nn.bias_add(tf.nn.conv2d(y, w[4], 1, "SAME", dilations=2), b[4])
        n = int(y.shape[1] * y.shape[2])
        y = tf.tensordot(tf.reshape(y, (1, n, 11)), w[5], axes=[[2], [0]]) + b[5]
        y = tf.reshape(y, (1, -1))
        wf = tf.constant(rng.normal(0, 0.3, (int(y.shape[1]), 5)).astype(np.float32))
        return tf.matmul(y, wf)

    return convert_fn(f, [in_shape], seed=seed)


#: kind -> ops of :func:`unsupported_op` models (all int8 in/out, all run in
#: TFLM).  'cumsum' has no int8 kernel in the converter and becomes a float
#: island: DEQUANTIZE -> CUMSUM(float32) -> QUANTIZE.
UNSUPPORTED_KINDS = {
    "log_softmax": ["LOG_SOFTMAX"],
    "abs": ["ABS"],
    "cumsum": ["DEQUANTIZE", "CUMSUM", "QUANTIZE"],
}


@_cached
def dead_channels(layer="conv", in_shape=(1, 16, 16, 3), out_c=32, kernel=(1, 1),
                  strides=(1, 1), padding="same", dead=(0, 5), dead_bias=(0.5, -0.5),
                  activation="relu", head=8, seed=1) -> bytes:
    """A trained network's "dead" output channels: a stem (3x3 conv + RELU to 16 channels,
    to `out_c` before a depthwise layer), the layer under test with output channels `dead`
    at 1e-6 of the other weights and biases `dead_bias` (so a tiny per-channel weight scale
    and an int32 bias near 2^31), `activation`, then a 1x1 conv to `head` channels (a wide
    head makes the layer-wise memory bound, leaving the layer under test room for scratch).
    `layer`: "conv" (`kernel`, `strides`, `padding`), "depthwise" (the same) or "dense"
    (`in_shape` (1, features); stem and head are dense layers too).

    Ops: CONV_2D

    ("depthwise": CONV_2D, DEPTHWISE_CONV_2D; "dense": FULLY_CONNECTED.)
    """
    tf = _tf()
    rng = _rng(seed)
    dense, dw = layer == "dense", layer == "depthwise"
    mid = out_c if dw else 16
    kh, kw = _pair(kernel)
    w1 = rng.normal(0, 0.5, (in_shape[-1], mid) if dense else (3, 3, in_shape[-1], mid))
    w2 = rng.normal(0, 0.3, (mid, out_c) if dense else (kh, kw, mid, 1) if dw else
                    (kh, kw, mid, out_c))
    b2 = rng.normal(0, 0.2, (out_c,))
    for c, b in zip(dead, dead_bias):
        if dw:
            w2[:, :, c] *= 1e-6
        else:
            w2[..., c] *= 1e-6
        b2[c] = b
    w3 = rng.normal(0, 0.3, (out_c, head) if dense else (1, 1, out_c, head))
    w1, w2, b2, w3 = (a.astype(np.float32) for a in (w1, w2, b2, w3))
    stride = (1,) + _pair(strides) + (1,)

    def f(x):
        if dense:
            y = tf.nn.relu(tf.matmul(x, w1))
            return tf.matmul(_act(tf, tf.matmul(y, w2) + b2, activation), w3)
        y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        if dw:
            y = tf.nn.depthwise_conv2d(y, w2, stride, padding.upper())
        else:
            y = tf.nn.conv2d(y, w2, stride, padding.upper())
        return tf.nn.conv2d(_act(tf, tf.nn.bias_add(y, b2), activation), w3, 1, "SAME")

    return convert_fn(f, [in_shape], seed=seed)


def requant_edges(model_bytes: bytes, op: int = 1, biases=(2**31 - 1, -2**31),
                  out_scale: float = 1.0) -> bytes:
    """`model_bytes` with op `op`'s int32 bias set to `biases` on its first channels (the
    ends of int32: the accumulation wraps) and its output tensor's scale times `out_scale`
    (e.g. 2^-16: a tiny output range, so multipliers >= 1, left shifts, and TFLM's int32
    `x * (1 << left)` wraps). TFLM runs any such int8 model; no converter makes one."""
    m = _model_t(model_bytes)
    sg = m.subgraphs[0]
    operator = sg.operators[op]
    bias = sg.tensors[operator.inputs[2]]
    values = np.frombuffer(bytes(bytearray(m.buffers[bias.buffer].data)), "<i4").copy()
    values[:len(biases)] = biases
    m.buffers[bias.buffer].data = np.frombuffer(values.tobytes(), np.uint8)
    out = sg.tensors[operator.outputs[0]].quantization
    out.scale = np.asarray(out.scale, np.float32) * np.float32(out_scale)
    return _pack(m)


@_cached
def unsupported_op(shape=(1, 4, 4, 3), kind="log_softmax",
                   seed=0) -> bytes:
    """A model with an op mcucompile does not support (default kind:
    LOG_SOFTMAX).

    Ops: LOG_SOFTMAX

    TFLM runs it in int8, so the reference interpreter works, but the op is
    outside mcucompile's op set.  Other ``kind`` values (op lists in
    :data:`UNSUPPORTED_KINDS`): 'abs', 'cumsum' (float CUMSUM between
    DEQUANTIZE/QUANTIZE).
    """
    tf = _tf()
    fns = {
        "log_softmax": tf.nn.log_softmax,
        "abs": tf.math.abs,
        "cumsum": lambda x: tf.math.cumsum(x, axis=-1),
    }
    if kind not in fns:
        raise ValueError(f"kind must be one of {sorted(fns)}")
    return convert_fn(fns[kind], [shape], seed=seed, input_range=(-2.0, 2.0))


# --------------------------------------------------------------------------
# mobilenet v2
# --------------------------------------------------------------------------

def mobilenet_v1(alpha=0.25, size=96, channels=3, num_classes=2, seed=0,
                 dead_every=0) -> bytes:
    """Keras MobileNet (V1, ``weights=None``) as full INT8: MLPerf Tiny's visual wake words
    network is alpha 0.25 at 96x96x3, person_detect the same with one channel. Cached like
    :func:`mobilenet_v2`. `dead_every` n > 0: like a trained network, every n-th output
    channel of each convolution and depthwise convolution is "dead" (weights times 1e-6 after
    the BatchNorm statistics are set, so it outputs a constant: a tiny weight scale and an
    int32 bias near 2^31 after conversion).

    Ops: CONV_2D, DEPTHWISE_CONV_2D, MEAN, RESHAPE, SOFTMAX
    """
    return _keras_app_cached("MobileNet", alpha, size, channels, num_classes, seed, dead_every)


def mobilenet_v2(alpha=0.35, size=96, num_classes=10, seed=0) -> bytes:
    """Keras MobileNetV2 (``weights=None``, random init) as full INT8.

    Ops: CONV_2D, DEPTHWISE_CONV_2D, ADD, MEAN, FULLY_CONNECTED, SOFTMAX

    (Keras' ZeroPadding2D before the stride-2 depthwise convs is folded
    into the convs by the converter: no PAD op.)

    Slow to convert, so the bytes are cached on disk in :data:`CACHE_DIR`
    keyed by arguments and TF version (and in-process).
    """
    return _keras_app_cached("MobileNetV2", alpha, size, 3, num_classes, seed)


@functools.lru_cache(maxsize=None)
def _keras_app_cached(app, alpha, size, channels, num_classes, seed, dead_every=0) -> bytes:
    from importlib.metadata import version

    # keyed by a tag, not this file's text: an edit elsewhere in the file does not cost
    # minutes of Keras conversions (bump the tag when this function changes)
    tag = "mnv2-v2" if app == "MobileNetV2" else f"{app}-{channels}"
    tag += f"-dead{dead_every}" if dead_every else ""
    key = f"{tag}|{alpha}|{size}|{num_classes}|{seed}|{version('tensorflow')}"
    stem = "mobilenet_v2" if app == "MobileNetV2" else app.lower()
    return on_disk(stem, key, lambda: _keras_app(app, alpha, size, channels, num_classes, seed,
                                                 dead_every))


def _keras_app(app, alpha, size, channels, num_classes, seed, dead_every) -> bytes:
    _tf()
    _seed_all(seed)
    import keras

    inp = keras.Input((size, size, channels), batch_size=1)
    model = getattr(keras.applications, app)(
        weights=None, alpha=alpha, input_tensor=inp, classes=num_classes)
    # With fresh BatchNorm statistics the random network's activations die
    # out (calibrated ranges ~1e-8, flat softmax, and TFLM aborts in
    # SOFTMAX prepare).  Set every BN's moving mean/var to the batch
    # statistics of one forward pass on random images (momentum 0), so the
    # inference-mode activations are ~N(0, 1) per channel.
    rng = np.random.default_rng(seed + 777)
    calib = rng.uniform(-1, 1, (16, size, size, channels)).astype(np.float32)
    bns = [l for l in model.layers
           if isinstance(l, keras.layers.BatchNormalization)]
    for bn in bns:
        bn.momentum = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # batch 16 vs. declared batch 1
        model([calib], training=True)
    for bn in bns:
        bn.momentum = 0.999
    if dead_every:
        for layer in model.layers:
            if isinstance(layer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                w = layer.get_weights()
                k = w[0].copy()          # [kh, kw, in, out] or depthwise [kh, kw, C, 1]
                axis = 2 if isinstance(layer, keras.layers.DepthwiseConv2D) else 3
                index = [slice(None)] * 4
                index[axis] = slice(dead_every - 1, None, dead_every)
                k[tuple(index)] *= 1e-6
                layer.set_weights([k] + w[1:])

    def rep():
        rng = np.random.default_rng(seed + 12345)
        for _ in range(8):
            yield [rng.uniform(-1, 1, (1, size, size, channels)).astype(np.float32)]

    return convert_keras(model, seed=seed, rep_data=rep)


# --------------------------------------------------------------------------
# non-int8 / corrupt models
# --------------------------------------------------------------------------

@_cached
def float_model(in_shape=(1, 8), units=4, seed=0) -> bytes:
    """Plain float32 model (no quantization): dense + relu.

    Ops: FULLY_CONNECTED
    """
    tf = _tf()
    rng = _rng(seed)
    w = rng.normal(0, 0.5, (in_shape[-1], units)).astype(np.float32)
    b = rng.normal(0, 0.1, (units,)).astype(np.float32)

    def f(x):
        return tf.nn.relu(tf.matmul(x, w) + b)

    return convert_fn(f, [in_shape], seed=seed, quantize=False)


def truncated(model_bytes: bytes, n: int = 64) -> bytes:
    """The first ``n`` bytes of ``model_bytes`` (a corrupt flatbuffer)."""
    return bytes(model_bytes[:n])


def wrong_magic(model_bytes: bytes) -> bytes:
    """``model_bytes`` with the 'TFL3' file identifier (bytes 4..8) replaced
    by 'XXXX'."""
    b = bytearray(model_bytes)
    b[4:8] = b"XXXX"
    return bytes(b)


@_cached
def inverted_residual(in_shape=(1, 12, 12, 8), expand=24, out_c=8, kernel=(3, 3),
                      strides=(1, 1), padding="same", dilation=(1, 1), residual=True,
                      residual_first=True, extra_reader=False, seed=0) -> bytes:
    """A stem 1x1 conv, then MobileNetV2's inverted residual block: 1x1 expansion (RELU6) ->
    depthwise (RELU6) -> 1x1 linear projection [-> ADD of the block input, in either operand
    order]; `extra_reader`: the block input also feeds a second 1x1 conv whose output is
    added at the end (so it is still read after the block).

    Ops: CONV_2D, DEPTHWISE_CONV_2D, ADD
    """
    tf = _tf()
    rng = _rng(seed)
    c = in_shape[-1]
    kh, kw = _pair(kernel)
    stem = rng.normal(0, 0.5, (1, 1, c, c)).astype(np.float32)
    we = rng.normal(0, 0.5, (1, 1, c, expand)).astype(np.float32)
    wd = rng.normal(0, 0.5, (kh, kw, expand, 1)).astype(np.float32)
    wp = rng.normal(0, 0.3, (1, 1, expand, out_c)).astype(np.float32)
    ws = rng.normal(0, 0.5, (1, 1, c, out_c)).astype(np.float32)
    be, bd, bp = (rng.normal(0, 0.2, (n,)).astype(np.float32) for n in (expand, expand, out_c))

    def f(x):
        x = tf.nn.relu6(tf.nn.conv2d(x, stem, 1, "VALID"))
        e = tf.nn.relu6(tf.nn.bias_add(tf.nn.conv2d(x, we, 1, "VALID"), be))
        d = tf.nn.depthwise_conv2d(e, wd, (1,) + _pair(strides) + (1,), padding.upper(),
                                   dilations=_pair(dilation))
        d = tf.nn.relu6(tf.nn.bias_add(d, bd))
        y = tf.nn.bias_add(tf.nn.conv2d(d, wp, 1, "VALID"), bp)
        if residual:
            y = x + y if residual_first else y + x
        if extra_reader:
            y = y + tf.nn.conv2d(x, ws, _pair(strides), "SAME")
        return y

    return convert_fn(f, [in_shape], seed=seed)
