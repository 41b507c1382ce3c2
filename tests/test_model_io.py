"""The zero-copy model API (model.h): inputs and outputs live in the arena.

mcuc_model_input(i) / mcuc_model_output(i) point into the arena, mcuc_model_run() runs the
schedule on what the inputs hold, mcuc_model_invoke(in, out) copies in, runs and copies out.
Checked with a host C program built by the project's own Makefile (ASan/UBSan, -Werror) in
place of the harness, against mcuc_model_invoke and TFLM; and on QEMU, that the harnesses
keep no copy of the vectors (static RAM = arena + a little), so a 144x144 MobileNetV2 now fits
a 128 KB part.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

import modelgen
from conftest import assert_bit_exact, shared_model, write_model
from mcucompile.api import OTHER_STATIC, compile_model, simulate
from mcucompile.boards import get_board
from mcucompile.build import build_project
from mcucompile.reference import reference_outputs

# Replaces harness.c: runs the vectors of inputs.bin back to back through the zero-copy API
# (the next vector's inputs are written before this run's outputs are read), then through
# mcuc_model_invoke, compares the two and writes the zero-copy outputs to outputs.bin.
PROGRAM = r"""
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "model.h"

#define MAX_VECTORS 8
static int8_t vectors[MAX_VECTORS][MCUC_INPUT_BYTES];
static int8_t zero_copy[MAX_VECTORS][MCUC_OUTPUT_BYTES];
static const uint32_t input_sizes[] = MCUC_INPUT_SIZES;
static const uint32_t output_sizes[] = MCUC_OUTPUT_SIZES;

static void write_inputs(const int8_t *vector)
{
    for (int i = 0; i < MCUC_NUM_INPUTS; ++i) {
        memcpy(mcuc_model_input(i), vector, input_sizes[i]);
        vector += input_sizes[i];
    }
}

static void read_outputs(int8_t *packed)
{
    for (int i = 0; i < MCUC_NUM_OUTPUTS; ++i) {
        memcpy(packed, mcuc_model_output(i), output_sizes[i]);
        packed += output_sizes[i];
    }
}

static int overlap(const int8_t *a, uint32_t na, const int8_t *b, uint32_t nb)
{
    return (uintptr_t)a < (uintptr_t)b + nb && (uintptr_t)b < (uintptr_t)a + na;
}

static int fail(const char *what, int k)
{
    printf("FAIL %s (%d)\n", what, k);
    return 1;
}

int main(void)
{
    FILE *f = fopen("inputs.bin", "rb");
    if (!f)
        return fail("cannot open inputs.bin", 0);
    int n = 0;
    while (n < MAX_VECTORS && fread(vectors[n], 1, MCUC_INPUT_BYTES, f) == MCUC_INPUT_BYTES)
        n++;
    fclose(f);
    if (mcuc_model_input(-1) || mcuc_model_input(MCUC_NUM_INPUTS) || mcuc_model_output(-1) ||
        mcuc_model_output(MCUC_NUM_OUTPUTS))
        return fail("a bad index gives a pointer", 0);
    for (int i = 0; i < MCUC_NUM_INPUTS; ++i) {
        for (int j = 0; j < MCUC_NUM_INPUTS; ++j)
            if (i != j && overlap(mcuc_model_input(i), input_sizes[i], mcuc_model_input(j),
                                  input_sizes[j]))
                return fail("two inputs overlap", i);
        for (int j = 0; j < MCUC_NUM_OUTPUTS; ++j)
            if (overlap(mcuc_model_input(i), input_sizes[i], mcuc_model_output(j),
                        output_sizes[j]))
                return fail("an input overlaps an output", i);
    }
    write_inputs(vectors[0]);
    for (int k = 0; k < n; ++k) {
        mcuc_model_run();
        write_inputs(vectors[(k + 1) % n]);
        read_outputs(zero_copy[k]);
    }
    for (int k = 0; k < n; ++k) {
        int8_t out[MCUC_OUTPUT_BYTES];
        mcuc_model_invoke(vectors[k], out);
        if (memcmp(out, zero_copy[k], sizeof out) != 0)
            return fail("mcuc_model_invoke differs from the zero-copy run", k);
    }
    f = fopen("outputs.bin", "wb");
    if (!f || fwrite(zero_copy, MCUC_OUTPUT_BYTES, (size_t)n, f) != (size_t)n || fclose(f))
        return fail("cannot write outputs.bin", 0);
    printf("OK n=%d\n", n);
    return 0;
}
"""


def two_in_two_out() -> bytes:
    """Inputs a, b [1, 6, 6, 4]: conv(concat(a, b)) and a + b (the ADD may run in place over
    an input: then that output would share its bytes)."""
    tf = modelgen._tf()
    w = np.random.default_rng(3).uniform(-0.5, 0.5, (3, 3, 8, 5)).astype(np.float32)

    def f(a, b):
        return tf.nn.relu(tf.nn.conv2d(tf.concat([a, b], -1), w, 1, "SAME")), tf.add(a, b)

    return modelgen.convert_fn(f, [(1, 6, 6, 4), (1, 6, 6, 4)], seed=3)


def run_program(model: Path, out: Path, n: int = 5, seed: int = 0):
    """Compile for the host, build PROGRAM as the harness (ASan/UBSan), run it on n random
    vectors; returns (compiled model, vectors, zero-copy outputs)."""
    compiled = compile_model(model, "host", out)
    vectors = np.random.default_rng(seed).integers(-128, 128, (n, compiled.project.input_bytes),
                                                   np.int8)
    (out / "harness.c").write_text(PROGRAM)
    exe = build_project(out, get_board("host"), sanitize=True)
    (out / "inputs.bin").write_bytes(vectors.tobytes())
    proc = subprocess.run([str(exe)], cwd=out, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and f"OK n={len(vectors)}" in proc.stdout, proc.stdout + proc.stderr
    outputs = np.frombuffer((out / "outputs.bin").read_bytes(), np.int8)
    return compiled, vectors, outputs.reshape(n, compiled.project.output_bytes)


@pytest.mark.parametrize("make", [two_in_two_out, lambda: modelgen.logistic((1, 4, 4, 3))],
                         ids=["2-inputs-2-outputs", "logistic-in-place"])
def test_zero_copy_matches_invoke_and_tflm(tmp_path, make):
    path = write_model(tmp_path, make())
    compiled, vectors, outputs = run_program(path, tmp_path / "prog")
    reference = reference_outputs(path.read_bytes(), compiled.graph, vectors)
    np.testing.assert_array_equal(outputs, reference)
    # no output shares a byte with an input (LOGISTIC would run in place otherwise): the
    # program above wrote each next input before reading the last outputs
    plan = compiled.plan
    spans = lambda ts: [(plan.offset_of(t), plan.offset_of(t) + t.nbytes) for t in ts]  # noqa: E731
    for a, b in spans(compiled.graph.inputs):
        for c, d in spans(compiled.graph.outputs):
            assert b <= c or d <= a


@pytest.mark.parametrize("transport", ["files", "serial"])
def test_harnesses_stream_several_inputs_and_outputs(tmp_path, transport):
    """Each vector is split over the two inputs in the arena, the outputs are gathered."""
    path = write_model(tmp_path, two_in_two_out())
    rep = simulate(path, "mps2-an386", count=3, seed=4, transport=transport, timeout=60)
    assert_bit_exact(rep)
    assert len(rep.instructions) == 3 and min(rep.instructions) > 0


@pytest.mark.parametrize("transport", ["files", "serial"])
def test_harness_keeps_no_copy_of_the_vectors(transport):
    """person_detect's 9,216-byte input lives only in the arena: static RAM (.data + .bss of
    the ELF) is the arena plus less than the 2 KB the SRAM budget keeps for other data."""
    rep = simulate(shared_model("person_detect"), "mps2-an386", count=1, transport=transport,
                   timeout=60)
    assert_bit_exact(rep)
    assert rep.arena_bytes < rep.ram_bytes < rep.arena_bytes + OTHER_STATIC


def test_mobilenet_v2_144_fits_a_128k_part(tmp_path):
    """0.35 at 144x144: the 62,208-byte image no longer needs a copy beside the patched arena,
    so it fits the netduinoplus2's 128 KB (it did not while the harness kept the input and
    output vectors). The 128 KB SRAM alone (--sram N: the main SRAM; by default the board's
    64 KB CCM is used too, test_regions): the search chooses the patches or streamed blocks
    itself (with shifted in-place layers, streaming alone fits: 103,728 bytes)."""
    path = write_model(tmp_path, modelgen.mobilenet_v2(0.35, 144), "mnv2_035_144")
    board = get_board("netduinoplus2")
    sram = board.sram_size - board.stack_bytes - board.heap_bytes - OTHER_STATIC
    rep = simulate(path, "netduinoplus2", count=1, timeout=300, sram=sram)
    assert_bit_exact(rep)
    assert rep.patch is not None or rep.streamed_blocks
    assert rep.ram_bytes + board.stack_bytes + board.heap_bytes <= board.sram_size
