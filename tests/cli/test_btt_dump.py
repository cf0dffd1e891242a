"""btt-dump --read: sectors extracted from the golden images must hash exactly like what the
kernel read back through /dev/pmem0s (kernel manifests) or what pmemblk_read returned (PMDK
manifests); error-flagged sectors are reported and zero-filled (dd conv=noerror,sync), bad
input fails with one line and exit 2, and the image is never modified."""

import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

BIN = Path(os.environ.get("NDTK_BIN", "build/bin")).resolve()
SRC = Path(os.environ.get("NDTK_SRC", Path(__file__).resolve().parents[2])).resolve()
TOOL = BIN / "btt-dump"
KERNEL = SRC / "tests/images/kernel"
PMDK = SRC / "tests/images/pmdk"

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="btt-dump not built")

OK, MEDIA_ERRORS, FAILURE = 0, 1, 2


def run(*args, rc=None):
    p = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, timeout=300)
    if rc is not None:
        assert p.returncode == rc, (
            f"rc {p.returncode}\nstdout: {p.stdout[:300]!r}\nstderr: {p.stderr.decode(errors='replace')}")
    return p


def sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def kernel_manifest(name):
    return json.loads((KERNEL / f"{name}.json").read_text())


def runs(lbas):
    """Group sorted LBAs into (first, count) runs so one invocation extracts many sectors."""
    out = []
    for lba in sorted(lbas):
        if out and lba == out[-1][0] + out[-1][1]:
            out[-1][1] += 1
        elif out and lba - (out[-1][0] + out[-1][1]) < 16:
            out[-1][1] = lba - out[-1][0] + 1
        else:
            out.append([lba, 1])
    return out


def check_readback(image, manifest, tmp_path, *extra):
    by_lba = {r["lba"]: r for r in manifest["readback"]}
    ss = {r["ss"] for r in manifest["readback"]}
    assert ss == {4096}
    checked = 0
    for first, count in runs(by_lba):
        out = tmp_path / f"out-{first}.bin"
        run(image, *extra, "--read", first, "--count", count, "-o", out, rc=OK)
        data = out.read_bytes()
        assert len(data) == count * 4096
        for i in range(count):
            r = by_lba.get(first + i)
            if r is None:
                continue
            assert sha(data[i * 4096:(i + 1) * 4096]) == r["readback_sha256"], f"lba {first + i}"
            checked += 1
    assert checked == len(by_lba) >= 50


KERNEL_CASES = {
    # name: extra selection arguments (none: found through the labels / label-less probe)
    "a-sector4096-labels1.1": [],
    "i-sector4096-labelless": [],
    "f-two-namespaces-labels1.2": ["--namespace", "59ba662e-56ce-48b3-b34e-71a0aeda22d3"],
}


@pytest.mark.parametrize("name", sorted(KERNEL_CASES))
def test_kernel_images_read_back_as_the_kernel_did(name, image_copy, tmp_path):
    image = image_copy(f"kernel/{name}.img.zst")
    before = file_digest(image)
    check_readback(image, kernel_manifest(name), tmp_path, *KERNEL_CASES[name])
    assert file_digest(image) == before, "btt-dump modified the image"


def test_compressed_image_is_read_directly(tmp_path):
    m = kernel_manifest("f-two-namespaces-labels1.2")
    image = KERNEL / "f-two-namespaces-labels1.2.img.zst"
    before = file_digest(image)
    out = tmp_path / "first.bin"
    # Automatic selection: btt-one is the image's only sector namespace.
    run(image, "--read", 0, "--count", 16, "-o", out, rc=OK)
    data = out.read_bytes()
    by_lba = {r["lba"]: r["readback_sha256"] for r in m["readback"]}
    for lba in range(16):
        assert sha(data[lba * 4096:(lba + 1) * 4096]) == by_lba[lba]
    assert file_digest(image) == before


def test_explicit_window_and_stdout(image_copy):
    m = kernel_manifest("a-sector4096-labels1.1")
    image = image_copy("kernel/a-sector4096-labels1.1.img.zst")
    p = run(image, "--offset", 0, "--size", "256M", "--read", 0x10, "--count", 2, rc=OK)
    by_lba = {r["lba"]: r["readback_sha256"] for r in m["readback"]}
    assert len(p.stdout) == 8192
    assert sha(p.stdout[:4096]) == by_lba[16]
    assert sha(p.stdout[4096:]) == by_lba[17]


def test_pmemblk_pool_blocks_errors_and_zeros(image_copy, tmp_path):
    m = json.loads((PMDK / "blk4096.manifest.json").read_text())
    image = image_copy("pmdk/blk4096.pool.zst")
    before = file_digest(image)
    bs, n = m["bsize"], m["nblock"]
    written = {w["lba"]: w["sha256"] for w in m["written"]}
    errors = {e["lba"] for e in m["error_blocks"]}
    zero = sha(bytes(bs))
    out = tmp_path / "blocks.bin"
    first, count = 0, 260
    p = run(image, "--read", first, "--count", count, "-o", out, rc=MEDIA_ERRORS)
    data = out.read_bytes()
    assert len(data) == count * bs
    stderr = p.stderr.decode().strip().splitlines()
    assert stderr == [f"btt-dump: lba {lba}: media error (map entry flagged E)"
                      for lba in sorted(errors) if first <= lba < first + count]
    for lba in range(first, first + count):
        got = sha(data[lba * bs:(lba + 1) * bs])
        want = written.get(lba, zero)  # error blocks: zeros in their place; zeroed: zeros
        assert got == want, f"lba {lba}"
    # The last block and a stretch in the middle.
    for lba in (n - 1, n // 2, n // 2 + 7):
        o = tmp_path / f"b{lba}.bin"
        run(image, "--read", lba, "-o", o, rc=OK)
        assert sha(o.read_bytes()) == written.get(lba, zero), f"lba {lba}"
    assert file_digest(image) == before


def test_pmemblk_without_layout_reads_zeros(tmp_path):
    out = tmp_path / "z.bin"
    run(PMDK / "blk4096-nolayout.pool.zst", "--read", 100, "--count", 3, "-o", out, rc=OK)
    assert out.read_bytes() == bytes(3 * 4096)
    p = run(PMDK / "blk4096-nolayout.pool.zst", rc=OK)
    assert b"not written yet" in p.stdout


def test_summary(image_copy):
    image = image_copy("kernel/f-two-namespaces-labels1.2.img.zst")
    p = run(image, rc=OK)
    text = p.stdout.decode()
    assert "2.0 (arena 0 at namespace offset 0x0)" in text
    assert "16105 x 4096 bytes" in text
    assert "log slots (0,1)" in text


def one_line_error(p):
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("btt-dump: "), lines[0]
    return lines[0]


def test_missing_file(tmp_path):
    line = one_line_error(run(tmp_path / "nope.img", "--read", 0, rc=FAILURE))
    assert "nope.img" in line


def test_directory(tmp_path):
    line = one_line_error(run(tmp_path, "--read", 0, rc=FAILURE))
    assert "directory" in line


def test_garbage_file(tmp_path):
    g = tmp_path / "garbage.img"
    g.write_bytes(bytes((i * 131 + 7) & 0xFF for i in range(1 << 20)))
    before = file_digest(g)
    line = one_line_error(run(g, "--read", 0, rc=FAILURE))
    assert "no valid BTT" in line
    assert file_digest(g) == before


def test_read_past_the_end(image_copy, tmp_path):
    image = image_copy("kernel/f-two-namespaces-labels1.2.img.zst")
    out = tmp_path / "x.bin"
    line = one_line_error(run(image, "--read", 16105, "-o", out, rc=FAILURE))
    assert "past the end" in line and "16105 sectors" in line
    one_line_error(run(image, "--read", 16100, "--count", 6, rc=FAILURE))
    assert not out.exists() or out.stat().st_size == 0


def test_namespace_selection_errors(image_copy):
    image = image_copy("kernel/f-two-namespaces-labels1.2.img.zst")
    line = one_line_error(run(image, "--namespace", "47b9ac95-bfc9-4be2-937b-f0aedee7d83c",
                              "--read", 0, rc=FAILURE))
    assert "fsdax" in line and "not a BTT" in line
    line = one_line_error(run(image, "--namespace", "00000000-1111-2222-3333-444444444444",
                              "--read", 0, rc=FAILURE))
    assert "no namespace" in line and "59ba662e-56ce-48b3-b34e-71a0aeda22d3" in line
    one_line_error(run(image, "--namespace", "btt-one", "--offset", 0, "--read", 0, rc=FAILURE))


def test_usage_errors(image_copy):
    image = image_copy("kernel/f-two-namespaces-labels1.2.img.zst")
    assert run(image, "--read", "x").returncode == FAILURE
    assert run(image, "--read", 0, "--count", 0).returncode == FAILURE
    assert run(image, "--count", 2).returncode == FAILURE
    assert run().returncode == FAILURE
