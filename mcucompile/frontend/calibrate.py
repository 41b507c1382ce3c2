"""Float models -> full-INT8 models, calibrated on the user's samples (`--calibrate`).

    float ONNX (.onnx)            onnxruntime.quantization.quantize_static: QDQ form, int8
                                  activations and weights, per-channel weights, MinMax
                                  calibration over the samples -> <name>_int8.onnx
    Keras (.keras, .h5),          tf.lite.TFLiteConverter with the samples as representative
    SavedModel (a directory)      dataset, builtin int8 ops only, int8 input and output
                                  -> <name>_int8.tflite

The result then goes through the normal frontend. `quantization_error` runs the float model
and the quantized one (onnxruntime for ONNX, the TFLM interpreter for TFLite: the references
the firmware is bit-exact with) on the samples and reports the error of the quantized outputs
against the float ones: max and mean absolute error, and for classifier-like outputs (last
dimension > 1) how often the argmax agrees.

SAMPLES holds float inputs, N samples of each model input:

    .npy    single-input models: [N, *input_shape] (batch 1 per sample, the batch axis may be
            left out) or anything whose size is a multiple of the input size;
    .npz    any model: one array per input, keyed by the input's name (the ONNX graph input,
            the Keras Input layer, the SavedModel signature argument); np.savez's positional
            arr_0, arr_1, ... are taken in input order. Every array holds the same N.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import McucError
from ..escape import shown
from ..inputs import MAX_MODEL_BYTES, as_batch, check_file, load_array

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")


def is_float_model(path: str | Path) -> bool:
    """True for a model that needs --calibrate: Keras / SavedModel, or ONNX without
    quantization nodes."""
    path = Path(path)
    if path.is_dir() or path.suffix.lower() in KERAS_SUFFIXES:
        return True
    if path.suffix.lower() == ".onnx" and path.exists():
        import onnx

        from .onnx import is_float_model as onnx_float
        try:
            return onnx_float(onnx.load(str(path), load_external_data=False))
        except Exception:
            return False
    return False


@dataclass
class Calibrated:
    model: Path                 # the quantized model, ready for the frontend
    source: Path
    samples: int
    error: dict                 # max_abs_error, mean_abs_error, argmax_agreement, ...

    def to_json(self) -> dict:
        return dict(float_model=str(self.source), quantized_model=str(self.model),
                    samples=self.samples, **self.error)

    def summary(self) -> str:
        e = self.error
        text = (f"quantized {self.source.name} -> {self.model.name} on {self.samples} samples: "
                f"max |error| {e['max_abs_error']:.4g}, mean |error| {e['mean_abs_error']:.4g}"
                f" (output range {e['float_output_range']:.4g})")
        if e.get("argmax_agreement") is not None:
            text += f", argmax agreement {100 * e['argmax_agreement']:.1f}%"
        return text


def load_samples(path: str | Path, input_shape: list[int]) -> np.ndarray:
    """[N, *input_shape] float32 from a .npy file (or a one-array .npz)."""
    return load_sample_sets(path, [("input", list(input_shape))])[0]


def load_sample_sets(path: str | Path, inputs: list[tuple[str, list[int]]],
                     layout: str | None = None) -> list[np.ndarray]:
    """One float32 array [N, *shape] per model input (name, shape), from a .npy (one input)
    or an .npz (one array per input name, or np.savez's arr_0, arr_1, ... in input order).
    layout: of image inputs ("NCHW" for ONNX, "NHWC" for TensorFlow), see inputs.as_batch."""
    path = Path(path)
    loaded = load_array(path, "calibration samples file")
    names = [n for n, _ in inputs]
    example = (", ".join(f"{n}=..." for n in names) if all(n.isidentifier() for n in names)
               else "**{" + ", ".join(f"'{n}': ..." for n in names) + "}")
    if isinstance(loaded, dict):
        keys = list(loaded.keys())
        arrays = []
        for k, name in enumerate(names):
            if name in keys:
                key = name
            elif f"arr_{k}" in keys:
                key = f"arr_{k}"
            elif len(inputs) == 1 and len(keys) == 1:
                key = keys[0]
            else:
                raise McucError(f"no calibration samples for model input {shown(name)}: the .npz "
                                f"has {keys}; it needs one array per input, named "
                                f"{names}", str(path),
                                hint=f"np.savez('{path.name}', {example})")
            arrays.append((f"'{key}'", loaded[key]))
    else:
        if len(inputs) != 1:
            raise McucError(f"the model has {len(inputs)} inputs ({', '.join(names)}): a .npy "
                            "holds samples for one; give an .npz with one array per input "
                            "name", str(path), hint=f"np.savez('samples.npz', {example})")
        arrays = [("", loaded)]
    out = []
    for (key, arr), (name, shape) in zip(arrays, inputs):
        what = f"calibration samples {key} for input {shown(name)}".replace("  ", " ")
        out.append(as_batch(arr, shape, what, str(path), layout).astype(np.float32))
    counts = sorted({len(a) for a in out})
    if len(counts) > 1:
        raise McucError(f"the calibration arrays hold different numbers of samples {counts}",
                        str(path))
    return out


def calibrate(model: str | Path, samples: str | Path, out_dir: str | Path) -> Calibrated:
    """Quantize a float model on the samples; the INT8 model is written into out_dir."""
    model, out_dir = Path(model), Path(out_dir)
    if not model.is_dir():
        check_file(model, "model file", MAX_MODEL_BYTES)
    elif not (model / "saved_model.pb").is_file():     # before TensorFlow's 10 s import
        raise McucError("this directory is not a SavedModel (it has no saved_model.pb)",
                        str(model))
    out_dir.mkdir(parents=True, exist_ok=True)
    if model.suffix.lower() == ".onnx":
        return _calibrate_onnx(model, samples, out_dir)
    if model.is_dir() or model.suffix.lower() in KERAS_SUFFIXES:
        return _calibrate_tf(model, samples, out_dir)
    raise McucError(f"--calibrate needs a float .onnx, .keras/.h5 model or a SavedModel "
                    f"directory (got '{model.suffix or model.name}')", str(model))


def quantization_error(reference: list[np.ndarray], quantized: list[np.ndarray]) -> dict:
    ref = np.concatenate([r.reshape(len(r), -1) for r in reference], axis=1).astype(np.float64)
    got = np.concatenate([q.reshape(len(q), -1) for q in quantized], axis=1).astype(np.float64)
    err = np.abs(ref - got)
    out = dict(max_abs_error=float(err.max(initial=0.0)), mean_abs_error=float(err.mean()),
               float_output_range=float(ref.max(initial=0.0) - ref.min(initial=0.0)),
               argmax_agreement=None)
    last = reference[0]
    if len(reference) == 1 and last.ndim >= 2 and last.shape[-1] > 1:
        r = reference[0].reshape(-1, last.shape[-1])
        q = quantized[0].reshape(-1, last.shape[-1])
        out["argmax_agreement"] = float(np.mean(r.argmax(-1) == q.argmax(-1)))
    return out


# ------------------------------------------------------------------ ONNX

def _calibrate_onnx(model: Path, samples_path, out_dir: Path) -> Calibrated:
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    from .onnx import is_float_model as onnx_float
    m = onnx.load(str(model))
    if not onnx_float(m):
        raise McucError("--calibrate was given but the ONNX model is already quantized",
                        str(model))
    inits = {i.name for i in m.graph.initializer}
    inputs = [i for i in m.graph.input if i.name not in inits]
    shapes = {i.name: [d.dim_value if d.dim_value > 0 else 1
                       for d in i.type.tensor_type.shape.dim] for i in inputs}
    sets = load_sample_sets(samples_path, [(n, s[1:] if len(s) > 1 else s)
                                           for n, s in shapes.items()], layout="NCHW")
    # one feed per sample: {input name: [1, ...] array}
    feeds = [{n: a[k].reshape(shapes[n]) for n, a in zip(shapes, sets)}
             for k in range(len(sets[0]))]

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

    out = out_dir / f"{model.stem}_int8.onnx"
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        quantize_static(str(model), str(out), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        per_channel=True)
    except Exception as e:
        raise McucError(f"onnxruntime could not quantize the model: {type(e).__name__}: {e}",
                        str(model)) from None
    finally:
        logging.getLogger().setLevel(level)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    so.add_session_config_entry("session.qdqisint8allowed", "1")
    f_sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    q_sess = ort.InferenceSession(str(out), so, providers=["CPUExecutionProvider"])
    ref = [np.stack(o) for o in zip(*[f_sess.run(None, f) for f in feeds])]
    got = [np.stack(o) for o in zip(*[q_sess.run(None, f) for f in feeds])]
    return Calibrated(out, model, len(feeds), quantization_error(ref, got))


# ------------------------------------------------------------------ Keras / SavedModel

def _calibrate_tf(model: Path, samples_path, out_dir: Path) -> Calibrated:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    try:
        if model.is_dir():
            loaded = tf.saved_model.load(str(model))
            sig = loaded.signatures["serving_default"]
            specs = sig.structured_input_signature[1]
            names = list(specs)
            shapes = [[d or 1 for d in specs[k].shape.as_list()] for k in names]

            def call(*vs):
                return list(sig(**dict(zip(names, vs))).values())
        else:
            keras_model = tf.keras.models.load_model(str(model), compile=False)
            names = [getattr(t, "name", f"input_{k}").split(":")[0]
                     for k, t in enumerate(keras_model.inputs)]
            shapes = [[d or 1 for d in t.shape] for t in keras_model.inputs]

            def call(*vs):
                out = keras_model(list(vs) if len(vs) > 1 else vs[0], training=False)
                return list(out) if isinstance(out, (list, tuple)) else [out]
    except McucError:
        raise
    except Exception as e:
        raise McucError(f"cannot load the float model: {type(e).__name__}: {e}",
                        str(model)) from None
    sets = load_sample_sets(samples_path, [(n, s[1:]) for n, s in zip(names, shapes)],
                            layout="NHWC")
    sets = [a.reshape([-1] + s) for a, s in zip(sets, shapes)]
    # A fixed batch of 1: a dynamic batch would leave SHAPE ops in the converted model. The
    # arguments are named in00, in01, ...: the converted model's inputs carry these names, and
    # name order is argument order.
    module = tf.Module()
    module.f = tf.function(call, input_signature=[tf.TensorSpec(s, tf.float32, name=f"in{k:02d}")
                                                  for k, s in enumerate(shapes)])
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [module.f.get_concrete_function()], module)
    samples = [[a[k] for a in sets] for k in range(len(sets[0]))]

    def predict(vs):
        return [np.asarray(o) for o in module.f(*[tf.constant(v) for v in vs])]

    def representative():
        for vs in samples:
            yield list(vs)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        tflite = converter.convert()
    except Exception as e:
        raise McucError(f"TensorFlow could not convert the model to full INT8: "
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}",
                        str(model)) from None
    out = out_dir / f"{model.stem if not model.is_dir() else model.name}_int8.tflite"
    out.write_bytes(tflite)
    ref = [np.stack(o) for o in zip(*[predict(vs) for vs in samples])]
    got = _run_tflm(tflite, samples)
    return Calibrated(out, model, len(samples), quantization_error(ref, got))


def _run_tflm(model_bytes: bytes, samples: list[list[np.ndarray]]) -> list[np.ndarray]:
    """Float inputs (per sample, one array per argument in00, in01, ...) -> dequantized float
    outputs of a full-INT8 model, through TFLM."""
    from tflite_micro.python.tflite_micro import runtime

    from .tflite import parse_tflite
    graph = parse_tflite(model_bytes)
    order = _argument_order([t.name for t in graph.inputs], len(samples[0]))
    interp = runtime.Interpreter.from_bytes(model_bytes)
    results = []
    for vs in samples:
        for k, t in enumerate(graph.inputs):
            s, z = t.quant.scalar()
            v = vs[order[k]]
            q = np.clip(np.floor(np.abs(v / s) + 0.5) * np.sign(v) + z, -128, 127)
            interp.set_input(q.astype(np.int8).reshape(t.shape), k)
        interp.invoke()
        outs = []
        for k, t in enumerate(graph.outputs):
            os_, oz = t.quant.scalar()
            outs.append((np.asarray(interp.get_output(k)).astype(np.float32) - oz) * os_)
        results.append(outs)
        interp.reset()
    return [np.stack(o) for o in zip(*results)]


def _argument_order(tensor_names: list[str], n: int) -> list[int]:
    """For each input tensor of the converted model, the index of the argument (in00, in01,
    ...) it came from; the tensor order when the names do not say."""
    found = []
    for name in tensor_names:
        hits = [k for k in range(n) if f"in{k:02d}" in name]
        found.append(hits[0] if len(hits) == 1 else None)
    if None in found or sorted(found) != list(range(n)):
        return list(range(n))
    return found
