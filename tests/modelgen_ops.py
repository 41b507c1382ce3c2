"""Full-INT8 TFLite models for the ops of issue 14 part 4 (resize, minimum/maximum, ...), made
by TensorFlow's converter like tests/modelgen.py's, and cached on disk the same way (keyed by
this file's text, so editing it does not re-convert modelgen.py's models).

Each generator's docstring has an ``Ops:`` line listing the TFLite builtins its model holds
(tests/test_new_ops.py checks it against modelgen.ops_in).
"""
from __future__ import annotations

import numpy as np

from modelgen import _cached, _rng, _tf, convert_fn


@_cached
def resize(in_shape=(1, 5, 7, 3), size=(10, 14), method="nearest", align_corners=False,
           half_pixel_centers=False, seed=0) -> bytes:
    """tf.compat.v1.image.resize_{nearest_neighbor,bilinear} to `size` (up or down), with
    the two coordinate conventions TFLite keeps as options.

    Ops: RESIZE_NEAREST_NEIGHBOR

    (method "bilinear": RESIZE_BILINEAR.)
    """
    tf = _tf()
    fn = (tf.compat.v1.image.resize_nearest_neighbor if method == "nearest"
          else tf.compat.v1.image.resize_bilinear)

    def f(x):
        return fn(x, size, align_corners=align_corners, half_pixel_centers=half_pixel_centers)
    return convert_fn(f, [in_shape], seed=seed)


@_cached
def upsampling(in_shape=(1, 6, 5, 4), factor=(2, 3), interpolation="nearest", seed=0) -> bytes:
    """A 3x3 convolution, then tf.image.resize by `factor` (TF2's resize, half-pixel
    centers: what decoder heads use; Keras' nearest UpSampling2D converts to TILE instead),
    then another 3x3 convolution.

    Ops: CONV_2D, RESIZE_NEAREST_NEIGHBOR

    (interpolation "bilinear": CONV_2D, RESIZE_BILINEAR.)
    """
    tf = _tf()
    rng = _rng(seed)
    w1 = rng.normal(0, 0.4, (3, 3, in_shape[-1], 6)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (3, 3, 6, 5)).astype(np.float32)
    size = (in_shape[1] * factor[0], in_shape[2] * factor[1])

    def f(x):
        y = tf.nn.relu(tf.nn.conv2d(x, w1, 1, "SAME"))
        return tf.nn.conv2d(tf.image.resize(y, size, interpolation), w2, 1, "SAME")
    return convert_fn(f, [in_shape], seed=seed)


@_cached
def min_max(shape_a=(1, 4, 4, 3), shape_b=(1, 4, 4, 3), kind="maximum", const_b=False,
            seed=0) -> bytes:
    """tf.maximum / tf.minimum of two inputs (broadcasting), or of one input and a constant.

    Ops: MAXIMUM

    (kind "minimum": MINIMUM.)
    """
    tf = _tf()
    fn = tf.maximum if kind == "maximum" else tf.minimum
    if const_b:
        c = _rng(seed).uniform(-1, 1, shape_b).astype(np.float32)
        return convert_fn(lambda a: fn(a, c), [shape_a], seed=seed)
    return convert_fn(fn, [shape_a, shape_b], seed=seed)


@_cached
def decoder_head(in_shape=(1, 6, 5, 3), seed=0) -> bytes:
    """Upsampling ops in one small decoder-like model (for the QEMU runs): a 3x3
    convolution, a bilinear 2x upsampling (align_corners), the maximum of it and a second
    convolution's, the minimum with a constant, a nearest resize (half-pixel centers) to an
    odd size, and a stride-2 transposed convolution with a bias and RELU; a second output:
    the int32 ARG_MIN over the rows of the nearest resize.

    Ops: CONV_2D, RESIZE_BILINEAR, MAXIMUM, MINIMUM, RESIZE_NEAREST_NEIGHBOR, TRANSPOSE_CONV,
    ARG_MIN
    """
    tf = _tf()
    rng = _rng(seed)
    h, w = in_shape[1] * 2, in_shape[2] * 2
    w1 = rng.normal(0, 0.4, (3, 3, in_shape[-1], 8)).astype(np.float32)
    w2 = rng.normal(0, 0.3, (3, 3, 8, 8)).astype(np.float32)
    w3 = rng.normal(0, 0.3, (3, 3, 5, 8)).astype(np.float32)     # [kh, kw, out, in]
    b3 = rng.normal(0, 0.2, (5,)).astype(np.float32)
    c = rng.uniform(-0.5, 1.0, (1, 1, w, 8)).astype(np.float32)

    def f(x):
        y = tf.nn.conv2d(x, w1, 1, "SAME")
        up = tf.compat.v1.image.resize_bilinear(y, (h, w), align_corners=True)
        z = tf.minimum(tf.maximum(up, tf.nn.conv2d(up, w2, 1, "SAME")), c)
        z = tf.compat.v1.image.resize_nearest_neighbor(z, (h + 3, w - 1),
                                                       half_pixel_centers=True)
        t = tf.nn.conv2d_transpose(z, w3, (1, 2 * (h + 3), 2 * (w - 1), 5), 2, "SAME")
        return tf.nn.relu(t + b3), tf.math.argmin(z, axis=1, output_type=tf.int32)
    return convert_fn(f, [in_shape], seed=seed)


@_cached
def arg_min_max(in_shape=(1, 5, 6, 7), axis=-1, kind="argmax", conv=True, seed=0) -> bytes:
    """tf.math.argmax / argmin (output_type int32, TFLM's only index type) over `axis`,
    after a 3x3 convolution (`conv`; only on 4-D inputs) so that ties are rare but happen.

    Ops: CONV_2D, ARG_MAX

    (kind "argmin": CONV_2D, ARG_MIN; conv=False: without CONV_2D.)
    """
    tf = _tf()
    w = _rng(seed).normal(0, 0.4, (3, 3, in_shape[-1], in_shape[-1])).astype(np.float32)
    fn = tf.math.argmax if kind == "argmax" else tf.math.argmin

    def f(x):
        y = tf.nn.conv2d(x, w, 1, "SAME") if conv else x
        return fn(y, axis=axis, output_type=tf.int32)
    return convert_fn(f, [in_shape], seed=seed)


@_cached
def gather(in_shape=(1, 6, 5, 4), indices=(4, 0, 2, 2), axis=1, batch_dims=0,
           seed=0) -> bytes:
    """tf.gather with constant int32 indices (any shape, repeats allowed) along `axis`.

    Ops: GATHER
    """
    tf = _tf()
    idx = tf.constant(np.asarray(indices, np.int32))
    return convert_fn(lambda x: tf.gather(x, idx, axis=axis, batch_dims=batch_dims),
                      [in_shape], seed=seed)


@_cached
def squared_difference(shape_a=(1, 4, 4, 3), shape_b=(1, 4, 4, 3), const_b=False,
                       seed=0) -> bytes:
    """tf.math.squared_difference of two inputs (broadcasting; the second one times 2.5,
    so the two input scales differ), or of one and a constant.

    Ops: MUL, SQUARED_DIFFERENCE

    (const_b: SQUARED_DIFFERENCE.)
    """
    tf = _tf()
    if const_b:
        c = _rng(seed).uniform(-2, 2, shape_b).astype(np.float32)
        return convert_fn(lambda a: tf.math.squared_difference(a, c), [shape_a], seed=seed)
    return convert_fn(lambda a, b: tf.math.squared_difference(a, 2.5 * b),
                      [shape_a, shape_b], seed=seed)


@_cached
def rsqrt(shape=(1, 5, 5, 3), eps=0.05, direct=False, seed=0) -> bytes:
    """tf.math.rsqrt(x * x + eps): RSQRT's input is positive, as the op requires (TFLM fails
    the invoke on an input below its zero point). `direct`: tf.math.rsqrt(x) on inputs
    calibrated over [0, 4], so the input zero point is -128 and every int8 code is valid
    (0 and 1 above the zero point included: TFLM's special cases).

    Ops: MUL, ADD, RSQRT

    (direct: RSQRT.)
    """
    tf = _tf()
    if direct:
        return convert_fn(tf.math.rsqrt, [shape], seed=seed, input_range=(0.0, 4.0))
    return convert_fn(lambda x: tf.math.rsqrt(x * x + eps), [shape], seed=seed)


@_cached
def feature_head(in_shape=(1, 6, 6, 3), seed=0) -> bytes:
    """GATHER, SQUARED_DIFFERENCE, RSQRT, ARG_MAX and BATCH_MATMUL in one model (for the
    QEMU runs): a 3x3 convolution, its squared difference from a constant, the inverse
    square root of that plus 0.1, channels picked by GATHER (repeats included); three
    outputs: the gathered int8 features, their int32 ARG_MAX over channels, and the pixels'
    similarity matrix (features x 2 features^T, as attention computes it). Converted with
    float edges (_convert_float_edges): a float32 input, float32 outputs (int32 indices).

    Ops: QUANTIZE, CONV_2D, SQUARED_DIFFERENCE, ADD, RSQRT, GATHER, ARG_MAX, RESHAPE, MUL,
    BATCH_MATMUL, DEQUANTIZE
    """
    tf = _tf()
    rng = _rng(seed)
    w = rng.normal(0, 0.4, (3, 3, in_shape[-1], 8)).astype(np.float32)
    c = rng.uniform(-1, 1, (1, 1, 1, 8)).astype(np.float32)
    idx = tf.constant(np.array([7, 1, 3, 3, 0], np.int32))

    def f(x):
        y = tf.nn.conv2d(x, w, 1, "SAME")
        g = tf.gather(tf.math.rsqrt(tf.math.squared_difference(y, c) + 0.1), idx, axis=3)
        h = tf.reshape(g, (1, in_shape[1] * in_shape[2], 5))
        return (g, tf.math.argmax(g, axis=-1, output_type=tf.int32),
                tf.matmul(h, 2.0 * h, transpose_b=True))
    return _convert_float_edges(f, in_shape, seed)


@_cached
def transpose_conv(in_shape=(1, 5, 4, 3), filters=6, kernel=(3, 3), strides=(2, 2),
                   padding="same", activation=None, use_bias=True, seed=0) -> bytes:
    """keras.layers.Conv2DTranspose (what decoder and segmentation heads use): per-channel
    weights, optional bias and activation (fused by the converter or not).

    Ops: TRANSPOSE_CONV
    """
    tf = _tf()
    import keras
    _ = _rng(seed)
    layer = keras.layers.Conv2DTranspose(filters, kernel, strides, padding,
                                         activation=activation, use_bias=use_bias,
                                         bias_initializer="random_normal")
    inp = keras.Input(in_shape[1:], batch_size=in_shape[0])
    model = keras.Model(inp, layer(inp))
    from modelgen import convert_keras
    return convert_keras(model, seed=seed)


@_cached
def batch_matmul(shape=(2, 4, 5), const_shape=None, adj_x=False, adj_y=True,
                 seed=0) -> bytes:
    """tf.matmul with BATCH_MATMUL's adj_x / adj_y. Without `const_shape`: of the input
    and 2.5 times itself (x x^T when adj_y, x^T x when adj_x: two activations of different
    scales, attention's shape). With it: of the input and a constant of that shape (rank 3
    or more; batch dims broadcasting; the converter makes a rank-2 constant a
    FULLY_CONNECTED).

    Ops: MUL, BATCH_MATMUL

    (const_shape: BATCH_MATMUL.)
    """
    tf = _tf()
    if const_shape is not None:
        c = _rng(seed).uniform(-1, 1, const_shape).astype(np.float32)
        return convert_fn(lambda a: tf.matmul(a, c, transpose_a=adj_x, transpose_b=adj_y),
                          [shape], seed=seed)
    return convert_fn(lambda a: tf.matmul(a, 2.5 * a, transpose_a=adj_x, transpose_b=adj_y),
                      [shape], seed=seed)


def _convert_float_edges(fn, in_shape, seed: int) -> bytes:
    """Full int8 conversion of fn(x) but without inference_input_type /
    inference_output_type: float32 input and outputs, QUANTIZE / DEQUANTIZE at the edges."""
    tf = _tf()
    import modelgen
    sig = [tf.TensorSpec(in_shape, tf.float32, name="input_0")]
    module = tf.Module()
    module.f = tf.function(fn, input_signature=sig)
    conv = tf.lite.TFLiteConverter.from_concrete_functions([module.f.get_concrete_function()],
                                                           module)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = modelgen._rep_dataset([in_shape], seed, (-1.0, 1.0))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return modelgen._convert_quiet(conv)


@_cached
def float_edges(shape=(1, 6, 6, 3), seed=0) -> bytes:
    """A 3x3 convolution converted with float edges (_convert_float_edges): float32 input
    and output around the int8 body.

    Ops: QUANTIZE, CONV_2D, DEQUANTIZE
    """
    tf = _tf()
    w = _rng(seed).normal(0, 0.4, (3, 3, shape[-1], 4)).astype(np.float32)
    return _convert_float_edges(lambda x: tf.nn.conv2d(x, w, 1, "SAME"), shape, seed)
