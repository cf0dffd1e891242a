"""Fixtures of the ndtk Python suite: where the golden images are, their manifests, and raw
(decompressed, sparse) scratch copies to write to."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil

import pytest

import ndtk

SRC = pathlib.Path(os.environ.get("NDTK_SRC") or pathlib.Path(__file__).resolve().parents[2])
IMAGES = SRC / "tests" / "images"
KERNEL = IMAGES / "kernel"
PMDK = IMAGES / "pmdk"

KERNEL_IMAGES = sorted(p.name[: -len(".img.zst")] for p in KERNEL.glob("*.img.zst"))
PMDK_POOLS = sorted(p.name[: -len(".pool.zst")] for p in PMDK.glob("*.pool.zst"))


def kernel_image(name: str) -> pathlib.Path:
    return KERNEL / f"{name}.img.zst"


def kernel_manifest(name: str) -> dict:
    return json.loads((KERNEL / f"{name}.json").read_text())


def pmdk_pool(name: str) -> pathlib.Path:
    return PMDK / f"{name}.pool.zst"


def pmdk_manifest(name: str) -> dict:
    return json.loads((PMDK / f"{name}.manifest.json").read_text())


def sha256(data) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_CACHE: dict = {}


@pytest.fixture
def raw_copy(tmp_path, tmp_path_factory):
    """raw_copy(path_of_zst) -> path of a writable sparse raw copy in tmp_path (decompressed
    once per session through ndtk.Image.export, then copied per test)."""

    def make(zst: pathlib.Path) -> pathlib.Path:
        key = str(zst)
        if key not in _CACHE:
            cache_dir = tmp_path_factory.mktemp("raw")
            out = cache_dir / zst.name.replace(".zst", "")
            with ndtk.Image(zst) as img:
                img.export(out)
            _CACHE[key] = out
        dst = tmp_path / _CACHE[key].name
        with open(_CACHE[key], "rb") as src, open(dst, "wb") as out:
            # keep the copy sparse: seek over zero chunks
            size = os.fstat(src.fileno()).st_size
            for chunk in iter(lambda: src.read(1 << 20), b""):
                if chunk.count(0) == len(chunk):
                    out.seek(len(chunk), os.SEEK_CUR)
                else:
                    out.write(chunk)
            out.truncate(size)
        return dst

    return make
