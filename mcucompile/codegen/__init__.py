"""C code generation: lowered graph + memory plan -> a self-contained C project.

Writes model.h (API and I/O macros), model.c (arena and the fixed schedule of calls),
weights.c/.h (constants in flash), a copy of the runtime sources the schedule calls, and the
board's build files (Makefile, harness, startup, linker script) via build.write_build_files.
"""
from __future__ import annotations

import functools
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from .. import __version__
from ..escape import JINJA_FILTERS
from ..ir import Graph, Tensor
from ..passes.kernel_call import KernelCall
from ..planner import MemoryPlan
from ..planner.arena import scratch_name
from ..planner.search import const_digest
from ..resources import runtime_dir, templates_dir
from .c_literals import C_TYPES, array_body, initializer
from .kernels import render_kernel


@dataclass
class Project:
    out_dir: Path
    sources: list[str]
    include_dirs: list[str]
    input_bytes: int
    output_bytes: int
    arena_bytes: int
    const_bytes: int


@functools.cache          # one per process: jinja2 compiles each template once
def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    env.filters.update(JINJA_FILTERS)   # model text only ever through these (escape.py)
    return env


class _Consts:
    """Collects constant arrays, sharing storage between identical ones; an array the planner
    placed in a further read-only region goes to that region's section, .mcuc_const_NAME."""

    def __init__(self, regions: dict | None = None):
        self.items: list[dict] = []
        self._by_digest: dict[str, str] = {}
        self.regions = regions or {}    # digest -> read-only region outside the main flash

    def add(self, data: np.ndarray, name: str, comment: str) -> str:
        data = np.ascontiguousarray(data)
        digest = const_digest(data)
        if digest in self._by_digest:
            return self._by_digest[digest]
        region = self.regions.get(digest)
        self.items.append(dict(name=name, ctype=C_TYPES[data.dtype.name], count=max(data.size, 1),
                               body=array_body(data), comment=comment, nbytes=data.nbytes,
                               section=f".mcuc_const_{region}" if region else None))
        self._by_digest[digest] = name
        return name


# What an unquantized graph input or output holds (frontend/tflite.py lets these through).
_IO_NOTES = {"int32": "indices, not quantized; little-endian, 4-byte aligned",
             "float32": "real values: the model quantizes / dequantizes them; 4-byte aligned"}


def _io_table(tensors: list[Tensor], plan: MemoryPlan, arenas: list[dict],
              layouts=None) -> list[dict]:
    rows, offset = [], 0
    for k, t in enumerate(tensors):
        scale, zp = t.quant.scalar() if t.quant is not None else (None, None)
        rows.append(dict(name=t.name, shape=list(t.shape), bytes=t.nbytes, offset=offset,
                         dtype=t.dtype, ctype=C_TYPES[t.dtype], note=_IO_NOTES.get(t.dtype, ""),
                         scale=None if scale is None else repr(scale),
                         zero_point=zp, where=_where(plan, arenas, t),
                         layout=layouts(k) if layouts else None))
        offset += t.nbytes
    return rows


def _runtime_file_index() -> dict[str, Path]:
    """Map each runtime function to the .c file that defines it."""
    index = {}
    for path in sorted((runtime_dir() / "src").rglob("*.c")):
        for m in re.finditer(r"^void\s+(mcuc_\w+)\s*\(", path.read_text(), re.M):
            index[m.group(1)] = path
    return index


def _calls(text: str, index: dict[str, Path]) -> list[str]:
    """Runtime functions that C `text` calls."""
    return [m for m in re.findall(r"\b(mcuc_\w+)\s*\(", text) if m in index]


def _with_callees(functions: set[str], generated_texts, index: dict[str, Path]) -> set[str]:
    """`functions`, the runtime functions generated kernels call (mcuc_add_s8 in a streamed
    block), and every runtime function their files call in turn (the portable streamed block
    calls the convolution and ADD kernels)."""
    todo = sorted(functions) + [m for text in generated_texts for m in _calls(text, index)]
    found = set()
    while todo:
        fn = todo.pop()
        if fn in found:
            continue
        if fn not in index:
            raise RuntimeError(f"runtime function {fn} has no implementation in runtime_c/src")
        found.add(fn)
        todo += _calls(index[fn].read_text(), index)
    return found


def _copy_runtime(out_dir: Path, functions: set[str], generated_texts=()) -> list[str]:
    index = _runtime_file_index()
    rt = out_dir / "runtime"
    if rt.exists():
        shutil.rmtree(rt)
    shutil.copytree(runtime_dir() / "include", rt / "include")
    sources = []
    for fn in sorted(_with_callees(functions, generated_texts, index)):
        src = index[fn]
        rel = src.relative_to(runtime_dir() / "src")
        dest = rt / "src" / rel
        if not dest.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            for sibling in src.parent.glob("*.h"):  # private headers of that family
                shutil.copy(sibling, dest.parent / sibling.name)
            shutil.copy(src, dest)
            sources.append(str(Path("runtime/src") / rel))
    return sorted(set(sources))


def _write_generated(out_dir: Path, generated: dict, texts: dict) -> list[str]:
    """Kernels specialised at compile time: one file each in kernels/, plus the runtime
    headers they include (copied under runtime/src, which goes on the include path)."""
    kernels = out_dir / "kernels"
    if kernels.exists():
        shutil.rmtree(kernels)
    kernels.mkdir()
    sources = []
    for fn, g in sorted(generated.items()):
        (kernels / f"{fn}.c").write_text(texts[fn])
        sources.append(f"kernels/{fn}.c")
        for rel in g.runtime_files:
            dest = out_dir / "runtime" / "src" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(runtime_dir() / "src" / rel, dest)
    return sources


def _fingerprint(graph: Graph) -> int:
    """MCUC_MODEL_FINGERPRINT: identifies the model file (mcucompile/link/protocol.py), so a
    host talking to a flashed board can tell whether it runs this model; 0 without a file."""
    from ..link.protocol import model_fingerprint
    source = Path(graph.source or "")
    return model_fingerprint(source) if source.is_file() else 0


def _arenas(plan: MemoryPlan) -> list[dict]:
    """Per RAM region of the plan (in its order): the static array of the region's arena,
    emitted if the plan uses the region (or it is the only one). The main SRAM's is
    `mcuc_arena` (in .bss, as with a single arena), another region's `mcuc_arena_NAME` in its
    own section .mcuc_arena_NAME, which the linker script places in that region."""
    main = plan.layout.main if plan.layout else None
    out = []
    for r in plan.regions:
        own = plan.layout is not None and r["name"] != main
        out.append(dict(name=r["name"], bytes=r["bytes"], alloc=max(r["bytes"], 16),
                        var=f"mcuc_arena_{r['name']}" if own else "mcuc_arena",
                        section=f".mcuc_arena_{r['name']}" if own else None,
                        used=r["bytes"] > 0 or len(plan.regions) == 1))
    return out


def _state_table(plan: MemoryPlan) -> list[dict]:
    """The state region's tensors and the byte each is reset to: TFLM's ResetVariableTensors
    sets an int8 variable tensor to its zero point, any other to 0."""
    return [dict(name=t.name, offset=off, bytes=t.nbytes,
                 value=int(t.quant.zero_point[0]) if t.dtype == "int8" and t.quant else 0)
            for t, off in plan.state]


def _where(plan: MemoryPlan, arenas: list[dict], t=None, op=None) -> str:
    """C pointer to a tensor's buffer, or to an op's kernel scratch buffer (the planner names
    it; see planner/arena.py)."""
    k, offset = plan.place(t, None if op is None else scratch_name(op))
    return f"{arenas[k]['var']} + {offset}"


def _arg_text(arg, op_index: int, role_prefix: str, plan: MemoryPlan, consts: _Consts,
              arenas: list[dict]) -> str:
    if arg.tensor is not None:
        text = _where(plan, arenas, arg.tensor)
        if arg.tensor.dtype != "int8":      # (offsets are aligned: planner/arena.py)
            text = f"({C_TYPES[arg.tensor.dtype]} *)(void *)({text})"
        return text
    if arg.const is None:
        return "NULL"
    name = re.sub(r"[^A-Za-z0-9_]", "_", f"mcuc_{role_prefix}_{arg.const_name}")
    return consts.add(arg.const, name, f"op {op_index} {arg.const_name}")


def generate(graph: Graph, plan: MemoryPlan, out_dir: Path, board=None,
             transport: str | None = None) -> Project:
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    consts = _Consts(plan.const_regions)
    arenas = _arenas(plan)
    steps, functions, generated = [], set(), {}
    for step, op in enumerate(plan.schedule):
        calls = []
        for k, call in enumerate(op.kernel.calls):
            call: KernelCall
            # Named by step: a patch-based schedule runs the same op once per patch.
            tag = f"op{op.index}" if op.index >= 0 else op.type.lower()
            prefix = f"s{step}_{tag}" + (f"_{k}" if len(op.kernel.calls) > 1 else "")
            args = [_arg_text(a, op.index, prefix, plan, consts, arenas) for a in call.args]
            if call.scratch_bytes:
                args.append(_where(plan, arenas, op=op))
            calls.append(dict(fn=call.fn, params_type=call.params_type,
                              params_name=f"{prefix}_p", params_init=initializer(call.params),
                              args=args))
            if call.generated is not None:
                generated[call.fn] = call.generated
                generated.update({u.fn: u.generated for u in call.uses})
            else:
                functions.add(call.fn)
        ins = ", ".join(f"{list(t.shape)}" for t in op.inputs if t is not None and not t.is_const)
        outs = ", ".join(f"{list(t.shape)}" for t in op.outputs)
        steps.append(dict(op_index=op.index, op_type=op.type, summary=f"{ins} -> {outs}",
                          calls=calls))

    inputs = _io_table(graph.inputs, plan, arenas, graph.input_layout)
    outputs = _io_table(graph.outputs, plan, arenas)
    ctx = dict(name=graph.name, version=__version__, source=Path(graph.source).name,
               arena_bytes=plan.total_bytes, arenas=arenas,
               lower_bound=plan.lower_bound_bytes, plan_strategy=plan.strategy,
               inputs=inputs, outputs=outputs, steps=steps, consts=consts.items,
               input_bytes=sum(r["bytes"] for r in inputs),
               output_bytes=sum(r["bytes"] for r in outputs),
               prototypes=[g.prototype for g in generated.values()],
               fingerprint=_fingerprint(graph), state=_state_table(plan),
               state_offset=plan.state_offset)
    env = _env()
    for template, target in (("model.h.j2", "model.h"), ("model.c.j2", "model.c"),
                             ("weights.h.j2", "weights.h"), ("weights.c.j2", "weights.c")):
        (out_dir / target).write_text(env.get_template(template).render(**ctx))
    texts = {fn: render_kernel(g) for fn, g in generated.items()}
    sources = ["model.c", "weights.c"] + _copy_runtime(out_dir, functions, list(texts.values()))
    include_dirs = [".", "runtime/include"]
    if generated:
        sources += _write_generated(out_dir, generated, texts)
        include_dirs.append("runtime/src")
    project = Project(out_dir=out_dir, sources=sources, include_dirs=include_dirs,
                      input_bytes=ctx["input_bytes"], output_bytes=ctx["output_bytes"],
                      arena_bytes=plan.total_bytes,
                      const_bytes=sum(c["nbytes"] for c in consts.items))
    if board is not None:
        from ..build import write_build_files
        write_build_files(out_dir, board, sources, include_dirs, transport)
    return project
