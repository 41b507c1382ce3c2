/* MobileNetV2's inverted residual block streamed by rows: 1x1 expansion CONV_2D -> DEPTHWISE_CONV_2D
 * (depth multiplier 1) -> 1x1 projection CONV_2D [-> ADD of the block input], int8, without
 * ever holding the expanded tensor or the depthwise output in full.
 *
 * The depthwise layer's output row oy reads expanded rows y0 .. y0 + span - 1
 * (y0 = oy * stride - pad_top, span = (k_h - 1) * dil_h + 1). Those rows live in a ring of
 * `span` rows (row y in slot y % span): before output row oy, the expanded rows it needs
 * that are not there yet are computed from the input rows, overwriting rows no later output
 * row reads. Each output pixel's depthwise values (one pixel, all channels) go to a small
 * buffer, then through the projection and, for a residual block, the ADD.
 *
 * Scratch: span * in_w * expanded channels (ring) + expanded channels (one depthwise pixel)
 * + out channels (one projected pixel, residual blocks only).
 *
 * In place: a residual block may write its output over its input (`output == input`): output
 * row oy is stored after expanded rows up to at least oy were computed (pad_top < span), and
 * the ADD reads each residual pixel before it writes that pixel.
 *
 * Arithmetic is that of mcuc_conv_s8, mcuc_depthwise_conv_s8 and mcuc_add_s8 (the 1x1 layers
 * and the ADD call those kernels on one row or one pixel): bit-exact with the three or four
 * layers run one after the other. */
#include "mcuc_runtime.h"
#include "inverted_residual.h"

size_t mcuc_inverted_residual_s8_scratch_bytes(const mcuc_inverted_residual_params *p)
{
    const mcuc_dwconv_params *d = &p->dw;
    return (size_t)mcuc_irb_span(d) * d->in_w * d->in_c + d->in_c
           + (p->has_add ? (size_t)p->project.out_c : 0);
}

void mcuc_inverted_residual_s8(const mcuc_inverted_residual_params *p, const int8_t *input,
                               int8_t *output,
                               const int8_t *e_filter, const int32_t *e_bias,
                               const int32_t *e_mult, const int32_t *e_shift,
                               const int8_t *d_filter, const int32_t *d_bias,
                               const int32_t *d_mult, const int32_t *d_shift,
                               const int8_t *p_filter, const int32_t *p_bias,
                               const int32_t *p_mult, const int32_t *p_shift,
                               int8_t *scratch)
{
    const mcuc_dwconv_params *d = &p->dw;
    const int32_t channels = d->in_c, out_c = p->project.out_c, span = mcuc_irb_span(d);
    const size_t row_bytes = (size_t)d->in_w * channels;
    const size_t in_row_bytes = (size_t)d->in_w * p->expand.in_c;
    int8_t *ring = scratch;
    int8_t *dw_px = ring + (size_t)span * row_bytes;
    int8_t *proj_px = dw_px + channels;
    int32_t next_row = 0, from, to;

    for (int32_t oy = 0; oy < d->out_h; ++oy) {
        mcuc_irb_rows_needed(d, oy, &next_row, &from, &to);
        for (int32_t y = from; y < to; ++y) {
            mcuc_conv_s8(&p->expand, input + (size_t)y * in_row_bytes, e_filter, e_bias,
                         e_mult, e_shift, ring + (size_t)(y % span) * row_bytes);
        }
        for (int32_t ox = 0; ox < d->out_w; ++ox) {
            mcuc_irb_dw_pixel(d, ring, oy, ox, d_filter, d_bias, d_mult, d_shift, dw_px);
            const size_t px = ((size_t)oy * d->out_w + ox) * out_c;
            if (!p->has_add) {
                mcuc_conv_s8(&p->project, dw_px, p_filter, p_bias, p_mult, p_shift, output + px);
                continue;
            }
            mcuc_conv_s8(&p->project, dw_px, p_filter, p_bias, p_mult, p_shift, proj_px);
            if (p->residual_first) {   /* the residual has the output's shape */
                mcuc_add_s8(&p->add, input + px, proj_px, output + px);
            } else {
                mcuc_add_s8(&p->add, proj_px, input + px, output + px);
            }
        }
    }
}
