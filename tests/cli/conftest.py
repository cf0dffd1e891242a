"""Shared pytest fixtures for the CLI suites: where the built tools and the source tree are,
and scratch copies of golden images (decompressed when they are .zst)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def ndtk_bin() -> Path:
    """Directory holding the built tools (env NDTK_BIN, default build/bin)."""
    return Path(os.environ.get("NDTK_BIN", "build/bin")).resolve()


@pytest.fixture(scope="session")
def ndtk_src() -> Path:
    """Repository root (env NDTK_SRC, default: two levels above this file)."""
    return Path(os.environ.get("NDTK_SRC", Path(__file__).resolve().parents[2])).resolve()


@pytest.fixture
def image_copy(tmp_path, ndtk_src):
    """image_copy("kernel/a-sector4096-labels1.1.img.zst") -> a private raw copy in tmp_path
    (decompressed sparse if it is .zst), safe to modify."""

    def make(rel: str) -> Path:
        src = ndtk_src / "tests/images" / rel
        if src.suffix == ".zst":
            out = tmp_path / src.name[: -len(".zst")]
            subprocess.run(["zstd", "-q", "-d", "-f", "--sparse", str(src), "-o", str(out)],
                           check=True)
        else:
            out = tmp_path / src.name
            shutil.copyfile(src, out)
        return out

    return make


@pytest.fixture(scope="session")
def decompressed(tmp_path_factory):
    """Decompress each golden image once per session (sparse); tests copy from there."""
    cache = tmp_path_factory.mktemp("golden")
    made = {}

    def get(path: Path) -> Path:
        if path not in made:
            out = cache / path.name.removesuffix(".zst")
            subprocess.run(["zstd", "-q", "-d", "-f", "--sparse", str(path), "-o", str(out)],
                           check=True)
            made[path] = out
        return made[path]

    return get


@pytest.fixture
def copy_of(decompressed, tmp_path):
    """copy_of(Path to a golden .zst) -> a private sparse raw copy in tmp_path."""

    def make(path: Path) -> Path:
        dst = tmp_path / decompressed(path).name
        subprocess.run(["cp", "--sparse=always", str(decompressed(path)), str(dst)], check=True)
        return dst

    return make
