"""The cost model (mcucompile/backend/cost.py) and its calibrated data (costs.json)."""
from __future__ import annotations

import pytest

from mcucompile.backend import cost
from mcucompile.backend.registry import REGISTRY, base_name
from mcucompile.boards import get_board
from mcucompile.ir import Tensor
from mcucompile.passes.kernel_call import Arg, KernelCall

# the ISAs whose kernels run on each calibrated core (passes/select_kernels.py)
MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "INVERTED_RESIDUAL"}
CORE_ISAS = {"cortex-m3": {"portable", "c"}, "cortex-m4": {"portable", "dsp"},
             "cortex-m7": {"portable", "dsp"}, "cortex-m55": {"portable", "dsp", "mve"}}


def _call(fn: str, macs: int, x=(1, 8, 8, 16), y=(1, 8, 8, 32)) -> KernelCall:
    return KernelCall(fn, None, {}, [Arg.input(Tensor("x", x, "int8")),
                                     Arg.constant("w", None),
                                     Arg.output(Tensor("y", y, "int8"))], macs=macs)


def test_costs_json_loads_with_provenance():
    table = cost.load()
    prov = table["provenance"]
    assert prov["date"] and prov["models"] and prov["boards"]
    assert set(prov["features"]) == set(cost.FEATURES)
    # the shared models are held out of the fit (--check measures the error on them)
    assert not {"person_detect", "kws_ref_model", "pretrainedResnet_quant",
                "micro_speech_quantized", "hello_world_int8"} & set(prov["models"])
    assert set(CORE_ISAS) <= set(table["cores"])


@pytest.mark.parametrize("core", sorted(CORE_ISAS))
def test_every_kernel_the_core_runs_is_calibrated_on_it(core):
    entries = cost.load()["cores"][core]
    missing = sorted(name for name, spec in REGISTRY.items()
                     if spec.isa in CORE_ISAS[core] and name not in entries)
    assert not missing, f"{core}: no measured coefficients for {missing}"
    assert cost.GENERIC in entries


def test_fast_c_kernels_are_calibrated_on_the_cortex_m0():
    """The micro:bit's Cortex-M0 (no MLA: about twice the M3's instructions per MAC) has rows
    of its own for the plain-C fast kernels, not the M3's."""
    entries = cost.load()["cores"]
    for name, spec in REGISTRY.items():
        if spec.isa == "c":
            m0, m3 = entries["cortex-m0"][name], entries["cortex-m3"][name]
            assert m0["macs"] > 1.5 * m3["macs"], name


def test_coefficients_are_non_negative_and_known_features():
    for core, entries in cost.load()["cores"].items():
        for family, entry in entries.items():
            coef = {k: v for k, v in entry.items() if k in cost.FEATURES}
            assert coef, (core, family)
            assert all(v >= 0 for v in coef.values()), (core, family, coef)


@pytest.mark.parametrize("core", sorted(CORE_ISAS))
def test_estimates_positive_and_monotone_in_macs(core):
    entries = cost.load()["cores"][core]
    for family, entry in entries.items():
        if family == cost.GENERIC:
            continue
        spec = REGISTRY.get(family)
        fn = family + ("_op3" if spec is not None and spec.generated else "")
        small, large = cost.estimate(_call(fn, 100_000), core), cost.estimate(
            _call(fn, 400_000), core)
        assert 0 < small <= large, (core, family)
        if spec is not None and set(spec.ops) & MAC_OPS:
            assert small < large, (core, family)
        # a larger layer (more of every feature) never costs less
        bigger = cost.estimate(_call(fn, 800_000, (1, 16, 16, 16), (1, 16, 16, 32)), core)
        assert bigger >= large, (core, family)


def test_generated_kernels_use_their_family():
    core = "cortex-m4"
    for fn in ("mcuc_conv_s8_dsp_op12", "mcuc_conv_s8_dsp_op12_row",
               "mcuc_conv_s8_dsp_op3_t1a2b3c4d"):
        assert base_name(fn) == "mcuc_conv_s8_dsp"
        assert cost.coefficients(fn, core)[:2] == (core, "mcuc_conv_s8_dsp")
    assert cost.estimate(_call("mcuc_conv_s8_dsp_op12", 50_000), core) \
        < cost.estimate(_call("mcuc_conv_s8", 50_000), core)


def test_unknown_combinations_fall_back():
    table = cost.load()
    dsp = _call("mcuc_conv_s8_dsp_op1", 50_000)
    # a core without calibration borrows the nearest calibrated one
    assert cost.coefficients(dsp.fn, "cortex-m33")[:2] == ("cortex-m4", "mcuc_conv_s8_dsp")
    assert cost.estimate(dsp, "cortex-m33") == cost.estimate(dsp, "cortex-m4")
    # a DSP kernel asked for on the M3 (which never runs one) borrows the M4's
    assert cost.coefficients(dsp.fn, "cortex-m3")[0] == "cortex-m4"
    # the host and unknown cores: the portable core
    assert cost.coefficients("mcuc_conv_s8", "host")[0] == "cortex-m3"
    assert cost.coefficients("mcuc_conv_s8", "risc-v")[0] == "cortex-m3"
    # an unknown kernel: the core's generic entry
    assert cost.coefficients("mcuc_future_s8_op4", "cortex-m7")[:2] == ("cortex-m7", "*")
    assert cost.estimate(_call("mcuc_future_s8_op4", 50_000), "cortex-m7") > 0
    # no data at all: the documented default
    empty = {"provenance": {}, "cores": {}}
    assert cost.coefficients("mcuc_conv_s8", "cortex-m4", empty)[0] == "default"
    assert cost.estimate(dsp, "cortex-m4", empty) > 0
    assert table is cost.load()          # (cached)


def test_core_of_boards():
    assert cost.core_of(get_board("mps2-an385")) == "cortex-m3"
    assert cost.core_of(get_board("mps2-an386")) == "cortex-m4"
    assert cost.core_of(get_board("nucleo-h743zi2")) == "cortex-m7"
    assert cost.core_of(get_board("mps3-an547")) == "cortex-m55"
    assert cost.core_of(get_board("host")) == "host"
    assert cost.core_of(None) == "host"


@pytest.mark.slow
def test_estimate_within_20_percent_of_profile_on_a_model_outside_the_fit(tmp_path):
    """A CNN the calibration never saw, profiled on mps2-an386 (QEMU, exact counts)."""
    import modelgen
    from conftest import write_model
    from mcucompile.api import plan_model
    from mcucompile.profile import profile

    path = write_model(tmp_path, modelgen.small_cnn(in_shape=(1, 40, 40, 3), num_classes=4))
    assert not any("small_cnn" in m for m in cost.load()["provenance"]["models"])
    measured = profile(path, "mps2-an386", out_dir=tmp_path / "out").instructions
    _, plan = plan_model(path, "mps2-an386")
    estimated = sum(cost.estimate(c, "cortex-m4") for op in plan.schedule
                    for c in op.kernel.calls)
    assert abs(estimated - measured) <= 0.2 * measured, (estimated, measured)
