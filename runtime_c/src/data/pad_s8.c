/* PAD / PADV2 with a constant: fill the output with pad_value, then copy the input box into
 * it at offset `before` (rows of the innermost dim as memcpy). */
#include <string.h>
#include "mcuc_runtime.h"

void mcuc_pad_s8(const mcuc_pad_params *p, const int8_t *input, int8_t *output)
{
    const int32_t *in = p->in_shape;
    const int32_t *out = p->out_shape;
    int32_t ost[MCUC_MAX_DIMS];
    int32_t total = 1;
    for (int k = MCUC_MAX_DIMS - 1; k >= 0; --k) {
        ost[k] = total;
        total *= out[k];
    }
    memset(output, (int8_t)p->pad_value, (size_t)total);
    const int8_t *src = input;
    for (int32_t d0 = 0; d0 < in[0]; ++d0)
    for (int32_t d1 = 0; d1 < in[1]; ++d1)
    for (int32_t d2 = 0; d2 < in[2]; ++d2)
    for (int32_t d3 = 0; d3 < in[3]; ++d3)
    for (int32_t d4 = 0; d4 < in[4]; ++d4) {
        int8_t *dst = output + (d0 + p->before[0]) * ost[0] + (d1 + p->before[1]) * ost[1] +
                      (d2 + p->before[2]) * ost[2] + (d3 + p->before[3]) * ost[3] +
                      (d4 + p->before[4]) * ost[4] + p->before[5];
        memcpy(dst, src, (size_t)in[5]);
        src += in[5];
    }
}
