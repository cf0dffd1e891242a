#!/usr/bin/python3
"""How btt-format and btt-check scale with the namespace size, next to `pmempool check`.

For every size: a sparse file is formatted by btt-format (kernel layout, 4096-byte sectors) and
checked by btt-check; a pmemblk pool of the same size is checked by `pmempool check`. Each check
runs once to warm the page cache, then --reps timed runs. Wall time and peak RSS come from
os.wait4() of each child. One JSON line per run on stdout and in --out.

pmempool cannot create a large pool sparse: it fallocate()s the whole file (a 4 TiB pool needs
4 TiB of disk or RAM). The pool is therefore made the way libpmemblk itself handles a new pool:
the 8 KiB pool header of a small freshly created pool (`pmempool create blk 4096`, is_zeroed set)
is copied into a sparse file of the wanted size, and libpmemblk writes its own BTT layout at the
first pmemblk_write() (ctypes); with is_zeroed it does not touch the map, so the file stays
sparse. `pmempool check` maps the pool: on tmpfs its read faults allocate the map's pages, so the
default directory is a disk file system where they are only page cache.
"""
import argparse
import ctypes
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import time

GIB = 1 << 30
UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(s):
    s = s.strip().upper().rstrip("B").rstrip("I")
    if s and s[-1] in UNITS:
        return int(float(s[:-1]) * UNITS[s[-1]])
    return int(s)


def human(n):
    for u in ("T", "G", "M", "K"):
        if n >= UNITS[u] and n % UNITS[u] == 0:
            return f"{n // UNITS[u]} {u}iB"
    return str(n)


def run(cmd, check_rc=(0,)):
    """Run cmd; return (seconds, peak RSS bytes, rc, stdout)."""
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = p.stdout.read()
    _, status, ru = os.wait4(p.pid, 0)
    dt = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode not in check_rc:
        sys.stderr.write(f"scale: {' '.join(cmd)} exited {p.returncode}:\n{out.decode(errors='replace')}\n")
    return dt, ru.ru_maxrss * 1024, p.returncode, out.decode(errors="replace")


INFO = struct.Struct("<16s16s16sIHHIIIIIIQQQQQ")


def btt_arenas(path, arena0):
    """(external_nlba, internal_nlba) of every arena, walking nextoff from `arena0`."""
    out = []
    with open(path, "rb") as f:
        off = arena0
        while True:
            f.seek(off)
            b = f.read(INFO.size)
            (sig, _u, _p, _fl, _maj, _min, _elb, enlba, _ilb, inlba, _nf, _isz, nextoff,
             *_rest) = INFO.unpack(b)
            if not sig.startswith(b"BTT_ARENA_INFO"):
                break
            out.append((enlba, inlba))
            if nextoff == 0:
                break
            off += nextoff
    return out


class PmemBlk:
    """The few libpmemblk calls needed to let libpmemblk lay out its own BTT."""

    def __init__(self):
        lib = ctypes.CDLL("libpmemblk.so.1")
        lib.pmemblk_open.restype = ctypes.c_void_p
        lib.pmemblk_open.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.pmemblk_write.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_longlong]
        lib.pmemblk_close.argtypes = [ctypes.c_void_p]
        lib.pmemblk_errormsg.restype = ctypes.c_char_p
        self.lib = lib

    def make_sparse_pool(self, template, path, size, bsize):
        with open(template, "rb") as f:
            hdr = f.read(8192)
        with open(path, "wb") as f:
            f.truncate(size)
            f.write(hdr)
        p = self.lib.pmemblk_open(path.encode(), bsize)
        if not p:
            raise RuntimeError(f"pmemblk_open {path}: {self.lib.pmemblk_errormsg().decode()}")
        buf = ctypes.create_string_buffer(bsize)
        if self.lib.pmemblk_write(p, buf, 0) != 0:
            raise RuntimeError(f"pmemblk_write {path}: {self.lib.pmemblk_errormsg().decode()}")
        self.lib.pmemblk_close(p)


def allocated(path):
    return os.stat(path).st_blocks * 512


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="directory holding btt-format and btt-check")
    ap.add_argument("--dir", default="/var/tmp/ndtk-bench", help="where the sparse files go")
    ap.add_argument("--sizes", default="1G,16G,64G,256G,1T,4T")
    ap.add_argument("--pmempool-max", default="4T", help="largest pool given to pmempool check")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--out", help="append JSON lines here")
    a = ap.parse_args()

    os.makedirs(a.dir, exist_ok=True)
    out = open(a.out, "a") if a.out else None
    load = os.getloadavg()[0]

    def emit(rec):
        rec.setdefault("load1", os.getloadavg()[0])
        line = json.dumps(rec)
        print(line, flush=True)
        if out:
            out.write(line + "\n")
            out.flush()

    fmt_bin = os.path.join(a.bin, "btt-format")
    chk_bin = os.path.join(a.bin, "btt-check")
    have_ndtk = os.access(fmt_bin, os.X_OK) and os.access(chk_bin, os.X_OK)
    have_pmempool = shutil.which("pmempool") is not None
    if not have_ndtk:
        sys.stderr.write(f"scale: {fmt_bin} / {chk_bin} missing: ndtk rows skipped\n")
    blk = PmemBlk() if have_pmempool else None
    tag = f"ndtk-scale-{os.getpid()}"
    template = os.path.join(a.dir, f"{tag}-template.pool")
    if blk:
        subprocess.run(["pmempool", "create", "-s", "64M", "blk", "4096", template], check=True)
    pm_max = parse_size(a.pmempool_max)

    try:
        for size in [parse_size(s) for s in a.sizes.split(",")]:
            base = {"size": size, "size_h": human(size), "dir": a.dir}
            if have_ndtk:
                img = os.path.join(a.dir, f"{tag}-{size}.img")
                undo = img + ".undo"
                with open(img, "wb") as f:
                    f.truncate(size)
                dt, rss, rc, _ = run([fmt_bin, img, "--sector-size", "4096", "--undo", undo])
                arenas = btt_arenas(img, 4096) if rc == 0 else []
                ext = sum(e for e, _ in arenas)
                bitmap = max((i + 7) // 8 for _, i in arenas) if arenas else 0
                emit({**base, "tool": "btt-format", "rep": 0, "seconds": dt, "peak_rss": rss,
                      "rc": rc, "arenas": len(arenas), "map_entries": ext,
                      "allocated_after": allocated(img), "undo_bytes":
                      os.path.getsize(undo) if os.path.exists(undo) else 0})
                for rep in range(a.reps + 1):  # rep 0 warms the page cache
                    dt, rss, rc, report_text = run([chk_bin, "--json", img], check_rc=(0,))
                    # btt-check's own wall time of the namespace passes (info blocks, log,
                    # the map stream and block references), without process start-up.
                    try:
                        rj = json.loads(report_text)
                        passes = sum(n.get("check_seconds", 0) for n in rj["namespaces"])
                    except (ValueError, KeyError):
                        passes = None
                    emit({**base, "tool": "btt-check", "rep": rep, "warmup": rep == 0,
                          "seconds": dt, "pass_seconds": passes,
                          "peak_rss": rss, "rc": rc, "arenas": len(arenas),
                          "map_entries": ext, "map_bytes": ext * 4, "bitmap_bytes": bitmap,
                          "allocated_after": allocated(img)})
                os.remove(img)
                if os.path.exists(undo):
                    os.remove(undo)
            if blk and size <= pm_max:
                pool = os.path.join(a.dir, f"{tag}-{size}.pool")
                t0 = time.perf_counter()
                blk.make_sparse_pool(template, pool, size, 4096)
                dt = time.perf_counter() - t0
                arenas = btt_arenas(pool, 8192)
                ext = sum(e for e, _ in arenas)
                emit({**base, "tool": "pmemblk-layout", "rep": 0, "seconds": dt,
                      "arenas": len(arenas), "map_entries": ext,
                      "allocated_after": allocated(pool)})
                for rep in range(a.reps + 1):
                    dt, rss, rc, _ = run(["pmempool", "check", pool])
                    emit({**base, "tool": "pmempool-check", "rep": rep, "warmup": rep == 0,
                          "seconds": dt, "peak_rss": rss, "rc": rc, "arenas": len(arenas),
                          "map_entries": ext, "map_bytes": ext * 4,
                          "allocated_after": allocated(pool)})
                os.remove(pool)
    finally:
        if os.path.exists(template):
            os.remove(template)
        for name in os.listdir(a.dir):
            if name.startswith(tag):
                os.remove(os.path.join(a.dir, name))
    del load


if __name__ == "__main__":
    main()
