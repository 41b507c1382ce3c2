"""The kernel registry (mcucompile/backend/registry.py): every kernel the compiler can call has
a spec, names resolve through it, and each scratch formula agrees with its C
`*_scratch_bytes()` (compiled and run on the host for many layer shapes)."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

import modelgen
from conftest import SHARED_MODEL_NAMES, shared_model, write_model
from mcucompile.api import plan_model
from mcucompile.backend.registry import REGISTRY, base_name, spec_of
from mcucompile.codegen.c_literals import initializer
from mcucompile.passes import kernels_dsp, kernels_fast, kernels_mve
from mcucompile.resources import runtime_dir


def test_every_runtime_kernel_has_a_spec():
    header = (runtime_dir() / "include" / "mcuc_runtime.h").read_text()
    kernels = set(re.findall(r"^void (mcuc_\w+)\(", header, re.M))
    kernels -= {"mcuc_model_reset"}
    assert kernels, "no kernel prototypes found"
    assert sorted(kernels - set(REGISTRY)) == []
    for table in (kernels_dsp.BUILDERS, kernels_mve.BUILDERS, kernels_fast.builders("host")):
        assert sorted(set(table) - set(REGISTRY)) == []


def test_generated_names_resolve_to_their_base():
    assert base_name("mcuc_conv_s8_dsp_op12_t1a2b3c4d") == "mcuc_conv_s8_dsp"
    assert base_name("mcuc_conv_s8_dsp_op3_row") == "mcuc_conv_s8_dsp"
    assert spec_of("mcuc_depthwise_conv_s8_mve_op7").isa == "mve"
    with pytest.raises(KeyError, match="not in the registry"):
        spec_of("mcuc_no_such_kernel")


@pytest.mark.parametrize("board", ["host", "mps2-an386", "mps3-an547"])
def test_every_planned_call_has_a_spec(board):
    """Plans of the shared models (patched, so tiles and streamed blocks appear too) call
    only registered kernels, and each spec implements the op it is called for."""
    for name in SHARED_MODEL_NAMES:
        _, plan = plan_model(shared_model(name), board, patch="auto")
        for op in plan.schedule:
            for call in op.kernel.calls:
                spec = spec_of(call)
                assert op.type in spec.ops or op.type == "PATCH_COPY", (op.where, call.fn)


SCRATCH_C = r"""
#include <stdio.h>
#include "mcuc_runtime.h"
{decls}
int main(void)
{{
{prints}
    return 0;
}}
"""


def _scratch_cases():
    """Real calls of the kernels whose C sizes their scratch: the in-place layers, the
    streamed block, SVDF and LSTM, with the layer geometry varied."""
    rng = np.random.default_rng(0)
    cases = []
    for seed, (h, w, c) in enumerate([(9, 7, 8), (12, 12, 16), (5, 11, 4)]):
        for k in range(4):
            oh, ow, oc = (int(v) for v in rng.integers(1, 40, 3))
            dw = dict(batches=1, in_h=h, in_w=w, in_c=c, out_h=oh, out_w=ow, out_c=c,
                      depth_multiplier=1, k_h=int(rng.integers(1, 6)), k_w=3, stride_h=1,
                      stride_w=1, dil_h=int(rng.integers(1, 3)), dil_w=1, pad_top=1,
                      pad_left=1, input_offset=3, output_offset=-2, act_min=-128,
                      act_max=127)
            conv = dict(batches=1, in_h=h, in_w=w, in_c=c, out_h=h, out_w=w, out_c=oc,
                        k_h=1, k_w=1, stride_h=1, stride_w=1, dil_h=1, dil_w=1, pad_top=0,
                        pad_left=0, input_offset=1, output_offset=0, act_min=-128,
                        act_max=127)
            cases.append(("mcuc_depthwise_conv_s8_inplace", "mcuc_dwconv_params", dw))
            cases.append(("mcuc_conv_s8_inplace", "mcuc_conv_params", conv))
            add = dict(bc=dict(flat_size=oc))
            irb = dict(expand=dict(conv, out_c=c), dw=dw, project=dict(conv, in_c=c),
                       has_add=k % 2, residual_first=1, add=add)
            cases.append(("mcuc_inverted_residual_s8", "mcuc_inverted_residual_params", irb))
            rank, units = int(rng.integers(1, 4)), int(rng.integers(1, 40))
            svdf = dict(batches=int(rng.integers(1, 4)), input_size=c, filters=rank * units,
                        units=units, rank=rank, memory=int(rng.integers(1, 12)),
                        in_stride=c + k, state_bytes=1 + k % 2, input_zp=0, state_zp=0,
                        output_zp=0, mult1=0, shift1=0, mult2=0, shift2=0)
            cases.append(("mcuc_svdf_s8_dsp", "mcuc_svdf_params", svdf))
            cases.append(("mcuc_svdf_s8_mve", "mcuc_svdf_params", svdf))
            units = int(rng.integers(1, 64))
            lstm = dict(batches=1, steps=3, input_size=c, state_size=units, in_stride=c + k,
                        rec_stride=units + 3)
            cases.append(("mcuc_lstm_s8", "mcuc_lstm_params", lstm))
            cases.append(("mcuc_lstm_s8_dsp", "mcuc_lstm_params", lstm))
            cases.append(("mcuc_lstm_s8_mve", "mcuc_lstm_params", lstm))
    return cases


def test_scratch_formulas_match_the_c(tmp_path):
    cases = _scratch_cases()
    decls, prints = [], []
    for i, (fn, ptype, params) in enumerate(cases):
        init = initializer({k: v for k, v in params.items() if k != "add"}
                           if fn != "mcuc_inverted_residual_s8" else params)
        decls.append(f"static const {ptype} p{i} = {init};")
        prints.append(f'    printf("%zu\\n", {fn}_scratch_bytes(&p{i}));')
    src = tmp_path / "scratch.c"
    src.write_text(SCRATCH_C.format(decls="\n".join(decls), prints="\n".join(prints)))
    rt = runtime_dir()
    sources = [str(p) for p in (rt / "src").rglob("*.c")]
    exe = tmp_path / "scratch"
    subprocess.run(["gcc", "-std=c99", "-O0", "-w", f"-I{rt / 'include'}",
                    *[f"-I{d}" for d in sorted({str(p.parent) for p in (rt / 'src').rglob('*.h')})],
                    str(src), *sources, "-o", str(exe), "-lm"], check=True)
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                          check=True).stdout.split()]
    want = [REGISTRY[fn].scratch(params) for fn, _, params in cases]
    assert got == want


def test_streamed_and_in_place_calls_use_the_formula(tmp_path):
    """The planner's calls carry the registry's scratch, not a size computed beside it."""
    path = write_model(tmp_path, modelgen.inverted_residual(), "irb")
    # (portable kernels: on the host the fast plain-C kernels' in-place twins would take
    # the in-place layers, and their scratch is sized by their builder, test below)
    _, plan = plan_model(path, "host", patch="auto", max_overhead=0, kernels="portable")
    seen = 0
    for op in plan.schedule:
        for call in op.kernel.calls:
            spec = spec_of(call)
            if spec.scratch is not None:
                assert call.scratch_bytes == spec.scratch(call.params), call.fn
                seen += 1
    assert seen >= 1


DSP_SCRATCH_C = r"""
#include <stdio.h>
#include "conv/conv_s8_dsp_scratch.h"
int main(void)
{{
{prints}
    return 0;
}}
"""


def test_dsp_gemm_scratch_formula_matches_the_c(tmp_path):
    """Every GEMM tiling the DSP builders make (4, 2, 1 im2col pixels, direct) of real layers
    (odd channels, K not a multiple of 4, stride 2, dilation, dense on 30 pixels) needs the
    scratch the C's mcuc_conv_s8_dsp_scratch_bytes says, compiled and run on the host."""
    from mcucompile.boards import get_board
    from mcucompile.frontend import load_model
    from mcucompile.passes import gemm_view, run_passes
    cases = []
    for i, model in enumerate((modelgen.gemm_chain(), modelgen.kernel_chain())):
        path = write_model(tmp_path, model, f"m{i}")
        graph = run_passes(load_model(path), get_board("mps2-an386"), "portable")
        for op in graph.ops:
            for call in op.kernel.calls:
                view = gemm_view.of_call(call) if call.fn in kernels_dsp.BUILDERS else None
                if view is None or call.fn.startswith("mcuc_depthwise"):
                    continue
                for weights in ("int16", "int8"):
                    for budget in (0, 100, 300, 1000, 10**6):
                        new = kernels_dsp.BUILDERS[call.fn](op, call, weights=weights,
                                                            scratch_budget=budget)
                        if new is not None:
                            v = new.variant
                            slots = 0 if v.direct else v.pixels
                            cases.append((view.geo, slots, new.scratch_bytes))
    assert {slots for _, slots, _ in cases} == {0, 1, 2, 4}
    prints = [f'    printf("%zu\\n", mcuc_conv_s8_dsp_scratch_bytes({g["k_h"]}, {g["k_w"]}, '
              f'{g["in_c"]}, {slots}));' for g, slots, _ in cases]
    src = tmp_path / "dsp_scratch.c"
    src.write_text(DSP_SCRATCH_C.format(prints="\n".join(prints)))
    exe = tmp_path / "dsp_scratch"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror",
                    f"-I{runtime_dir() / 'src'}", str(src), "-o", str(exe)], check=True)
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                          check=True).stdout.split()]
    assert got == [scratch for _, _, scratch in cases]


FAST_SCRATCH_C = r"""
#include <stdio.h>
#include "conv/conv_s8_fast.h"
int main(void)
{{
{prints}
    return 0;
}}
"""


def test_fast_c_scratch_formula_matches_the_c(tmp_path):
    """The plain-C fast kernels (kernels_fast.py) of real layers, normal and in-place twins,
    on the Cortex-M0 and M3 block shapes, need the scratch the C's
    mcuc_conv_s8_fast_scratch_bytes says (none but in place), compiled and run on the host
    with -Wall -Wextra -Werror."""
    from mcucompile.boards import get_board
    from mcucompile.frontend import load_model
    from mcucompile.passes import run_passes
    cases = []
    for i, model in enumerate((modelgen.gemm_chain(), modelgen.kernel_chain())):
        path = write_model(tmp_path, model, f"m{i}")
        for board in ("microbit", "mps2-an385"):
            graph = run_passes(load_model(path), get_board(board))
            for op in graph.ops:
                for fast in op.kernel.calls:
                    if not spec_of(fast).name.endswith("_fast"):
                        continue
                    twin = kernels_fast.in_place(op, fast, op.kernel.portable[0])
                    for call in (fast, twin) if twin is not None else (fast,):
                        ctx = call.generated.context
                        dw = spec_of(call).name.startswith("mcuc_depthwise")
                        out_c = ctx["in_c"] if dw else ctx["out_c"]
                        cases.append((int(dw), int(ctx["inplace"]), ctx["np"], out_c,
                                      ctx["out_h"], ctx["out_w"], call.scratch_bytes))
                        assert call.scratch_bytes == kernels_fast.scratch_bytes(
                            dw, ctx["inplace"], ctx["np"], ctx)
    assert {(dw, inplace) for dw, inplace, *_ in cases} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    prints = [f'    printf("%zu\\n", mcuc_conv_s8_fast_scratch_bytes({", ".join(map(str, c[:6]))}));'
              for c in cases]
    src = tmp_path / "fast_scratch.c"
    src.write_text(FAST_SCRATCH_C.format(prints="\n".join(prints)))
    exe = tmp_path / "fast_scratch"
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror",
                    f"-I{runtime_dir() / 'src'}", f"-I{runtime_dir() / 'include'}", str(src),
                    "-o", str(exe)], check=True)
    got = [int(v) for v in subprocess.run([str(exe)], capture_output=True, text=True,
                                          check=True).stdout.split()]
    assert got == [c[-1] for c in cases]
