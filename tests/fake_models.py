"""Hand-written fake models for the harness tests (test_run_layer.py, test_serial.py): a
model.h/model.c pair honouring the code generator's contract (templates/model.h.j2: the
zero-copy API over one 64-byte input and one 64-byte output), whose mcuc_model_run() does
something a test can check: XOR the bytes, trap, recurse past the stack, ..."""
from __future__ import annotations

from pathlib import Path

MODEL_H = """#ifndef MODEL_H
#define MODEL_H
#include <stdint.h>
#define MCUC_INPUT_BYTES 64
#define MCUC_OUTPUT_BYTES 64
#define MCUC_ARENA_BYTES 64
#define MCUC_NUM_INPUTS 1
#define MCUC_NUM_OUTPUTS 1
#define MCUC_INPUT_SIZES { MCUC_INPUT_BYTES }
#define MCUC_OUTPUT_SIZES { MCUC_OUTPUT_BYTES }
int8_t *mcuc_model_input(int i);
const int8_t *mcuc_model_output(int i);
void mcuc_model_run(void);
void mcuc_model_reset(void);
#endif
"""

# The zero-copy API over one input and one output buffer; each fake defines mcuc_model_run().
IO = """
static int8_t in[MCUC_INPUT_BYTES], out[MCUC_OUTPUT_BYTES];
int8_t *mcuc_model_input(int i) { return i == 0 ? in : 0; }
const int8_t *mcuc_model_output(int i) { return i == 0 ? out : 0; }
void mcuc_model_reset(void) {}
"""

# Faults unless the first input byte is 99.
TRAP = """
void mcuc_model_run(void)
{
    if (in[0] != 99)
        __builtin_trap();
    out[0] = 0;
}
"""

# A frame 2 KB deeper than the board's stack (build with STACK_BYTES defined).
DEEP = """
void mcuc_model_run(void)
{
    volatile int8_t frame[STACK_BYTES + 2048];
    for (unsigned i = 0; i < sizeof frame; i += 64)
        frame[i] = in[i % MCUC_INPUT_BYTES];
    out[0] = frame[0];
}
"""


def write_fake(out: Path, model: str, **defines) -> None:
    """model.h and model.c for the fake `model` (one of the bodies above, or a test's own)
    in directory `out`, with `defines` as #define lines before it."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "model.h").write_text(MODEL_H)
    prologue = "".join(f"#define {key} {value}\n" for key, value in defines.items())
    (out / "model.c").write_text(f'#include "model.h"\n{prologue}{IO}{model}')
