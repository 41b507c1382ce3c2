"""Rendering the kernel templates (templates/kernels/*.j2) that specialise a kernel per layer."""
from __future__ import annotations

from functools import cache

import jinja2

from ..resources import templates_dir


@cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(str(templates_dir())),
                              keep_trailing_newline=True, undefined=jinja2.StrictUndefined)


def render(template: str, **ctx) -> str:
    return _env().get_template(template).render(**ctx)
