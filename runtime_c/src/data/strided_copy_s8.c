/* Strided box copy: the one data-movement kernel behind TRANSPOSE, (STRIDED_)SLICE, SPLIT and
 * CONCATENATION. The generator merges contiguous dims, so the innermost dim is often a run of
 * bytes contiguous on both sides: that case is a memcpy. */
#include <string.h>
#include "mcuc_runtime.h"

void mcuc_strided_copy_s8(const mcuc_copy_params *p, const int8_t *input, int8_t *output)
{
    const int32_t *n = p->shape;
    const int32_t *si = p->in_strides;
    const int32_t *so = p->out_strides;
    const int contiguous = si[5] == 1 && so[5] == 1;
    for (int32_t d0 = 0; d0 < n[0]; ++d0)
    for (int32_t d1 = 0; d1 < n[1]; ++d1)
    for (int32_t d2 = 0; d2 < n[2]; ++d2)
    for (int32_t d3 = 0; d3 < n[3]; ++d3)
    for (int32_t d4 = 0; d4 < n[4]; ++d4) {
        const int8_t *src = input + p->in_offset + d0 * si[0] + d1 * si[1] + d2 * si[2] +
                            d3 * si[3] + d4 * si[4];
        int8_t *dst = output + p->out_offset + d0 * so[0] + d1 * so[1] + d2 * so[2] +
                      d3 * so[3] + d4 * so[4];
        if (contiguous) {
            memcpy(dst, src, (size_t)n[5]);
        } else {
            for (int32_t d5 = 0; d5 < n[5]; ++d5) {
                dst[d5 * so[5]] = src[d5 * si[5]];
            }
        }
    }
}
