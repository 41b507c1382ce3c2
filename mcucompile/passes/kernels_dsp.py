"""Armv7E-M DSP variants (Cortex-M4/M7/M33) of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED.

Each builder takes the portable KernelCall the lowering produced and returns a KernelCall to a
kernel generated for that layer (templates/kernels/*_dsp.c.j2 around the bodies in
runtime_c/src/conv/*_dsp.h), with weights and requantisation records packed at compile time
(pack.py) and the scratch the kernel needs; or None when the layer is outside what the kernel
handles exactly (it then keeps the portable kernel).

    CONV_2D, FULLY_CONNECTED                                   -> im2col + 8-sum-blocked GEMM
      (FULLY_CONNECTED, 1x1 stride-1 unpadded CONV_2D, when      -> the GEMM reading its int8
       an im2col does not fit or the layer has one pixel)            input in place
    DEPTHWISE_CONV_2D (a stride 1 or 2, no dilation)           -> planar bands + tap pairs
      (other depthwise layers on one input channel             -> as a GEMM)
    ADD / SUB without broadcasting                              -> per-input tables
    AVERAGE_POOL_2D (channels % 4 == 0, <= 256 taps)            -> 4 channels per load
    UNIDIRECTIONAL_SEQUENCE_LSTM (weight zero points 0), SVDF  -> the gates' / the features'
                                                                  dot products 4 MACs per
                                                                  word (SMLAD)

Every builder takes the same two choices (the search in the planner passes them; the
defaults are what select_kernels has always got) and records what it made of them in
KernelCall.variant:
    weights        "int16": pre-scaled int16 weights, twice the int8 flash, the fastest;
                   "int8": TFLite's bytes reordered, unpacked in registers (SXTB16): the GEMM
                   blocks 2 channels x 4 pixels (each unpacked weight serves four pixels;
                   4 x 2 for a layer's last 1-2 pixels and when the scratch allows only
                   two), the depthwise kernel unpacks a channel's weights once per band;
                   records of 12 bytes per channel instead of 16 (conv_s8_dsp.h).
    scratch_budget bytes of scratch the kernel may use; the builder picks the fastest tiling
                   that fits (GEMM: 4, 2 or 1 im2col pixels, or for a layer that reads each
                   pixel's inputs as one run, FC and 1x1 stride-1 unpadded conv, instead of
                   one pixel no im2col at all ("direct": the input unpacked in registers,
                   scratch 0); a layer of one pixel takes 1 pixel / direct first, since a
                   wider block would compute it again; depthwise: rows per band, then
                   strips of columns), or returns None when even the smallest does not fit.
                   The GEMM tilings, fastest first, instructions per MAC in the inner loop
                   (conv_s8_dsp.h): int16 2 px 0.69, 1 px 0.81 (+ im2col), direct 0.94;
                   int8 4 px 0.81, 2 px 0.94, 1 px 1.38 (+ im2col), direct 1.44.
                   Each has its own kernel name (`GEMM_NAMES`), so the cost model
                   (backend/cost.py) prices them apart.
                   None: GEMMs the fastest tiling within op.kernel.scratch_budget, else the
                   one with the least scratch; the depthwise band up to
                   max(DW_SCRATCH_BUDGET, that budget), at least
                   one whole row.
scratch_bytes(call, variant) is the one scratch formula (the builders use it too), and
minimum_variant(call, weights) the tiling with the least scratch, for a planner's question
"how little scratch can this layer's fast kernel run in".
"""
from __future__ import annotations

import numpy as np

from ..backend import shift as shifted
from ..backend.registry import scratch_bytes as registry_scratch
from ..ir import Op
from . import gemm_view
from .gemm_view import GemmView, conv_args, needs_bounds
from .kernel_call import Arg, GeneratedKernel, KernelCall, Variant, layer_fn
from .pack import (add_tables, conv_k_order, conv_perm4, conv_weights_dsp, conv_weights_dsp_s8,
                   direct_k, dw_weights_dsp, dw_weights_dsp_s8, folded_bias, fpreq_records,
                   lsh_literal, pad_records, requant_records)

SIGNATURE = ("void {fn}(const int8_t *input, const {wtype} *weights, const int32_t *quant, "
             "int8_t *output{scratch})")
WEIGHTS = ("int16", "int8")
DW_SCRATCH_BUDGET = 4 * 1024   # planar band bytes the depthwise kernel may always use
DW_MAX_KC = 16                 # MCUC_DW_MAX_KC in depthwise_conv_s8_dsp.h
DW_UNFOLDED = -64              # MCUC_DW_UNFOLDED in depthwise_conv_s8_dsp.h
DW_MAX_WORDS_S8 = 16           # int8 depthwise weights: the channel's words fit `local[16]`
GEMM_S8_MAX_K2 = 1023          # MCUC_GEMM_S8_MAX_K2 in conv_s8_dsp.h
DIRECT = 0                     # GEMM "pixels per im2col block" of the direct kernel (none)
GEMM_HEADERS = ("conv/conv_s8_dsp.h", "conv/conv_s8_dsp_scratch.h")
# generated GEMM kernel base names by pixels per block (registry.py, costs.json)
GEMM_NAMES = {4: "mcuc_conv_s8_dsp", 2: "mcuc_conv_s8_dsp", 1: "mcuc_conv_s8_dsp_1px",
              DIRECT: "mcuc_conv_s8_dsp_direct"}


def _weights(weights: str | None) -> str:
    """The weight encoding asked for; when none: int16 (the fastest; the search asks for
    int8 where the flash budget needs it, planner/search.py)."""
    weights = weights or "int16"
    if weights not in WEIGHTS:
        raise ValueError(f"DSP kernel weights must be one of {WEIGHTS}, not {weights!r}")
    return weights


def _generated(template: str, fn: str, ctx: dict, headers: tuple[str, ...], w8: bool,
               scratch: bool = True) -> GeneratedKernel:
    """The kernel takes the planned scratch as last argument when it has any; `headers`:
    the runtime headers its text includes."""
    prototype = SIGNATURE.format(fn=fn, wtype="int8_t" if w8 else "int16_t",
                                 scratch=", int8_t *scratch" if scratch else "")
    return GeneratedKernel(template, dict(ctx, fn=fn, prototype=prototype), prototype + ";",
                           runtime_files=headers)


# --- GEMM (conv, fully connected, one-channel depthwise) ---------------------------------

def _gemm_scratch(geo: dict, pixels: int) -> int:
    """im2col bytes: `pixels` interleaved int16 columns of K2 pairs (DIRECT: none); the C's
    mcuc_conv_s8_dsp_scratch_bytes (conv_s8_dsp_scratch.h, tests/test_registry.py)."""
    return 4 * pixels * ((geo["k_h"] * geo["k_w"] * geo["in_c"] + 1) // 2)


def _direct(geo: dict) -> bool:
    """Each output pixel's inputs are one run of in_c values, pixel after pixel: a 1x1,
    stride-1 layer without padding (fully connected layers are seen so, gemm_view.py)."""
    return (geo["k_h"] == geo["k_w"] == 1 and geo["stride_h"] == geo["stride_w"] == 1
            and not needs_bounds(geo))


def _gemm_options(geo: dict, weights: str) -> tuple[int, ...]:
    """Pixels per block, fastest first: int16 weights 2 (4 channels x 2 pixels); int8 4
    (2 x 4: each unpacked weight serves 4 pixels) when the layer has 3 or more pixels, or 2
    (4 x 2, which needs K2 <= GEMM_S8_MAX_K2); then, both, one pixel (4 channels x 1), or
    DIRECT for a layer that reads its input in place. A layer of one pixel has only the
    last (a block of several would compute that pixel again for each)."""
    pixels = geo["batches"] * geo["out_h"] * geo["out_w"]
    k2 = (geo["k_h"] * geo["k_w"] * geo["in_c"] + 1) // 2
    if pixels == 1:
        wide = ()
    elif weights == "int16":
        wide = (2,)
    elif k2 > GEMM_S8_MAX_K2:
        wide = (4,)
    else:
        wide = (4, 2) if pixels >= 3 else (2,)
    return wide + ((DIRECT,) if _direct(geo) else (1,))


def _gemm_pixels(geo: dict, weights: str, budget: int | None, soft: int) -> int | None:
    """The fastest pixels per block within the budget; None when none fits. No budget: the
    fastest within `soft` (select_kernels' op.kernel.scratch_budget), else the fewest."""
    options = _gemm_options(geo, weights)
    if budget is None:
        return next((n for n in options if _gemm_scratch(geo, n) <= soft), options[-1])
    return next((n for n in options if _gemm_scratch(geo, n) <= budget), None)


def _gemm_call(op: Op, call: KernelCall, view: GemmView, weights: str,
               budget: int | None) -> KernelCall | None:
    """A layer as im2col + GEMM (see gemm_view.py)."""
    p = call.params
    geo, w2d, bias, mult, shift = view.geo, view.w2d, view.bias, view.mult, view.shift
    input_offset, what = view.input_offset, view.what
    pixels = _gemm_pixels(geo, weights, budget, op.kernel.scratch_budget)
    if pixels is None:
        return None
    w8 = weights == "int8"
    sums = w2d.astype(np.int64).sum(axis=1)
    bias_f = folded_bias(bias, input_offset, sums)
    abs_sums = np.abs(w2d.astype(np.int64)).sum(axis=1)
    if view.fpreq:
        rq = fpreq_records(bias_f, mult)
    else:
        rq = requant_records(bias_f, mult, shift, p["output_offset"], abs_sums,
                             scaled_weights=not w8)
    if rq is None:
        return None
    one = pixels in (1, DIRECT)               # blocks of 4 channels x 1 pixel
    if pixels == DIRECT:                      # K padded to whole input words, perm4 order
        w2d, perm4 = direct_k(w2d), True
        order = conv_k_order(1, 1, w2d.shape[1], True)
    else:
        perm4 = conv_perm4(geo["k_w"], geo["in_c"], geo["dil_w"])
        order = conv_k_order(geo["k_h"], geo["k_w"], geo["in_c"], perm4)
    records = rq.records
    rsh, rnd = _uniform_shift(rq) if not view.fpreq else (0, 0)
    if w8:
        packed = conv_weights_dsp_s8(w2d, order, pairs=2 if one else 1)
        lsh = 0 if view.fpreq else lsh_literal(rq)
        if not (view.fpreq or rq.e0):
            records = np.delete(records, 3, axis=1)      # rsh: the kernel derives it from rnd
    else:
        packed, lsh = conv_weights_dsp(w2d, rq.scale, order), 0
    fn = layer_fn(GEMM_NAMES[pixels], op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(geo, what=what, op_index=op.index, check_bounds=needs_bounds(geo),
               pad_value=int(op.inputs[0].quant.zero_point[0]), perm4=int(perm4),
               e0=int(rq.e0), unfolded=int(rq.unfolded), fpreq=int(view.fpreq),
               out_zp=p["output_offset"], direct=pixels == DIRECT,
               w8=int(w8), slots=pixels, lsh=lsh, rsh=rsh, rnd=rnd, act_min=p["act_min"],
               act_max=p["act_max"])
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w8" if w8 else "w16", packed),
                                     Arg.constant("quant", pad_records(records, 4)),
                                     Arg.output(y)],
                      scratch_bytes=_gemm_scratch(geo, pixels), macs=call.macs,
                      generated=_generated("kernels/conv_s8_dsp.c.j2", fn, ctx,
                                           GEMM_HEADERS, w8, scratch=pixels != DIRECT),
                      variant=_gemm_variant(weights, pixels),
                      shift=shifted.direct(geo) if pixels == DIRECT else
                      shifted.gemm(geo, pixels, w8, GEMM_S8_MAX_K2))


def _uniform_shift(rq) -> tuple[int, int]:
    """(rsh, rnd) when every channel's record has the same right shift (and so the same
    rounding term, which depends only on it and the output zero point): the store then takes
    them as literals and reads only the multiplier (conv_s8_dsp.h). (0, 0) otherwise, or
    with e0 or unfolded channels (their records say more)."""
    if rq.e0 or rq.unfolded:
        return 0, 0
    rsh, rnd = rq.records[:, 3], rq.records[:, 2]
    if (rsh == rsh[0]).all() and (rnd == rnd[0]).all() and rsh[0] >= 1:
        return int(rsh[0]), int(rnd[0])
    return 0, 0


def _gemm_variant(weights: str, pixels: int) -> Variant:
    return Variant(weights=weights, pixels=max(pixels, 1), direct=pixels == DIRECT)


def conv(op: Op, call: KernelCall, weights: str | None = None,
         scratch_budget: int | None = None) -> KernelCall | None:
    return _gemm_call(op, call, gemm_view.conv(call), _weights(weights),
                      scratch_budget)


def fully_connected(op: Op, call: KernelCall, weights: str | None = None,
                    scratch_budget: int | None = None) -> KernelCall | None:
    view = gemm_view.fully_connected(call)
    return _gemm_call(op, call, view, _weights(weights),
                      scratch_budget) if view else None


def _one_channel_gemm(op: Op, call: KernelCall, weights: str,
                      budget: int | None) -> KernelCall | None:
    view = gemm_view.one_channel_depthwise(call)
    return _gemm_call(op, call, view, weights, budget) if view else None


# --- depthwise: planar bands ---------------------------------------------------------------

def _dw_geometry(p: dict, raster: bool = False) -> dict | None:
    """The planar kernel's rows/columns view of a depthwise layer, or None when the layer
    goes to the one-channel GEMM (or the portable kernel). Rows run along x normally; along
    y ("transposed") when that makes rows longer or is the only way to get a column stride
    of 1 or 2; never with `raster` (outputs in memory order, for a shifted in-place layer,
    backend/shift.py)."""
    if p["dil_h"] != 1 or p["dil_w"] != 1 or (p["in_c"] == 1 and p["k_h"] * p["k_w"] > 16):
        return None          # (large one-channel kernels: better as a GEMM)
    normal_ok, transposed_ok = p["stride_w"] in (1, 2), p["stride_h"] in (1, 2)
    transposed = transposed_ok and (not normal_ok or p["out_h"] > p["out_w"])
    if raster:
        transposed, transposed_ok = False, False
    if not (normal_ok or transposed_ok) or max(p["k_h"], p["k_w"]) > DW_MAX_KC:
        return None
    c, oc = p["in_c"], p["out_c"]
    if transposed:
        return dict(transposed=True, in_rows=p["in_w"], in_cols=p["in_h"], in_rs=c,
                    in_cs=p["in_w"] * c, out_rows=p["out_w"], out_cols=p["out_h"], out_rs=oc,
                    out_cs=p["out_w"] * oc, stride_r=p["stride_w"], stride_c=p["stride_h"],
                    k_r=p["k_w"], k_c=p["k_h"], pad_r=p["pad_left"], pad_c=p["pad_top"])
    return dict(transposed=False, in_rows=p["in_h"], in_cols=p["in_w"], in_rs=p["in_w"] * c,
                in_cs=c, out_rows=p["out_h"], out_cols=p["out_w"], out_rs=p["out_w"] * oc,
                out_cs=oc, stride_r=p["stride_h"], stride_c=p["stride_w"], k_r=p["k_h"],
                k_c=p["k_w"], pad_r=p["pad_top"], pad_c=p["pad_left"])


def _dw_words(geo: dict) -> int:
    """int16 weight words per channel (depthwise_conv_s8_dsp.h)."""
    k_r, k_c = geo["k_r"], geo["k_c"]
    return k_r * (k_c // 2) + (k_c % 2) * ((k_r + 1) // 2)


def _plane_w(geo: dict, cols: int) -> int:
    """Plane width (int16 values, even) for `cols` outputs per row: the columns the pairs
    read, plus the slack of the unaligned / stride-2 loads."""
    cols_even = cols + (cols & 1)
    w = (cols_even - 2) * geo["stride_c"] + geo["k_c"] + 3
    return w + (w & 1)


def _dw_scratch(geo: dict, in_c: int, band: int, strip: int) -> int:
    """Planes of `band` output rows by `strip` output columns (0: whole rows), all channels."""
    band_rows = (band - 1) * geo["stride_r"] + geo["k_r"]
    return 2 * in_c * band_rows * _plane_w(geo, strip or geo["out_cols"])


def _dw_tiling(geo: dict, in_c: int, budget: int) -> tuple[int, int] | None:
    """(band, strip) with the most rows, then the widest strip (even, 0 = whole rows), whose
    planes fit `budget`; None when one row of two columns does not."""
    whole_row = _dw_scratch(geo, in_c, 1, 0)
    if whole_row <= budget:
        row_bytes = whole_row // geo["k_r"]
        band = (budget // row_bytes - geo["k_r"]) // geo["stride_r"] + 1
        return min(geo["out_rows"], band), 0
    for strip in range(geo["out_cols"] - 1 - (geo["out_cols"] - 1) % 2, 1, -2):
        if _dw_scratch(geo, in_c, 1, strip) <= budget:
            return 1, strip
    return None


def depthwise(op: Op, call: KernelCall, weights: str | None = None,
              scratch_budget: int | None = None, raster: bool = False) -> KernelCall | None:
    weights = _weights(weights)
    p = call.params
    geo = _dw_geometry(p, raster)
    if geo is None:
        return _one_channel_gemm(op, call, weights, scratch_budget)
    w8 = weights == "int8"
    if w8 and _dw_words(geo) > DW_MAX_WORDS_S8:
        return None
    c, oc = p["in_c"], p["out_c"]
    if scratch_budget is None:     # the default: bands up to a floor of DW_SCRATCH_BUDGET
        budget = max(DW_SCRATCH_BUDGET, op.kernel.scratch_budget)
        tiling = _dw_tiling(geo, c, max(budget, _dw_scratch(geo, c, 1, 0)))
    else:
        tiling = _dw_tiling(geo, c, scratch_budget)
    if tiling is None:
        return None
    band, strip = tiling
    filt, bias, mult, shift = conv_args(call)       # filter [1, k_h, k_w, out_c]
    w = filt[0]                                      # [k_h, k_w, out_c]
    sums = w.astype(np.int64).sum(axis=(0, 1))
    bias_f = folded_bias(bias, p["input_offset"], sums)
    abs_sums = np.abs(w.astype(np.int64)).sum(axis=(0, 1))
    if shift is None:       # ONNX: float requantisation, {bias, scale bits, rnd = zp, rsh -1}
        rq = fpreq_records(bias_f, np.resize(np.asarray(mult, np.float32), oc))
        rq.records = np.concatenate([rq.records, np.full((oc, 1), p["output_offset"]),
                                     np.full((oc, 1), -1)], axis=1).astype(np.int32)
    else:
        rq = requant_records(bias_f, mult, shift, p["output_offset"], abs_sums)
    if geo["transposed"]:
        w = w.transpose(1, 0, 2)
    # Channels grouped by right shift (a literal in the generated code, as is rnd, which only
    # depends on it) and, int8 weights, by the left shift their unpacked weights get; records
    # {bias2, mult, c_out} and weights in that order. Unfolded channels (pack.py: unscaled
    # weights, lsh 0) are grouped by TFLM's shift s, literal DW_UNFOLDED + s, rnd = out_zp.
    rsh, rnd = rq.records[:, 3], rq.records[:, 2]
    if rq.unfolded:
        rsh = np.where(rq.folded, rsh, DW_UNFOLDED + rq.records[:, -1] - rsh)
    lsh = np.log2(rq.scale).astype(np.int64) if w8 else np.zeros(oc, np.int64)
    order = np.lexsort((np.arange(oc), lsh, rsh))
    records = np.concatenate([rq.records[order, :2], order[:, None]], axis=1).astype(np.int32)
    if w8:
        packed = dw_weights_dsp_s8(w[:, :, order])
    else:
        packed = dw_weights_dsp(w[:, :, order], rq.scale[order])
    groups, start = [], 0
    for r, s in sorted(set(zip(rsh.tolist(), lsh.tolist()))):
        members = (rsh == r) & (lsh == s)
        count = int(members.sum())
        assert len(set(rnd[members].tolist())) == 1      # rnd is a function of rsh
        what = (f"right shift {r}" if r > DW_UNFOLDED + 32 else
                f"unfolded records, shift {r - DW_UNFOLDED}")
        groups.append(dict(start=start, count=count, rsh=int(r), rnd=int(rnd[members][0]),
                           lsh=int(s), what=what))
        start += count
    strip_cols = strip or geo["out_cols"]
    fn = layer_fn("mcuc_depthwise_conv_s8_dsp", op)
    x, y = call.args[0].tensor, call.args[-1].tensor
    ctx = dict(geo, what=f"DEPTHWISE_CONV_2D {p['k_h']}x{p['k_w']} stride "
                         f"{p['stride_h']}x{p['stride_w']}", op_index=op.index,
               batches=p["batches"], in_batch=p["in_h"] * p["in_w"] * c,
               out_batch=p["out_h"] * p["out_w"] * oc, in_c=c,
               depth_multiplier=p["depth_multiplier"],
               pad_value=int(op.inputs[0].quant.zero_point[0]), band=band,
               band_rows=(band - 1) * geo["stride_r"] + geo["k_r"], strip=strip_cols,
               plane_w=_plane_w(geo, strip_cols), groups=groups,
               words=packed.nbytes // 4 // oc, w8=int(w8), act_min=p["act_min"],
               act_max=p["act_max"])
    return KernelCall(fn, None, {}, [Arg.input(x), Arg.constant("w8" if w8 else "w16", packed),
                                     Arg.constant("quant", records), Arg.output(y)],
                      scratch_bytes=_dw_scratch(geo, c, band, strip), macs=call.macs,
                      generated=_generated("kernels/depthwise_conv_s8_dsp.c.j2", fn, ctx,
                                           ("conv/depthwise_conv_s8_dsp.h",), w8),
                      variant=Variant(weights=weights, band=band, strip=strip, raster=raster),
                      shift=shifted.planar(geo, p["batches"], c, oc, band, strip_cols))


def add_sub(op: Op, call: KernelCall, weights: str | None = None,
            scratch_budget: int | None = None) -> KernelCall | None:
    p = call.params
    if p["bc"]["flat_size"] <= 0:
        return None                                  # broadcasting: portable kernel
    tables = add_tables(p, subtract=call.fn == "mcuc_sub_s8")
    if tables is None:
        return None
    t1, t2, rq = tables
    rec = rq.records[0]
    params = dict(size=p["bc"]["flat_size"], out_mult=int(rec[1]), out_rnd=int(rec[2]),
                  out_rsh=int(rec[3]), out_sgn=int(rec[4]) if rq.e0 else -1,
                  act_min=p["act_min"], act_max=p["act_max"])
    a, b, y = call.args
    return KernelCall("mcuc_add_s8_dsp", "mcuc_add_dsp_params", params,
                      [a, b, Arg.constant("table1", t1), Arg.constant("table2", t2), y],
                      macs=call.macs, variant=Variant())


def avg_pool(op: Op, call: KernelCall, weights: str | None = None,
             scratch_budget: int | None = None) -> KernelCall | None:
    p = call.params
    if p["channels"] % 4 or p["f_h"] * p["f_w"] > 256:
        return None                                  # 16-bit lane sums: at most 256 taps
    return KernelCall("mcuc_avg_pool_s8_dsp", call.params_type, call.params, call.args,
                      macs=call.macs, variant=Variant())


def _words(n: int) -> int:
    return -(-n // 4) * 4


def _padded(a: np.ndarray, stride: int) -> np.ndarray:
    """Rows (the last axis) padded with zeros to `stride` values."""
    return np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, stride - a.shape[-1])])


def svdf(op: Op, call: KernelCall, weights: str | None = None,
         scratch_budget: int | None = None) -> KernelCall | None:
    """The feature dot products on SMLAD (runtime_c/src/recurrent/svdf_s8_dsp.c), the
    weights_feature rows padded to whole words at compile time."""
    params = dict(call.params, in_stride=_words(call.params["input_size"]))
    scratch = registry_scratch("mcuc_svdf_s8_dsp", params)
    if scratch_budget is not None and scratch > scratch_budget:
        return None
    x, wf, wt, bias, state, y = call.args
    return KernelCall("mcuc_svdf_s8_dsp", call.params_type, params,
                      [x, Arg.constant("weights_feature", _padded(wf.const, params["in_stride"])),
                       wt, bias, state, y],
                      scratch_bytes=scratch, macs=call.macs, variant=Variant(weights="int8"))


def _lstm_params(p: dict) -> dict:
    """The DSP LSTM's params: weight rows padded to a multiple of 4 (lstm_s8_dsp.c)."""
    return dict(p, in_stride=_words(p["input_size"]), rec_stride=_words(p["state_size"]))


def lstm(op: Op, call: KernelCall, weights: str | None = None,
         scratch_budget: int | None = None) -> KernelCall | None:
    """The gates' dot products on SMLAD (runtime_c/src/recurrent/lstm_s8_dsp.c): the weight
    rows padded with zeros to whole words at compile time; weights with a zero point stay
    portable."""
    p = call.params
    if any(p["in_w_offset"]) or any(p["rec_w_offset"]):
        return None
    params = _lstm_params(p)
    scratch = registry_scratch("mcuc_lstm_s8_dsp", params)
    if scratch_budget is not None and scratch > scratch_budget:
        return None
    x, in_w, rec_w, biases, h, c, y = call.args
    return KernelCall("mcuc_lstm_s8_dsp", call.params_type, params,
                      [x, Arg.constant("in_weights", _padded(in_w.const, params["in_stride"])),
                       Arg.constant("rec_weights", _padded(rec_w.const, params["rec_stride"])),
                       biases, h, c, y],
                      scratch_bytes=scratch, macs=call.macs, variant=Variant(weights="int8"))


# --- what the planner asks -----------------------------------------------------------------

def scratch_bytes(call: KernelCall, variant: Variant) -> int:
    """Scratch of the fast kernel for the portable `call` with `variant`'s tiling (the
    formula the builders use)."""
    if call.fn.startswith("mcuc_depthwise_conv_s8"):
        geo = _dw_geometry(call.params, variant.raster)
        if geo is not None:
            return _dw_scratch(geo, call.params["in_c"], variant.band, variant.strip)
    if variant.pixels and not variant.direct:
        view = gemm_view.of_call(call)
        return _gemm_scratch(view.geo, variant.pixels) if view else 0
    if call.fn == "mcuc_lstm_s8":
        return registry_scratch("mcuc_lstm_s8_dsp", _lstm_params(call.params))
    if call.fn == "mcuc_svdf_s8":
        return registry_scratch("mcuc_svdf_s8_dsp", dict(call.params, in_stride=_words(
            call.params["input_size"])))
    return 0


def minimum_variant(call: KernelCall, weights: str | None = None) -> Variant | None:
    """The tiling with the least scratch this module's kernel for `call` can run in (None:
    no fast kernel for the layer shape; the requantisation may still refuse it)."""
    weights = _weights(weights)
    if call.fn not in BUILDERS:
        return None
    if call.fn.startswith("mcuc_depthwise_conv_s8"):
        geo = _dw_geometry(call.params)
        if geo is not None:
            if weights == "int8" and _dw_words(geo) > DW_MAX_WORDS_S8:
                return None
            return Variant(weights=weights, band=1, strip=0 if geo["out_cols"] <= 2 else 2)
    if call.fn.startswith(("mcuc_conv_s8", "mcuc_fully_connected_s8", "mcuc_depthwise")):
        view = gemm_view.of_call(call)
        return _gemm_variant(weights, _gemm_options(view.geo, weights)[-1]) if view else None
    return Variant()


BUILDERS = {
    "mcuc_avg_pool_s8": avg_pool,
    "mcuc_add_s8": add_sub,
    "mcuc_sub_s8": add_sub,
    "mcuc_conv_s8": conv,
    "mcuc_fully_connected_s8": fully_connected,
    # ONNX models: the same GEMM, onnxruntime's float requantisation
    "mcuc_conv_s8_fpreq": conv,
    "mcuc_fully_connected_s8_fpreq": fully_connected,
    "mcuc_depthwise_conv_s8": depthwise,
    "mcuc_depthwise_conv_s8_fpreq": depthwise,
    "mcuc_lstm_s8": lstm,
    "mcuc_svdf_s8": svdf,
}
