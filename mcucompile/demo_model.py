"""A small, real, trained INT8 model for demos and end-to-end tests.

:func:`train_digits_model` trains a tiny CNN on scikit-learn's bundled
``load_digits()`` data set (1797 8x8 grey images of digits 0-9, values
0..16; no download needed), converts it to a full-INT8 TFLite model (int8
input and output) and returns it together with an int8-quantized held-out
test set.

TensorFlow and scikit-learn are imported lazily, so importing this module
is cheap.  Nothing is printed; pass ``progress=callable`` to get messages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
import tempfile
import warnings
from typing import Callable, Optional

import numpy as np

__all__ = ["DemoModel", "train_digits_model", "load_digits_data"]

#: Op types the demo model contains (execution order, with repeats removed).
DEMO_OPS = ("CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED", "SOFTMAX")


@dataclasses.dataclass
class DemoModel:
    """Result of :func:`train_digits_model`.

    Attributes:
      tflite: full-INT8 TFLite flatbuffer; input ``int8[1, 8, 8, 1]``,
        output ``int8[1, 10]`` (softmax probabilities, scale 1/256, zp -128).
      x_test: ``int8[N, 8, 8, 1]`` held-out images, already quantized with
        the model's input scale / zero point (feed ``x_test[i:i+1]``).
      y_test: ``int64[N]`` labels 0..9.
      float_accuracy: accuracy of the float Keras model on the test set.
      x_test_float: ``float32[N, 8, 8, 1]`` the same images in [0, 1].
      input_scale, input_zero_point, output_scale, output_zero_point:
        quantization parameters of the model's input / output tensor.
    """

    tflite: bytes
    x_test: np.ndarray
    y_test: np.ndarray
    float_accuracy: float
    x_test_float: np.ndarray = None
    input_scale: float = 0.0
    input_zero_point: int = 0
    output_scale: float = 0.0
    output_zero_point: int = 0

    def accuracy(self, outputs) -> float:
        """Accuracy of ``outputs`` (``[N, 10]`` scores, any dtype) on y_test."""
        pred = np.argmax(np.asarray(outputs).reshape(len(self.y_test), -1),
                         axis=1)
        return float(np.mean(pred == self.y_test))


def load_digits_data(seed: int = 0, test_fraction: float = 0.2):
    """``(x_train, y_train, x_test, y_test)``: float32 images in [0, 1] of
    shape ``[N, 8, 8, 1]`` and int64 labels, stratified split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[..., None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, random_state=seed, stratify=y)
    return x_tr, y_tr, x_te, y_te


@contextlib.contextmanager
def _silenced():
    """Redirect the process' stdout/stderr file descriptors (TensorFlow's C++
    logging, converter messages) to a temp file; replay it on error."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # pragma: no cover
            pass
    try:
        saved = [os.dup(1), os.dup(2)]
    except OSError:  # pragma: no cover - no real fds (embedded use)
        yield
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 1)
        os.dup2(tmp.fileno(), 2)
        ok = False
        try:
            yield
            ok = True
        finally:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()
                except Exception:  # pragma: no cover
                    pass
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
            if not ok:
                tmp.seek(0)
                sys.stderr.write(tmp.read().decode("utf-8", "replace"))


def train_digits_model(seed: int = 0, epochs: int = 12,
                       progress: Optional[Callable[[str], None]] = None
                       ) -> DemoModel:
    """Train and INT8-convert a small digits CNN.

    Architecture (Keras; TFLite ops in brackets)::

        Input 8x8x1
        Conv2D 8, 3x3, same, relu        [CONV_2D]
        MaxPool 2x2                      [MAX_POOL_2D]   -> 4x4x8
        Conv2D 16, 3x3, same, relu       [CONV_2D]       -> 4x4x16
        Flatten                          [RESHAPE]       -> 256
        Dense 10                         [FULLY_CONNECTED]
        Softmax                          [SOFTMAX]

    Deterministic for a given ``seed`` (numpy / TF / Keras seeds, fixed
    shuffling).  Takes a few seconds on 2 CPU cores.
    """
    say = progress or (lambda msg: None)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    say("loading digits data set")
    x_tr, y_tr, x_te, y_te = load_digits_data(seed)

    say("importing TensorFlow")
    with _silenced():
        import tensorflow as tf
        import keras

        tf.config.list_physical_devices()  # triggers (noisy) CUDA probing
        _ = (tf.constant(1.0) + 1.0).numpy()

    tf.get_logger().setLevel("ERROR")
    keras.utils.set_random_seed(seed)

    layers = [
        keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
        keras.layers.Softmax(),
    ]

    def build(batch_size):
        inp = keras.Input((8, 8, 1), batch_size=batch_size)
        out = inp
        for layer in layers:
            out = layer(out)
        return keras.Model(inp, out)

    model = build(None)
    model.compile(optimizer=keras.optimizers.Adam(0.01),
                  loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])

    # Own shuffling so the order only depends on the seed.
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        perm = rng.permutation(len(x_tr))
        hist = model.fit(x_tr[perm], y_tr[perm], batch_size=32, epochs=1,
                         shuffle=False, verbose=0)
        say(f"epoch {epoch + 1}/{epochs}: loss "
            f"{hist.history['loss'][-1]:.4f} "
            f"acc {hist.history['accuracy'][-1]:.4f}")

    probs = model.predict(x_te, batch_size=256, verbose=0)
    float_acc = float(np.mean(np.argmax(probs, axis=1) == y_te))
    say(f"float test accuracy {float_acc:.4f}")

    say("converting to full INT8 TFLite")
    infer = build(1)  # same (trained) layers, static batch 1
    conv = tf.lite.TFLiteConverter.from_keras_model(infer)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]

    def rep():
        for i in range(min(256, len(x_tr))):
            yield [x_tr[i:i + 1]]

    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    # _silenced: Keras prints the exported SavedModel signature to stdout
    # and the converter logs from C++.
    with warnings.catch_warnings(), _silenced():
        warnings.simplefilter("ignore")
        tflite = bytes(conv.convert())

    (in_s, in_zp), (out_s, out_zp) = _io_quant(tflite)
    xq = np.clip(np.round(x_te / in_s) + in_zp, -128, 127).astype(np.int8)
    say("done")
    return DemoModel(
        tflite=tflite, x_test=xq, y_test=y_te, float_accuracy=float_acc,
        x_test_float=x_te, input_scale=in_s, input_zero_point=in_zp,
        output_scale=out_s, output_zero_point=out_zp)


def _io_quant(tflite: bytes):
    """((in_scale, in_zp), (out_scale, out_zp)) read with tf.lite's
    Interpreter-free flatbuffer parsing (tflite_micro schema if available,
    else tf.lite.Interpreter)."""
    try:
        from tflite_micro.tensorflow.lite.micro.python import (
            schema_py_generated as schema,
        )

        m = schema.ModelT.InitFromPackedBuf(bytearray(tflite), 0)
        sg = m.subgraphs[0]

        def q(i):
            t = sg.tensors[i].quantization
            return float(t.scale[0]), int(t.zeroPoint[0])

        return q(sg.inputs[0]), q(sg.outputs[0])
    except ImportError:  # pragma: no cover
        import tensorflow as tf

        ip = tf.lite.Interpreter(model_content=tflite)
        i = ip.get_input_details()[0]["quantization"]
        o = ip.get_output_details()[0]["quantization"]
        return (float(i[0]), int(i[1])), (float(o[0]), int(o[1]))
