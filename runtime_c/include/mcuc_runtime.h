/*
 * mcucompile runtime: integer kernels called by generated model code.
 *
 * Conventions (all kernels):
 *  - tensors are int8, NHWC, contiguous; shapes and quantization are compile-time constants
 *    carried in a params struct that the generator emits as `static const`;
 *  - arithmetic follows TensorFlow Lite Micro's integer reference kernels bit for bit
 *    (the requantisation helpers live in mcuc_fixedpoint.h);
 *  - no malloc: a kernel that needs scratch memory takes a pointer into the arena and has a
 *    matching *_scratch_bytes() function the planner asks at compile time.
 */
#ifndef MCUC_RUNTIME_H
#define MCUC_RUNTIME_H

#include <stdint.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- convolution family */

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;      /* SAME padding resolved at compile time */
    int32_t input_offset;           /* -input zero point */
    int32_t output_offset;          /* output zero point */
    int32_t act_min, act_max;       /* fused activation, quantized */
} mcuc_conv_params;

/* filter: [out_c][k_h][k_w][in_c]; bias: [out_c] or NULL; mult/shift: per output channel. */
void mcuc_conv_s8(const mcuc_conv_params *p, const int8_t *input, const int8_t *filter,
                  const int32_t *bias, const int32_t *mult, const int32_t *shift,
                  int8_t *output);

/* TRANSPOSE_CONV: the filter is [out_c, k_h, k_w, in_c]; input pixel (iy, ix) reaches output
 * pixel (iy stride_h - pad_top + fy, ix stride_w - pad_left + fx) (dil_h, dil_w unused). */
void mcuc_transpose_conv_s8(const mcuc_conv_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int8_t *output);

/* BATCH_MATMUL: out[b][i][j] = requant(sum_k (L[b][i][k] + lhs_offset) (R[b][k][j] +
 * rhs_offset)); up to 3 batch dims (stride 0 where an operand broadcasts); the strides of
 * i, k in L and of k, j in R carry adj_x / adj_y. The output is [batch..., rows, cols]. */
typedef struct {
    int32_t batch[3];
    int32_t lhs_batch_stride[3], rhs_batch_stride[3];
    int32_t rows, cols, depth;
    int32_t lhs_row_stride, lhs_depth_stride, rhs_depth_stride, rhs_col_stride;
    int32_t lhs_offset, rhs_offset, output_offset;
    int32_t output_mult, output_shift;
    int32_t act_min, act_max;
} mcuc_batch_matmul_params;

void mcuc_batch_matmul_s8(const mcuc_batch_matmul_params *p, const int8_t *lhs,
                          const int8_t *rhs, int8_t *output);

/* A 1x1, stride 1, unpadded layer with out_c <= in_c, output written over the input in
 * `data`; `scratch`: mcuc_conv_s8_inplace_scratch_bytes() bytes (one output pixel). */
size_t mcuc_conv_s8_inplace_scratch_bytes(const mcuc_conv_params *p);
void mcuc_conv_s8_inplace(const mcuc_conv_params *p, int8_t *data, const int8_t *filter,
                          const int32_t *bias, const int32_t *mult, const int32_t *shift,
                          int8_t *scratch);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;    /* out_c = in_c * depth_multiplier */
    int32_t depth_multiplier;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dil_h, dil_w;
    int32_t pad_top, pad_left;
    int32_t input_offset;
    int32_t output_offset;
    int32_t act_min, act_max;
} mcuc_dwconv_params;

/* filter: [k_h][k_w][out_c]; bias: [out_c] or NULL; mult/shift: per output channel. */
void mcuc_depthwise_conv_s8(const mcuc_dwconv_params *p, const int8_t *input,
                            const int8_t *filter, const int32_t *bias, const int32_t *mult,
                            const int32_t *shift, int8_t *output);

/* The same layer (depth_multiplier 1) with the output written over the input in `data`;
 * `scratch` holds one output plane: mcuc_depthwise_conv_s8_inplace_scratch_bytes() bytes. */
size_t mcuc_depthwise_conv_s8_inplace_scratch_bytes(const mcuc_dwconv_params *p);
void mcuc_depthwise_conv_s8_inplace(const mcuc_dwconv_params *p, int8_t *data,
                                    const int8_t *filter, const int32_t *bias,
                                    const int32_t *mult, const int32_t *shift, int8_t *scratch);

typedef struct {
    int32_t batches;
    int32_t in_depth;               /* accumulation depth */
    int32_t out_depth;
    int32_t input_offset;
    int32_t filter_offset;          /* -filter zero point (0 for symmetric weights) */
    int32_t output_offset;
    int32_t per_channel;            /* 1: mult/shift have out_depth entries, 0: one entry */
    int32_t act_min, act_max;
} mcuc_fc_params;

/* filter: [out_depth][in_depth]; bias: [out_depth] or NULL. */
void mcuc_fully_connected_s8(const mcuc_fc_params *p, const int8_t *input, const int8_t *filter,
                             const int32_t *bias, const int32_t *mult, const int32_t *shift,
                             int8_t *output);

/* ---------------------------------------------------------------- pooling and reduction */

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t f_h, f_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t act_min, act_max;
} mcuc_pool_params;

void mcuc_avg_pool_s8(const mcuc_pool_params *p, const int8_t *input, int8_t *output);
void mcuc_max_pool_s8(const mcuc_pool_params *p, const int8_t *input, int8_t *output);
/* Armv7E-M DSP cores, channels % 4 == 0 and f_h * f_w <= 256 only. */
void mcuc_avg_pool_s8_dsp(const mcuc_pool_params *p, const int8_t *input, int8_t *output);

/* MEAN over the axes of a tensor viewed as [outer][reduce][inner] after compile-time
 * simplification (the generator merges adjacent reduced / kept axes). */
typedef struct {
    int32_t outer, reduce, inner;
    int32_t input_zp, output_zp;
    int32_t mult, shift;            /* input_scale / output_scale (x reduce count where TFLM does) */
    int32_t mode;                   /* see mean_s8.c: which TFLM algorithm the op follows */
} mcuc_mean_params;

void mcuc_mean_s8(const mcuc_mean_params *p, const int8_t *input, int8_t *output);

/* ---------------------------------------------------------------- elementwise */

#define MCUC_MAX_DIMS 6

/* Broadcast description: the output is iterated as a 6-D box (leading dims padded with 1);
 * in1_strides / in2_strides are element strides, 0 on a broadcast dimension. */
typedef struct {
    int32_t out_shape[MCUC_MAX_DIMS];
    int32_t in1_strides[MCUC_MAX_DIMS];
    int32_t in2_strides[MCUC_MAX_DIMS];
    int32_t flat_size;              /* > 0: no broadcast, operate on flat_size elements */
} mcuc_broadcast;

typedef struct {
    mcuc_broadcast bc;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t left_shift;
    int32_t input1_mult, input1_shift;
    int32_t input2_mult, input2_shift;
    int32_t output_mult, output_shift;
    int32_t act_min, act_max;
} mcuc_add_params;

/* ADD and SUB (out = in1 - in2) share the params layout, and SQUARED_DIFFERENCE
 * (out = (in1 - in2)^2; left_shift 7, no fused activation). */
void mcuc_add_s8(const mcuc_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void mcuc_sub_s8(const mcuc_add_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);
void mcuc_squared_difference_s8(const mcuc_add_params *p, const int8_t *in1,
                                const int8_t *in2, int8_t *out);

typedef struct {
    mcuc_broadcast bc;
    int32_t input1_offset, input2_offset, output_offset;
    int32_t output_mult, output_shift;
    int32_t act_min, act_max;
} mcuc_mul_params;

void mcuc_mul_s8(const mcuc_mul_params *p, const int8_t *in1, const int8_t *in2, int8_t *out);

/* MAXIMUM / MINIMUM: raw values compared (inputs and output share one quantization). */
typedef struct {
    mcuc_broadcast bc;
} mcuc_minmax_params;

void mcuc_maximum_s8(const mcuc_minmax_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out);
void mcuc_minimum_s8(const mcuc_minmax_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out);

/* MobileNetV2's inverted residual block, streamed by rows (inverted_residual_s8.c): 1x1
 * expansion -> depthwise (depth multiplier 1) -> 1x1 projection [-> ADD of the block input].
 * `expand` describes one input row (in_h = out_h = 1), `project` one pixel (all sizes 1),
 * `add` one pixel (bc.flat_size = out channels; used when has_add, residual_first: the block
 * input is the ADD's first operand). A residual block may run with output == input. */
typedef struct {
    mcuc_conv_params expand;
    mcuc_dwconv_params dw;
    mcuc_conv_params project;
    mcuc_add_params add;
    int32_t has_add, residual_first;
} mcuc_inverted_residual_params;

size_t mcuc_inverted_residual_s8_scratch_bytes(const mcuc_inverted_residual_params *p);
void mcuc_inverted_residual_s8(const mcuc_inverted_residual_params *p, const int8_t *input,
                               int8_t *output,
                               const int8_t *e_filter, const int32_t *e_bias,
                               const int32_t *e_mult, const int32_t *e_shift,
                               const int8_t *d_filter, const int32_t *d_bias,
                               const int32_t *d_mult, const int32_t *d_shift,
                               const int8_t *p_filter, const int32_t *p_bias,
                               const int32_t *p_mult, const int32_t *p_shift,
                               int8_t *scratch);

/* ADD / SUB of same-shape inputs on Armv7E-M DSP cores: t1, t2 are the compile-time tables of
 * each input's rescaled value per int8 code (indexed by the code as uint8); the output is
 * requantised as in mcuc_dsp.h. */
typedef struct {
    int32_t size;
    int32_t out_mult, out_rnd, out_rsh, out_sgn;
    int32_t act_min, act_max;
} mcuc_add_dsp_params;

void mcuc_add_s8_dsp(const mcuc_add_dsp_params *p, const int8_t *in1, const int8_t *in2,
                     const int32_t *t1, const int32_t *t2, int8_t *out);

/* ---------------------------------------------------------------- requantisation */

/* out = clamp(output_zp + MultiplyByQuantizedMultiplier(in - input_zp, mult, shift)).
 * Serves QUANTIZE (int8 -> int8) and the quantized RELU / RELU6 / RELU_N1_TO_1. */
typedef struct {
    int32_t size;
    int32_t input_zp, output_zp;
    int32_t mult, shift;
    int32_t act_min, act_max;
} mcuc_requant_params;

void mcuc_requantize_s8(const mcuc_requant_params *p, const int8_t *input, int8_t *output);

/* QUANTIZE between other integer widths: int8/int16 (in_bytes 1/2) -> int8/int16/int32
 * (out_bytes 1/2/4), clamped to the output type's range. */
typedef struct {
    int32_t size;
    int32_t in_bytes, out_bytes;
    int32_t input_zp, output_zp;
    int32_t mult, shift;
} mcuc_requant_int_params;

void mcuc_requantize_int(const mcuc_requant_int_params *p, const void *input, void *output);

/* The float32 edges of a model converted without int8 input/output types: QUANTIZE of a
 * float32 graph input (q = clamp(round_half_away(x / scale) + zero_point)) and DEQUANTIZE to
 * a float32 graph output (x = scale (q - zero_point)), in float32 as TFLM (quantize_f32.c). */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} mcuc_float_quant_params;

void mcuc_quantize_f32_s8(const mcuc_float_quant_params *p, const float *input,
                          int8_t *output);
void mcuc_dequantize_s8_f32(const mcuc_float_quant_params *p, const int8_t *input,
                            float *output);

/* RSQRT: mult / shift rescale 1 / sqrt(q - input_zp) to the output (rsqrt_s8.c). */
void mcuc_rsqrt_s8(const mcuc_requant_params *p, const int8_t *input, int8_t *output);

/* ---------------------------------------------------------------- nonlinear activations */

typedef struct {
    int32_t rows, depth;
    int32_t input_mult, input_left_shift;
    int32_t diff_min;
} mcuc_softmax_params;

void mcuc_softmax_s8(const mcuc_softmax_params *p, const int8_t *input, int8_t *output);
/* The same with an int16 output (scale 1/65536, zero point -32768). */
void mcuc_softmax_s8_s16(const mcuc_softmax_params *p, const int8_t *input, int16_t *output);

/* ---------------------------------------------------------------- recurrent layers */

/* SVDF, int8 input / weights_feature / output, int8 or int16 (state_bytes 1/2) state and
 * weights_time; state [batches][filters][memory] persists across runs (svdf_s8.c). */
typedef struct {
    int32_t batches, input_size, filters, units, rank, memory;
    int32_t in_stride;              /* weights_feature row length (padded on DSP) */
    int32_t state_bytes;
    int32_t input_zp, state_zp, output_zp;
    int32_t mult1, shift1;          /* input x weights_feature -> state */
    int32_t mult2, shift2;          /* state x weights_time -> output */
} mcuc_svdf_params;

/* weights_feature: [filters][in_stride]; weights_time: [filters][memory] of the state's
 * type; bias: [units] int32 or NULL. */
void mcuc_svdf_s8(const mcuc_svdf_params *p, const int8_t *input, const int8_t *weights_feature,
                  const void *weights_time, const int32_t *bias, void *state, int8_t *output);
/* The same on Armv7E-M DSP (svdf_s8_dsp.c): rows padded with zeros to in_stride (a
 * multiple of 4); scratch: mcuc_svdf_s8_dsp_scratch_bytes() bytes. */
size_t mcuc_svdf_s8_dsp_scratch_bytes(const mcuc_svdf_params *p);
void mcuc_svdf_s8_dsp(const mcuc_svdf_params *p, const int8_t *input,
                      const int8_t *weights_feature, const void *weights_time,
                      const int32_t *bias, void *state, int8_t *output, void *scratch);
/* The same on Helium (svdf_s8_mve.c): rows padded to in_stride (a multiple of 16), the input
 * zero point folded into feature_offsets [filters]; scratch: in_stride bytes. */
size_t mcuc_svdf_s8_mve_scratch_bytes(const mcuc_svdf_params *p);
void mcuc_svdf_s8_mve(const mcuc_svdf_params *p, const int8_t *input,
                      const int8_t *weights_feature, const int32_t *feature_offsets,
                      const void *weights_time, const int32_t *bias, void *state,
                      int8_t *output, void *scratch);

/* UNIDIRECTIONAL_SEQUENCE_LSTM, int8 activations and weights, int16 cell state (lstm_s8.c).
 * Gates in the order input, forget, cell, output; multipliers as (mult, shift). */
typedef struct {
    int32_t batches, steps, input_size, state_size, time_major;
    int32_t in_stride, rec_stride;              /* weight row lengths (rows may be padded) */
    int32_t input_offset, hidden_offset;        /* -zero points of input and hidden state */
    int32_t in_w_offset[4], rec_w_offset[4];    /* -weight zero points */
    int32_t in_mult[4], in_shift[4];            /* input FC -> int16 at 2^-12 */
    int32_t rec_mult[4], rec_shift[4];          /* recurrent FC -> int16 at 2^-12 */
    int32_t cell_tanh;                          /* cell gate: 1 tanh, 0 sigmoid */
    int32_t forget_mult, forget_shift;          /* forget x cell -> cell */
    int32_t input_mult, input_shift;            /* input x cell gate -> cell */
    int32_t hidden_mult, hidden_shift, hidden_zp; /* tanh(cell) x output -> hidden */
    int32_t tanh_mult, tanh_shift;              /* cell -> tanh's Q3.12 input */
    int32_t clip, cell_clip;                    /* cell clipped to +-cell_clip if clip */
} mcuc_lstm_params;

/* in_weights: [4][state][input]; rec_weights: [4][state][state]; biases: [4][state];
 * hidden: [batches][state] int8 and cell: [batches][state] int16, kept across runs;
 * scratch: mcuc_lstm_s8_scratch_bytes() bytes. */
size_t mcuc_lstm_s8_scratch_bytes(const mcuc_lstm_params *p);
void mcuc_lstm_s8(const mcuc_lstm_params *p, const int8_t *input, const int8_t *in_weights,
                  const int8_t *rec_weights, const int32_t *biases, int8_t *hidden,
                  void *cell, int8_t *output, void *scratch);
/* The same on Armv7E-M DSP (lstm_s8_dsp.c): weight zero points 0, rows padded with zeros to
 * in_stride / rec_stride (multiples of 4). */
size_t mcuc_lstm_s8_dsp_scratch_bytes(const mcuc_lstm_params *p);
void mcuc_lstm_s8_dsp(const mcuc_lstm_params *p, const int8_t *input, const int8_t *in_weights,
                      const int8_t *rec_weights, const int32_t *biases, int8_t *hidden,
                      void *cell, int8_t *output, void *scratch);
/* The same on Helium (lstm_s8_mve.c): rows padded to in_stride / rec_stride (multiples of
 * 16), the zero points folded into biases (input side) and rec_biases (recurrent side). */
size_t mcuc_lstm_s8_mve_scratch_bytes(const mcuc_lstm_params *p);
void mcuc_lstm_s8_mve(const mcuc_lstm_params *p, const int8_t *input, const int8_t *in_weights,
                      const int8_t *rec_weights, const int32_t *biases,
                      const int32_t *rec_biases, int8_t *hidden, void *cell, int8_t *output,
                      void *scratch);

/* LOGISTIC and TANH share their parameter layout. */
typedef struct {
    int32_t size;
    int32_t input_zp;
    int32_t input_range_radius;
    int32_t input_mult, input_left_shift;
} mcuc_sigmoid_params;

void mcuc_logistic_s8(const mcuc_sigmoid_params *p, const int8_t *input, int8_t *output);
void mcuc_tanh_s8(const mcuc_sigmoid_params *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t size;
    int32_t input_zp, output_zp;
    int16_t reluish_mult_fixedpoint_int16;
    int32_t reluish_mult_exponent;
    int16_t output_mult_fixedpoint_int16;
    int32_t output_mult_exponent;
} mcuc_hard_swish_params;

void mcuc_hard_swish_s8(const mcuc_hard_swish_params *p, const int8_t *input, int8_t *output);

typedef struct {
    int32_t size;
    int32_t input_zp, output_zp;
    int32_t mult_alpha, shift_alpha;     /* alpha * in_scale / out_scale */
    int32_t mult_identity, shift_identity; /* in_scale / out_scale */
} mcuc_leaky_relu_params;

void mcuc_leaky_relu_s8(const mcuc_leaky_relu_params *p, const int8_t *input, int8_t *output);

/* ---------------------------------------------------------------- data movement */

/* Strided copy of a box of up to 6 dims: out[o_off + sum i_k*out_strides[k]] =
 * in[in_off + sum i_k*in_strides[k]]. TRANSPOSE, STRIDED_SLICE, SLICE, SPLIT and
 * CONCATENATION are all lowered to this at compile time. */
typedef struct {
    int32_t shape[MCUC_MAX_DIMS];
    int32_t in_strides[MCUC_MAX_DIMS];
    int32_t out_strides[MCUC_MAX_DIMS];
    int32_t in_offset, out_offset;
} mcuc_copy_params;

void mcuc_strided_copy_s8(const mcuc_copy_params *p, const int8_t *input, int8_t *output);

/* PAD / PADV2 / MIRROR-free constant pad over up to 6 dims. */
typedef struct {
    int32_t in_shape[MCUC_MAX_DIMS];
    int32_t out_shape[MCUC_MAX_DIMS];
    int32_t before[MCUC_MAX_DIMS];
    int32_t pad_value;
} mcuc_pad_params;

void mcuc_pad_s8(const mcuc_pad_params *p, const int8_t *input, int8_t *output);

/* GATHER with constant indices: input [batch, outer, axis_size, inner] -> output
 * [batch, outer, coords, inner] (gather_s8.c). */
typedef struct {
    int32_t batch, outer, axis_size, coords, inner;
} mcuc_gather_params;

void mcuc_gather_s8(const mcuc_gather_params *p, const int8_t *input, const int32_t *indices,
                    int8_t *output);

/* RESIZE_NEAREST_NEIGHBOR / RESIZE_BILINEAR of NHWC images; rows / cols are the compile-time
 * source tables of each output row / column (one index each for nearest, {lower, upper,
 * weight} for bilinear; see the kernels). */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, depth;
    int32_t out_h, out_w;
} mcuc_resize_params;

void mcuc_resize_nearest_s8(const mcuc_resize_params *p, const int8_t *input,
                            const int32_t *rows, const int32_t *cols, int8_t *output);
void mcuc_resize_bilinear_s8(const mcuc_resize_params *p, const int8_t *input,
                             const int32_t *rows, const int32_t *cols, int8_t *output);

/* ---------------------------------------------------------------- reductions to indices */

/* ARG_MAX / ARG_MIN: the input as [outer, size, inner], the axis in the middle; the output
 * holds outer x inner int32 indices. */
typedef struct {
    int32_t outer, size, inner;
} mcuc_arg_params;

void mcuc_arg_max_s8(const mcuc_arg_params *p, const int8_t *input, int32_t *output);
void mcuc_arg_min_s8(const mcuc_arg_params *p, const int8_t *input, int32_t *output);

/* ---------------------------------------------------------------- onnxruntime arithmetic */
/* Models from the ONNX frontend are checked against onnxruntime, which requantises in float
 * (see mcuc_fpreq.h). These kernels do the same float32 operations in the same order.
 * *_fpreq: integer accumulation, then round_half_even((float)acc * scale[c]) + zero point. */

void mcuc_conv_s8_fpreq(const mcuc_conv_params *p, const int8_t *input, const int8_t *filter,
                        const int32_t *bias, const float *scale, int8_t *output);
void mcuc_depthwise_conv_s8_fpreq(const mcuc_dwconv_params *p, const int8_t *input,
                                  const int8_t *filter, const int32_t *bias, const float *scale,
                                  int8_t *output);
void mcuc_fully_connected_s8_fpreq(const mcuc_fc_params *p, const int8_t *input,
                                   const int8_t *filter, const int32_t *bias, const float *scale,
                                   int8_t *output);

typedef struct {
    mcuc_broadcast bc;
    int32_t x_is_in2;               /* 1: in2 plays MLAS's vector operand x */
    float ratio_x, ratio_y, fixed;
    int32_t act_min, act_max;
} mcuc_add_f32_params;

void mcuc_add_s8_f32(const mcuc_add_f32_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out);

typedef struct {
    mcuc_broadcast bc;
    int32_t in1_zp, in2_zp;
    float ratio, out_zp_f;
    int32_t act_min, act_max;
} mcuc_mul_f32_params;

void mcuc_mul_s8_f32(const mcuc_mul_f32_params *p, const int8_t *in1, const int8_t *in2,
                     int8_t *out);

typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t f_h, f_w;
    int32_t stride_h, stride_w;
    int32_t pad_top, pad_left;
    int32_t count_include_pad;
    float x_scale;
    int32_t x_zp;
    float y_scale;
    int32_t y_zp;
} mcuc_avg_pool_f32_params;

void mcuc_avg_pool_s8_f32(const mcuc_avg_pool_f32_params *p, const int8_t *input,
                          int8_t *output);

typedef struct {
    int32_t batches, hw, channels;
    int32_t bias;                   /* -x_zp * hw */
    float scale;                    /* x_scale / (y_scale * hw) */
    int32_t y_zp;
} mcuc_gap_fpreq_params;

void mcuc_global_avg_pool_s8_fpreq(const mcuc_gap_fpreq_params *p, const int8_t *input,
                                   int8_t *output);

/* out[i] = table[(uint8_t)in[i]]: any int8 -> int8 function, tabulated at compile time. */
typedef struct {
    int32_t size;
} mcuc_lut_params;

void mcuc_lut_s8(const mcuc_lut_params *p, const int8_t *input, const int8_t *table,
                 int8_t *output);

#ifdef __cplusplus
}
#endif

#endif /* MCUC_RUNTIME_H */
