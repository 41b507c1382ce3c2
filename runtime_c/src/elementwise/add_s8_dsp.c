/* ADD and SUB, int8, same-shape inputs, Armv7E-M DSP path: table lookups + fast requant.
 *
 * TFLM rescales each input on its own before the sum (offset, left shift, multiplier), so
 * that half of the work depends on one int8 code only: the compiler tabulates it for all 256
 * codes (mcucompile/passes/pack.py add_tables; SUB negates the second table), already scaled
 * by 2^(left+1) for the output requantisation (mcuc_dsp.h). Per element: two byte loads,
 * two table loads, an add and the three-instruction requantisation. Element i is read before
 * it is written, so the output may overwrite an input. */
#include "mcuc_runtime.h"

#if defined(__ARM_FEATURE_DSP)
#include "mcuc_dsp.h"

static inline __attribute__((always_inline)) int8_t add_one(int32_t sum, int32_t mult,
                                                            int32_t rnd, int32_t rsh,
                                                            int32_t sgn, int32_t lo, int32_t hi)
{
    const int32_t v = mcuc_dsp_requant_e0(sum, mult, rnd, rsh, sgn);
    return (int8_t)(v < lo ? lo : (v > hi ? hi : v));
}

void mcuc_add_s8_dsp(const mcuc_add_dsp_params *p, const int8_t *in1, const int8_t *in2,
                     const int32_t *t1, const int32_t *t2, int8_t *out)
{
    const uint8_t *a = (const uint8_t *)in1;
    const uint8_t *b = (const uint8_t *)in2;
    const int32_t n = p->size, m = p->out_mult, r = p->out_rnd, s = p->out_rsh;
    const int32_t g = p->out_sgn, lo = p->act_min, hi = p->act_max;
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        /* all loads first: the output may be one of the inputs */
        const int32_t s0 = t1[a[i]] + t2[b[i]];
        const int32_t s1 = t1[a[i + 1]] + t2[b[i + 1]];
        const int32_t s2 = t1[a[i + 2]] + t2[b[i + 2]];
        const int32_t s3 = t1[a[i + 3]] + t2[b[i + 3]];
        out[i] = add_one(s0, m, r, s, g, lo, hi);
        out[i + 1] = add_one(s1, m, r, s, g, lo, hi);
        out[i + 2] = add_one(s2, m, r, s, g, lo, hi);
        out[i + 3] = add_one(s3, m, r, s, g, lo, hi);
    }
    for (; i < n; ++i) {
        out[i] = add_one(t1[a[i]] + t2[b[i]], m, r, s, g, lo, hi);
    }
}
#endif
