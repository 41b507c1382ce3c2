"""Rendering the kernels specialised per layer (templates/kernels/*.j2): the builders in
passes/ and planner/streaming.py describe a kernel (GeneratedKernel: template + values);
its C text exists only here, when codegen writes the project."""
from __future__ import annotations

from functools import cache

import jinja2

from ..passes.kernel_call import GeneratedKernel
from ..resources import templates_dir


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def render_kernel(kernel: GeneratedKernel) -> str:
    return _env().get_template(kernel.template).render(**kernel.context)
