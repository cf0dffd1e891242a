"""Build the ndtk extension with CMake (the repository's own build) and package it.

`pip install --no-build-isolation ./python` lands here through setuptools: build_ext runs
CMake on the repository root for the `_ndtk` target only and copies the module into place.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = pathlib.Path(__file__).resolve().parent


def source_dir() -> pathlib.Path:
    root = pathlib.Path(os.environ.get("NDTK_SOURCE_DIR") or HERE.parent).resolve()
    if not (root / "CMakeLists.txt").is_file() or not (root / "lib").is_dir():
        sys.exit(f"ndtk: {root} is not the ndtk repository (set NDTK_SOURCE_DIR)")
    return root


class CMakeExtension(Extension):
    def __init__(self, name: str) -> None:
        super().__init__(name, sources=[])


class CMakeBuild(build_ext):
    """Configure (once) and build the `_ndtk` target, then copy the module to its place."""

    def build_extension(self, ext: Extension) -> None:
        src = source_dir()
        build = pathlib.Path(os.environ.get("NDTK_CMAKE_BUILD_DIR")
                             or pathlib.Path(self.build_temp).resolve() / "cmake")
        build.mkdir(parents=True, exist_ok=True)
        if not (build / "CMakeCache.txt").exists():
            cmd = ["cmake", "-S", str(src), "-B", str(build),
                   "-DCMAKE_BUILD_TYPE=Release",
                   "-DNDTK_BUILD_TESTS=OFF", "-DNDTK_BUILD_BENCH=OFF",
                   "-DNDTK_BUILD_PYTHON=ON", "-DNDTK_WERROR=OFF",
                   f"-DNDTK_PYTHON_EXECUTABLE={sys.executable}"]
            if shutil.which("ninja"):
                cmd += ["-G", "Ninja"]
            subprocess.run(cmd, check=True)
        jobs = os.environ.get("NDTK_BUILD_JOBS", "2")
        subprocess.run(["cmake", "--build", str(build), "--target", "_ndtk", "-j", jobs],
                       check=True)
        built = sorted((build / "python" / "ndtk").glob("_ndtk*.so"))
        if not built:
            sys.exit(f"ndtk: the build in {build} produced no _ndtk module")
        dest = pathlib.Path(self.get_ext_fullpath(ext.name))
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built[0], dest)


setup(ext_modules=[CMakeExtension("ndtk._ndtk")], cmdclass={"build_ext": CMakeBuild})
