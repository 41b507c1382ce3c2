/* Any int8 -> int8 function of one input value, as a 256-entry table computed at compile
 * time (indexed by the input as uint8). The ONNX frontend fills the table by running
 * onnxruntime itself over all 256 inputs (QLinearSigmoid, requantising QLinearConcat inputs,
 * DequantizeLinear -> Relu/Clip/... -> QuantizeLinear), so it is exact by construction. */
#include "mcuc_runtime.h"

void mcuc_lut_s8(const mcuc_lut_params *p, const int8_t *input, const int8_t *table,
                 int8_t *output)
{
    for (int32_t i = 0; i < p->size; ++i) {
        output[i] = table[(uint8_t)input[i]];
    }
}
