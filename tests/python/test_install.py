"""`pip install --no-build-isolation ./python` works offline and gives a usable package.

By default the install reuses the CMake tree the suite's own ndtk was built in (so it costs
seconds); NDTK_LONG=1 builds from scratch in a temporary tree instead (minutes)."""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

import ndtk
from conftest import SRC, kernel_image


def _suite_build_dir():
    build = pathlib.Path(ndtk.__file__).resolve().parents[2]
    return build if (build / "CMakeCache.txt").is_file() else None



def test_pip_install_into_target(tmp_path):
    long_run = os.environ.get("NDTK_LONG") == "1"
    build = None if long_run else _suite_build_dir()
    if build is None and not long_run:
        pytest.skip("ndtk was not imported from a CMake build tree; NDTK_LONG=1 builds one")
    pkg = tmp_path / "python"
    shutil.copytree(SRC / "python", pkg,
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    site = tmp_path / "site"
    env = dict(os.environ, NDTK_SOURCE_DIR=str(SRC), PIP_NO_INDEX="1",
               PIP_DISABLE_PIP_VERSION_CHECK="1")
    env.pop("PYTHONPATH", None)
    if build is not None:
        env["NDTK_CMAKE_BUILD_DIR"] = str(build)
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation",
                           "--no-deps", "--target", str(site), str(pkg)],
                          env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    installed = site / "ndtk"
    assert (installed / "py.typed").is_file() and (installed / "_ndtk.pyi").is_file()
    assert list(installed.glob("_ndtk*.so"))
    check = ("import ndtk, sys; "
             f"img = ndtk.Image({str(kernel_image('a-sector4096-labels1.1'))!r}); "
             "assert ndtk.__file__.startswith(sys.argv[1]), ndtk.__file__; "
             "print(img.namespaces[0].mode, len(img.open_btt()))")
    env = dict(os.environ, PYTHONPATH=str(site))
    run = subprocess.run([sys.executable, "-c", check, str(site)], env=env,
                         capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.split() == ["sector", "65208"]
