/* BATCH_MATMUL, int8, as TFLM's reference (int32 accumulator, one multiplier):
 *
 *   out[b][i][j] = clamp(MBQM(sum_k (L[b][i][k] + lhs_offset) (R[b][k][j] + rhs_offset),
 *                             output_mult, output_shift) + output_offset)
 *
 * TFLM transposes R (or L with adj_x) into a buffer first; here the strides read the
 * operands as they are stored (the same integer sums). Batch dims broadcast by stride 0. */
#include "mcuc_runtime.h"
#include "mcuc_fixedpoint.h"

void mcuc_batch_matmul_s8(const mcuc_batch_matmul_params *p, const int8_t *lhs,
                          const int8_t *rhs, int8_t *output)
{
    for (int32_t b0 = 0; b0 < p->batch[0]; ++b0)
    for (int32_t b1 = 0; b1 < p->batch[1]; ++b1)
    for (int32_t b2 = 0; b2 < p->batch[2]; ++b2) {
        const int8_t *l = lhs + b0 * p->lhs_batch_stride[0] + b1 * p->lhs_batch_stride[1] +
                          b2 * p->lhs_batch_stride[2];
        const int8_t *r = rhs + b0 * p->rhs_batch_stride[0] + b1 * p->rhs_batch_stride[1] +
                          b2 * p->rhs_batch_stride[2];
        for (int32_t i = 0; i < p->rows; ++i) {
            for (int32_t j = 0; j < p->cols; ++j) {
                const int8_t *li = l + i * p->lhs_row_stride;
                const int8_t *rj = r + j * p->rhs_col_stride;
                int32_t acc = 0;
                for (int32_t k = 0; k < p->depth; ++k) {
                    acc += (li[k * p->lhs_depth_stride] + p->lhs_offset) *
                           (rj[k * p->rhs_depth_stride] + p->rhs_offset);
                }
                acc = mcuc_mul_by_quantized_mult(acc, p->output_mult, p->output_shift) +
                      p->output_offset;
                *output++ = (int8_t)mcuc_clamp(acc, p->act_min, p->act_max);
            }
        }
    }
}
