"""Bulk helpers for scripts: check a directory tree of images and print a summary table.

::

    import ndtk
    rows = ndtk.check_tree("golden/")            # one ImageSummary per image, never raises
    print(ndtk.format_table(rows))
    bad = [r for r in rows if not r.clean]
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

from . import _ndtk
from .exceptions import Error

__all__ = ["ImageSummary", "iter_images", "summarize", "check_tree", "format_table"]

#: File names check_tree() picks up by default.
DEFAULT_PATTERNS: Tuple[str, ...] = ("*.img", "*.img.zst", "*.pool", "*.pool.zst", "*.raw",
                                     "*.lsa", "*.bin")


@dataclasses.dataclass(frozen=True)
class ImageSummary:
    """One row of a bulk check."""

    path: str
    kind: str = ""
    namespaces: int = 0
    modes: str = ""
    errors: int = 0
    warnings: int = 0
    infos: int = 0
    codes: Tuple[str, ...] = ()
    failure: Optional[str] = None  # why the image could not be checked at all

    @property
    def clean(self) -> bool:
        """Checked, with no errors and no warnings."""
        return self.failure is None and self.errors == 0 and self.warnings == 0

    @property
    def status(self) -> str:
        if self.failure is not None:
            return "FAILED"
        if self.errors:
            return "ERRORS"
        if self.warnings:
            return "WARNINGS"
        return "clean"


def iter_images(root: "os.PathLike[str] | str",
                patterns: Sequence[str] = DEFAULT_PATTERNS) -> Iterator[str]:
    """Paths under `root` (recursively, sorted) whose file name matches one of `patterns`."""
    root = os.fspath(root)
    if os.path.isfile(root):
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if any(fnmatch.fnmatch(name, p) for p in patterns):
                yield os.path.join(dirpath, name)


def summarize(path: "os.PathLike[str] | str", **check_options) -> ImageSummary:
    """Check one image and condense the report; an image that cannot be examined at all
    becomes a row with `failure` set instead of raising."""
    p = os.fspath(path)
    try:
        report = _ndtk.check(p, **check_options)
    except Error as e:
        return ImageSummary(path=p, failure=f"{type(e).__name__}: {e}")
    counts = report.counts
    codes = sorted({f.name for f in report.findings})
    modes = ",".join(str(n.mode) for n in report.namespaces)
    return ImageSummary(path=p, kind=str(report.kind), namespaces=len(report.namespaces),
                        modes=modes, errors=counts["error"], warnings=counts["warning"],
                        infos=counts["info"], codes=tuple(codes))


def check_tree(root: "os.PathLike[str] | str", patterns: Sequence[str] = DEFAULT_PATTERNS,
               progress: Optional[Callable[[str], None]] = None,
               **check_options) -> List[ImageSummary]:
    """Check every image under `root`; one ImageSummary per image, in path order."""
    rows = []
    for path in iter_images(root, patterns):
        if progress is not None:
            progress(path)
        rows.append(summarize(path, **check_options))
    return rows


def format_table(rows: Iterable[ImageSummary], relative_to: Optional[str] = None) -> str:
    """A plain-text table of bulk-check rows, with a totals line."""
    rows = list(rows)
    header = ("image", "kind", "ns", "modes", "status", "err", "warn", "info", "codes")
    lines = []
    for r in rows:
        name = os.path.relpath(r.path, relative_to) if relative_to else r.path
        codes = r.failure if r.failure is not None else " ".join(r.codes)
        lines.append((name, r.kind, str(r.namespaces), r.modes, r.status, str(r.errors),
                      str(r.warnings), str(r.infos), codes))
    widths = [max([len(h)] + [len(l[i]) for l in lines]) for i, h in enumerate(header)]
    numeric = {2, 5, 6, 7}

    def fmt(cells: Sequence[str]) -> str:
        out = []
        for i, c in enumerate(cells):
            if i == len(cells) - 1:
                out.append(c)
            elif i in numeric:
                out.append(c.rjust(widths[i]))
            else:
                out.append(c.ljust(widths[i]))
        return "  ".join(out).rstrip()

    text = [fmt(header), fmt(["-" * w for w in widths[:-1]] + ["-" * len(header[-1])])]
    text += [fmt(l) for l in lines]
    clean = sum(1 for r in rows if r.clean)
    failed = sum(1 for r in rows if r.failure is not None)
    text.append(f"{len(rows)} images: {clean} clean, {len(rows) - clean - failed} with "
                f"problems, {failed} could not be checked")
    return "\n".join(text)
