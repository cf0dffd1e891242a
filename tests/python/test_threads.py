"""The GIL is released during I/O: Python threads run while a read is in progress, and
concurrent reads from several threads return the right data."""

from __future__ import annotations

import concurrent.futures
import os
import subprocess
import sys
import textwrap
import threading

import pytest

import ndtk
from conftest import kernel_image, kernel_manifest, sha256

SENTINEL = 0xA5


def test_python_runs_while_a_read_fills_the_buffer():
    """One thread reads every sector of a BTT into a buffer pre-filled with a sentinel; the
    main thread watches that buffer. Seeing it partly filled (first sector read, last sector
    still the sentinel) means Python code ran *during* the read. With the GIL held across
    readinto() that state could never be observed: the watcher would only ever see the buffer
    before the call (all sentinel) or after it (all read)."""
    with ndtk.Btt(kernel_image("a-sector4096-labels1.1")) as btt:
        n, ss = len(btt), btt.lbasize
        first, last = btt.read(0), btt.read(n - 1)
        assert first[0] != SENTINEL and last[0] != SENTINEL
        buf = bytearray([SENTINEL]) * (n * ss)
        last_at = (n - 1) * ss
        for attempt in range(20):
            buf[0] = SENTINEL
            buf[last_at] = SENTINEL
            started = threading.Event()
            done = threading.Event()

            def reader():
                started.set()
                btt.readinto(0, buf)
                done.set()

            t = threading.Thread(target=reader)
            t.start()
            started.wait()
            partial = 0
            while not done.is_set():
                if buf[0] == first[0] and buf[last_at] == SENTINEL:
                    partial += 1
            t.join()
            assert buf[0] == first[0] and buf[last_at] == last[0]
            if partial:
                break
        assert partial > 0, "never observed a read in progress: is the GIL held during I/O?"


def test_blocking_open_lets_other_threads_run(tmp_path):
    """Deterministic: opening a FIFO blocks in open(2) until a writer appears. ndtk.Image()
    releases the GIL there, so another Python thread can open the writer end and unblock it.
    Held, the process would deadlock: the child is killed by the timeout and the test fails."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    script = textwrap.dedent(f"""
        import os, threading, ndtk
        result = {{}}
        def opener():
            try:
                ndtk.Image({str(fifo)!r})
                result["r"] = "opened"
            except ndtk.Error as e:
                result["r"] = type(e).__name__
        t = threading.Thread(target=opener)
        t.start()
        fd = os.open({str(fifo)!r}, os.O_WRONLY)   # blocks until the reader is in open(2)
        os.write(fd, b"x" * 100)
        os.close(fd)
        t.join()
        print("RESULT", result["r"])
    """)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "RESULT" in proc.stdout


@pytest.mark.parametrize("workers", [4])
def test_concurrent_reads_are_correct(workers):
    name = "a-sector4096-labels1.1"
    readback = {r["lba"]: r["readback_sha256"] for r in kernel_manifest(name)["readback"]}
    with ndtk.Btt(kernel_image(name)) as btt:
        n = len(btt)
        step = n // workers + 1

        def read_range(k):
            lo, hi = k * step, min(n, (k + 1) * step)
            buf = bytearray((hi - lo) * btt.lbasize)
            btt.readinto(lo, buf)
            return {lba: sha256(buf[(lba - lo) * 4096:(lba - lo + 1) * 4096])
                    for lba in readback if lo <= lba < hi}

        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            got = {}
            for part in ex.map(read_range, range(workers)):
                got.update(part)
        assert got == readback

        # and many small reads racing on the same sectors
        def hammer(seed):
            for i in range(300):
                lba = sorted(readback)[(seed * 7 + i) % len(readback)]
                assert sha256(btt.read(lba)) == readback[lba]
            return True

        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            assert all(ex.map(hammer, range(workers)))
