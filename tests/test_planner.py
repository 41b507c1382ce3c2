"""Arena planner invariants: no two buffers live at the same time share a byte, everything
is inside the arena, and the arena is never below the lower bound."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import SHARED_MODEL_NAMES, shared_model
from mcucompile.frontend import load_model
from mcucompile.passes import run_passes
from mcucompile.planner import check_plan, plan_memory
from mcucompile.planner.arena import Buffer, MemoryPlan, _ORDERINGS, _place


@pytest.mark.parametrize("seed", range(40))
def test_random_lifetimes_never_overlap(seed):
    rng = np.random.default_rng(seed)
    steps = int(rng.integers(2, 30))
    buffers = []
    for i in range(int(rng.integers(1, 40))):
        start = int(rng.integers(0, steps))
        end = int(rng.integers(start, steps))
        buffers.append(Buffer(f"b{i}", int(rng.integers(1, 500)) * 8, start, end))
    lower = max(sum(b.size for b in buffers if b.start <= s <= b.end) for s in range(steps))
    for key in _ORDERINGS.values():
        size = _place(buffers, sorted(buffers, key=key))
        plan = MemoryPlan(schedule=[], buffers=buffers, arena_bytes=size,
                          lower_bound_bytes=lower, strategy="t")
        check_plan(plan)
        assert size >= lower


def test_overlap_is_detected():
    a, b = Buffer("a", 16, 0, 2, offset=0), Buffer("b", 16, 1, 3, offset=8)
    with pytest.raises(AssertionError, match="overlap"):
        check_plan(MemoryPlan([], [a, b], 32, 32, "t"))


@pytest.mark.parametrize("name", SHARED_MODEL_NAMES)
def test_shared_models_meet_lower_bound(name):
    plan = plan_memory(run_passes(load_model(shared_model(name))))
    check_plan(plan)
    assert plan.arena_bytes == plan.lower_bound_bytes
