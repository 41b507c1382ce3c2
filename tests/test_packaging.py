"""`pip install .` (not editable) must ship templates/, runtime_c/ and boards/ in the wheel,
and the installed package must find them there rather than in the source tree."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import REPO


def test_non_editable_install_finds_its_data(tmp_path):
    target = tmp_path / "site"
    # From a copy: a build/ left in the checkout by an earlier install would supply files the
    # package configuration no longer ships.
    source = tmp_path / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", "__pycache__", ".pytest_cache", "out"))
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(target), str(source)],
                   check=True, capture_output=True, cwd=tmp_path)
    probe = ("import mcucompile.resources as r, mcucompile.boards as b;"
             "print(r.templates_dir()); print(r.runtime_dir()); print(r.boards_dir());"
             "print(len(b.list_boards()));"
             "import mcucompile.backend.cost as c; print(len(c.load()['cores']))")
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                         text=True, cwd=tmp_path, env={"PYTHONPATH": str(target)}).stdout.split()
    for d in out[:3]:
        assert Path(d).is_dir() and str(target) in d, d
    assert (Path(out[1]) / "include" / "mcuc_runtime.h").exists()
    assert any(Path(out[1]).rglob("conv_s8.c"))
    assert (Path(out[0]) / "model.c.j2").exists()
    # every data file of the source tree is in the installed package (kernels/*.j2 once was not)
    for src, installed in zip(("templates", "runtime_c", "boards"), out[:3]):
        files = {p.relative_to(REPO / src) for p in (REPO / src).rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts}
        missing = sorted(str(f) for f in files if not (Path(installed) / f).is_file())
        assert not missing, f"{src}/ files not installed: {missing}"
    assert int(out[3]) >= 6
    assert int(out[4]) >= 4     # backend/costs.json: the cost model's cores
