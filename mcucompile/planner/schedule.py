"""Execution order: where the graph branches (residual blocks, parallel paths), the order in
which branches run changes which tensors are live together. We try a few topological orders
and keep the one whose layer-by-layer peak (the lower bound of its arena) is smallest:

- the model's own order;
- greedy "free first": among the ready ops, run the one that leaves the fewest bytes live;
- greedy "finish the branch": prefer a ready op that consumes what was produced last (DFS).

Each order is scored by its lower bound, ties keep the model's order. Linear graphs have a
single order and are returned unchanged.
"""
from __future__ import annotations

from ..ir import Graph, Op


def _deps(graph: Graph, ops: list[Op]):
    producer = {}
    for op in ops:
        for t in op.outputs:
            producer[id(t.storage())] = op
            producer[id(t)] = op
    deps = {}
    for op in ops:
        d = set()
        for t in op.inputs:
            if t is None or not t.planned:
                continue
            p = producer.get(id(t)) or producer.get(id(t.storage()))
            if p is not None and p is not op:
                d.add(id(p))
        deps[id(op)] = d
    return deps


def _greedy(graph: Graph, ops: list[Op], pick) -> list[Op]:
    deps = _deps(graph, ops)
    done: set[int] = set()
    order: list[Op] = []
    remaining = list(ops)
    while remaining:
        ready = [op for op in remaining if deps[id(op)] <= done]
        op = pick(ready, order)
        order.append(op)
        done.add(id(op))
        remaining.remove(op)
    return order


def candidate_orders(graph: Graph, ops: list[Op]) -> dict[str, list[Op]]:
    orders = {"model": list(ops)}
    deps = _deps(graph, ops)
    if all(len(d) <= 1 for d in deps.values()) and len(ops) == len({id(o) for o in ops}):
        # quick exit for chains: every op has at most one producer and the graph is linear
        consumers = {}
        for op in ops:
            for d in deps[id(op)]:
                consumers[d] = consumers.get(d, 0) + 1
        if all(c <= 1 for c in consumers.values()):
            return orders

    def out_bytes(op):
        return sum(t.nbytes for t in op.outputs)

    def frees(op, order):
        return sum(t.nbytes for t in op.inputs if t is not None and t.planned)

    orders["free-first"] = _greedy(graph, ops, lambda ready, order: min(
        ready, key=lambda op: (out_bytes(op) - frees(op, order), ops.index(op))))

    def dfs(ready, order):
        if order:
            last = {id(t) for t in order[-1].outputs}
            follow = [op for op in ready
                      if any(t is not None and id(t) in last for t in op.inputs)]
            if follow:
                return min(follow, key=ops.index)
        return min(ready, key=ops.index)
    orders["finish-branch"] = _greedy(graph, ops, dfs)
    return orders
