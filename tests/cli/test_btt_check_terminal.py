"""btt-check on a terminal: the progress line on stderr (only when stderr is a terminal, rate
limited, cleared at the end, stdout unaffected) and the confirmation asked before a repair when
--yes is not given. The terminal is a pseudo-terminal (os.openpty); stdout stays a pipe."""

import json
import os
import selectors
import subprocess
import time
from pathlib import Path

import pytest

from btt_check_lib import (BIN, CLEAN, CORRECTED, PMDK, TOOL, UNCORRECTED, run, run_json)

pytestmark = pytest.mark.skipif(not TOOL.exists(), reason="btt-check not built")

CLEAR = "\r\x1b[K"


def run_on_tty(args, stdin_tty=False, answer=None, timeout=120):
    """Run btt-check with stderr (and stdin if `stdin_tty`) on a pseudo-terminal, stdout on a
    pipe. `answer` is typed once the confirmation prompt appears. Returns (rc, stdout, what
    the terminal received, seconds)."""
    master, slave = os.openpty()
    t0 = time.monotonic()
    p = subprocess.Popen([str(TOOL), *map(str, args)],
                         stdin=slave if stdin_tty else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=slave, close_fds=True)
    os.close(slave)
    sel = selectors.DefaultSelector()
    sel.register(master, selectors.EVENT_READ)
    sel.register(p.stdout, selectors.EVENT_READ)
    out, tty, answered = b"", b"", False
    open_fds = 2
    while open_fds:
        if time.monotonic() - t0 > timeout:
            p.kill()
            raise AssertionError(f"btt-check did not finish; terminal: {tty!r}")
        for key, _ in sel.select(timeout=1):
            try:
                data = os.read(key.fd, 65536)
            except OSError:  # EIO on the master once the child closed the terminal
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                open_fds -= 1
                continue
            if key.fd == master:
                tty += data
                if answer is not None and not answered and b"[y/N] " in tty:
                    os.write(master, answer.encode() + b"\n")
                    answered = True
            else:
                out += data
    rc = p.wait(timeout=timeout)
    seconds = time.monotonic() - t0
    os.close(master)
    return rc, out.decode(), tty.decode(errors="replace"), seconds


@pytest.fixture(scope="module")
def big_sparse(tmp_path_factory):
    """A 64 GiB sparse label-less image holding a fresh kernel-layout BTT (16.7 M map entries)."""
    img = tmp_path_factory.mktemp("tty") / "big-64g.img"
    with open(img, "wb") as f:
        f.truncate(64 << 30)
    p = subprocess.run([str(BIN / "btt-format"), "--sector-size", "4096", "--undo",
                        str(img) + ".format-undo", str(img)], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    return img


def test_progress_line_on_a_terminal(big_sparse):
    rc, out, tty, seconds = run_on_tty([big_sparse])
    assert rc == CLEAN, tty
    lines = tty.count("\rbtt-check: ")
    assert lines >= 1, repr(tty)
    # Rate limited (~10 a second) and cleared at the end.
    assert lines <= 2 + 10 * seconds, (lines, seconds)
    assert tty.endswith(CLEAR), repr(tty[-80:])
    # The report on stdout is exactly what it is without a terminal.
    plain = run(big_sparse, check_rc=CLEAN)
    assert out == plain.stdout
    assert "btt-check:" not in out and "\r" not in out


def test_no_progress_when_stderr_is_a_pipe(big_sparse):
    p = run(big_sparse, check_rc=CLEAN)
    assert p.stderr == ""
    p = run("-v", big_sparse, check_rc=CLEAN)
    assert p.stderr == ""


def test_no_progress_with_json_on_a_terminal(big_sparse):
    rc, out, tty, _ = run_on_tty(["--json", big_sparse])
    assert rc == CLEAN
    assert "btt-check:" not in tty
    assert json.loads(out)["summary"]["clean"]


def damaged_pool(copy_of):
    img = copy_of(PMDK / "blk4096-info-flip.pool.zst")
    _, rep = run_json("--repair", "--dry-run", img, check_rc=UNCORRECTED)
    return img, len(rep["repair"]["plan"]["writes"])


def test_repair_on_a_terminal_answered_no_writes_nothing(copy_of):
    img, n = damaged_pool(copy_of)
    before = img.read_bytes()
    rc, out, tty, _ = run_on_tty(["--repair", img], stdin_tty=True, answer="n")
    assert f"Apply {n} write(s) to {img}? [y/N]" in tty
    assert rc == UNCORRECTED, out + tty
    assert "not applied" in out
    assert img.read_bytes() == before
    assert not Path(str(img) + ".ndtk-undo").exists()


def test_repair_on_a_terminal_answered_yes_applies(copy_of):
    img, n = damaged_pool(copy_of)
    damaged = img.read_bytes()
    rc, out, tty, _ = run_on_tty(["--repair", img], stdin_tty=True, answer="y")
    assert f"Apply {n} write(s) to {img}? [y/N]" in tty
    assert rc == CORRECTED, out + tty
    undo = Path(str(img) + ".ndtk-undo")
    assert undo.exists() and f"applied {n} write(s)" in out
    run(img, check_rc=CLEAN)
    run("--rollback", undo, img, check_rc=CLEAN)
    assert img.read_bytes() == damaged


def test_no_question_when_stdin_is_not_a_terminal(copy_of):
    img, _ = damaged_pool(copy_of)
    before = img.read_bytes()
    rc, out, tty, _ = run_on_tty(["--repair", img], stdin_tty=False)
    assert rc == UNCORRECTED and "[y/N]" not in tty and "not applied" in out
    assert img.read_bytes() == before
