/* Walk a broadcast: calls OP(i1, i2, o) for every output element, with the element offsets
 * of both inputs. A flat_size > 0 means same-shape inputs: one linear loop. */
#ifndef MCUC_BROADCAST_H
#define MCUC_BROADCAST_H

#include "mcuc_runtime.h"

#define MCUC_FOR_EACH_BROADCAST(bcp, OP)                                                     \
    do {                                                                                     \
        const mcuc_broadcast *bc_ = (bcp);                                                   \
        if (bc_->flat_size > 0) {                                                            \
            for (int32_t i_ = 0; i_ < bc_->flat_size; ++i_) {                                \
                OP(i_, i_, i_);                                                              \
            }                                                                                \
            break;                                                                           \
        }                                                                                    \
        int32_t o_ = 0;                                                                      \
        const int32_t *s_ = bc_->out_shape;                                                  \
        const int32_t *a_ = bc_->in1_strides;                                                \
        const int32_t *b_ = bc_->in2_strides;                                                \
        for (int32_t d0 = 0; d0 < s_[0]; ++d0)                                               \
        for (int32_t d1 = 0; d1 < s_[1]; ++d1)                                               \
        for (int32_t d2 = 0; d2 < s_[2]; ++d2)                                               \
        for (int32_t d3 = 0; d3 < s_[3]; ++d3)                                               \
        for (int32_t d4 = 0; d4 < s_[4]; ++d4)                                               \
        for (int32_t d5 = 0; d5 < s_[5]; ++d5) {                                             \
            int32_t ia_ = d0 * a_[0] + d1 * a_[1] + d2 * a_[2] + d3 * a_[3] + d4 * a_[4] +   \
                          d5 * a_[5];                                                        \
            int32_t ib_ = d0 * b_[0] + d1 * b_[1] + d2 * b_[2] + d3 * b_[3] + d4 * b_[4] +   \
                          d5 * b_[5];                                                        \
            OP(ia_, ib_, o_);                                                                \
            ++o_;                                                                            \
        }                                                                                    \
    } while (0)

#endif
