"""Memory planning: tensor lifetimes over the schedule and offsets in one static arena."""
from .arena import MemoryPlan, check_plan, plan_memory  # noqa: F401
