#!/usr/bin/python3
"""Regenerate the measured part of docs/performance.md (and docs/perf/*.png) from bench/results.

Reads datapath-*.jsonl (ndtk_bench_datapath), scale.jsonl (bench/scale.py) and machine.json
(scripts/bench.sh); replaces what lies between the GENERATED markers of docs/performance.md and
keeps the hand-written text around them. Medians are taken over the timed repetitions.
"""
import argparse
import glob
import json
import os
import statistics

BEGIN = "<!-- BEGIN GENERATED (bench/report.py) -->"
END = "<!-- END GENERATED -->"


def load(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def med(xs):
    return statistics.median(xs) if xs else None


def fmt_rate(x):
    if x is None:
        return "—"
    return f"{x / 1e6:.3f} M" if x >= 1e5 else f"{x:,.0f}"


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}"


def div(a, b):
    return a / b if a is not None and b else None


def human(n):
    for u, s in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20)):
        if n >= s:
            v = n / s
            return f"{v:.0f} {u}" if v == int(v) else f"{v:.1f} {u}"
    return f"{n} B"


def datapath_section(runs):
    lines = []
    media = sorted({r["medium"] for r in runs}, key=lambda m: (m != "pmem", m))
    table, cpu_table = {}, {}
    for r in runs:
        if r.get("kind") == "run" and r.get("ok"):
            key = (r["medium"], r["pattern"], r["bsize"], r["threads"], r["impl"])
            table.setdefault(key, []).append(r["ops_per_s"])
            if r.get("ops_per_cpu_s"):
                cpu_table.setdefault(key, []).append(r["ops_per_cpu_s"])
    m = {k: med(v) for k, v in table.items()}
    mc = {k: med(v) for k, v in cpu_table.items()}
    reps = {k: len(v) for k, v in table.items()}
    for medium in media:
        rs = [r for r in runs if r.get("medium") == medium and r.get("kind") == "run"]
        impls = sorted({r["impl"] for r in rs})
        secs = rs[0]["seconds"] if rs else 0
        nrep = max((reps[k] for k in reps if k[0] == medium), default=0)
        loads = [r["load1"] for r in rs if r.get("load1", -1) >= 0]
        lines.append(f"#### {medium}: ops/s (median of {nrep} runs of ~{secs:.1f} s each; "
                     f"load average during the runs {min(loads):.2f}–{max(loads):.2f})\n"
                     if loads else f"#### {medium}\n")
        deferred = "ndtk-deferred" in impls
        per_cpu = any(k[0] == medium for k in mc)
        floor2 = "raw-btt2" in impls
        head = ("| pattern | block | threads | ndtk | libpmemblk | raw limit | BTT floor | "
                + ("2-point floor | " if floor2 else "")
                + "ndtk / libpmemblk | ndtk / raw | ndtk / floor |")
        sep = "|---|---:|---:|---:|---:|---:|---:|" + ("---:|" if floor2 else "") + "---:|---:|---:|"
        if per_cpu:
            head += " per CPU-s: ndtk / libpmemblk | per CPU-s: ndtk / raw |"
            sep += "---:|---:|"
        if deferred:
            head += " ndtk deferred |"
            sep += "---:|"
        lines += [head, sep]
        keys = sorted({(r["pattern"], r["bsize"], r["threads"]) for r in rs},
                      key=lambda k: (["seqwrite", "randwrite", "randread"].index(k[0]), k[1], k[2]))
        for pat, bs, th in keys:
            n = m.get((medium, pat, bs, th, "ndtk"))
            b = m.get((medium, pat, bs, th, "pmemblk"))
            raw = m.get((medium, pat, bs, th, "raw"))
            fl = m.get((medium, pat, bs, th, "raw-btt"))
            row = (f"| {pat} | {bs} | {th} | {fmt_rate(n)} | {fmt_rate(b)} | {fmt_rate(raw)} | "
                   f"{fmt_rate(fl)} | "
                   + (f"{fmt_rate(m.get((medium, pat, bs, th, 'raw-btt2')))} | " if floor2 else "")
                   + f"{fmt_ratio(div(n, b))} | {fmt_ratio(div(n, raw))} | "
                   f"{fmt_ratio(div(n, fl))} |")
            if per_cpu:
                cn = mc.get((medium, pat, bs, th, "ndtk"))
                row += (f" {fmt_ratio(div(cn, mc.get((medium, pat, bs, th, 'pmemblk'))))} |"
                        f" {fmt_ratio(div(cn, mc.get((medium, pat, bs, th, 'raw'))))} |")
            if deferred:
                row += f" {fmt_rate(m.get((medium, pat, bs, th, 'ndtk-deferred')))} |"
            lines.append(row)
        lines.append("")
        # Thread scaling
        lines.append(f"Scaling 2 threads / 1 thread ({medium}):\n")
        lines += ["| pattern | block | ndtk | libpmemblk | raw |", "|---|---:|---:|---:|---:|"]
        for pat, bs in sorted({(k[0], k[1]) for k in keys},
                              key=lambda k: (["seqwrite", "randwrite", "randread"].index(k[0]), k[1])):
            cells = []
            for impl in ("ndtk", "pmemblk", "raw"):
                cells.append(fmt_ratio(div(m.get((medium, pat, bs, 2, impl)),
                                           m.get((medium, pat, bs, 1, impl)))))
            lines.append(f"| {pat} | {bs} | " + " | ".join(cells) + " |")
        lines.append("")
    return lines, m


def scale_section(recs):
    lines = []
    by = {}
    for r in recs:
        if r.get("warmup"):
            continue
        by.setdefault((r["tool"], r["size"]), []).append(r)
    sizes = sorted({r["size"] for r in recs})
    rows = {}
    # The map scan rate: map bytes over btt-check's own wall time of the namespace passes (its
    # JSON "check_seconds": info blocks, log, map stream, block references) — not process
    # start-up. Older results without it: the marginal cost over the smallest size's run.
    base = None
    lines += ["| size | arenas | map entries | btt-format s | btt-format peak RSS | btt-check s | "
              "btt-check peak RSS | bitmap + 32 MiB | map scan GB/s (passes) | pmempool check s | "
              "pmempool peak RSS | btt-check speed-up |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for s in sizes:
        f = by.get(("btt-format", s), [])
        c = by.get(("btt-check", s), [])
        p = by.get(("pmempool-check", s), [])
        ft = med([x["seconds"] for x in f if x["rc"] == 0])
        frss = max((x["peak_rss"] for x in f), default=None)
        ct = med([x["seconds"] for x in c if x["rc"] == 0])
        crss = max((x["peak_rss"] for x in c), default=None)
        pt = med([x["seconds"] for x in p if x["rc"] == 0])
        prss = max((x["peak_rss"] for x in p), default=None)
        entries = (c or f or p or [{}])[0].get("map_entries")
        arenas = (c or f or p or [{}])[0].get("arenas")
        bitmap = c[0].get("bitmap_bytes") if c else None
        scan = None
        passes = med([x["pass_seconds"] for x in c if x["rc"] == 0 and x.get("pass_seconds")])
        if passes and entries:
            scan = entries * 4 / passes  # btt-check's own timing of the namespace passes
        elif base is None and entries and ct:
            base = (entries * 4, ct)
        elif base and entries and ct and ct > base[1]:
            scan = (entries * 4 - base[0]) / (ct - base[1])
        rows[s] = dict(format=ft, check=ct, pmempool=pt, entries=entries, crss=crss, scan=scan,
                       bitmap=bitmap, prss=prss, frss=frss)
        mib = lambda x: "—" if x is None else f"{x / (1 << 20):.1f} MiB"
        sec = lambda x: "—" if x is None else f"{x:.3f}"
        lines.append(
            f"| {human(s)} | {arenas if arenas is not None else '—'} | "
            f"{entries:,} | {sec(ft)} | {mib(frss)} | {sec(ct)} | {mib(crss)} | "
            f"{mib(bitmap + (32 << 20) if bitmap is not None else None)} | "
            f"{'—' if scan is None else f'{scan / 1e9:.2f}'} | {sec(pt)} | {mib(prss)} | "
            f"{fmt_ratio(div(pt, ct))} |" if entries is not None else f"| {human(s)} | no data |")
    lines.append("")
    return lines, rows


def plot(rows, m, outdir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(outdir, exist_ok=True)
    paths = []
    if rows:
        sizes = sorted(rows)
        gib = [s / (1 << 30) for s in sizes]
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
        for key, label, mark in (("check", "btt-check", "o"), ("pmempool", "pmempool check", "s"),
                                 ("format", "btt-format", "^")):
            pts = [(g, rows[s][key]) for g, s in zip(gib, sizes) if rows[s][key]]
            if pts:
                ax1.plot(*zip(*pts), marker=mark, label=label)
        ax1.set_xscale("log", base=2)
        ax1.set_yscale("log")
        ax1.set_xlabel("namespace / pool size (GiB)")
        ax1.set_ylabel("wall time (s), warm page cache")
        ax1.set_title("Check and format time against size")
        ax1.grid(True, which="both", alpha=0.3)
        ax1.legend()
        for key, label, mark in (("check", "btt-check", "o"), ("pmempool", "pmempool check", "s")):
            pts = [(g, rows[s]["entries"] * 4 / rows[s][key] / 1e9) for g, s in zip(gib, sizes)
                   if rows[s][key] and rows[s]["entries"]]
            if pts:
                ax2.plot(*zip(*pts), marker=mark, label=label)
        ax2.axhline(2.0, color="grey", linestyle="--", label="target 2 GB/s")
        ax2.set_xscale("log", base=2)
        ax2.set_xlabel("namespace / pool size (GiB)")
        ax2.set_ylabel("GB of map / s of the whole run (start-up included)")
        ax2.set_title("Checker throughput against size")
        ax2.grid(True, which="both", alpha=0.3)
        ax2.legend()
        fig.tight_layout()
        p = os.path.join(outdir, "scale.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    pm = {k: v for k, v in m.items() if k[0] == "pmem"}
    if pm:
        cases = sorted({k[1:4] for k in pm},
                       key=lambda k: (["seqwrite", "randwrite", "randread"].index(k[0]), k[1], k[2]))
        fig, ax = plt.subplots(figsize=(11, 4.2))
        w = 0.27
        for i, impl in enumerate(("ndtk", "pmemblk", "raw")):
            ys = [(pm.get(("pmem",) + c + (impl,)) or 0) / 1e6 for c in cases]
            ax.bar([x + (i - 1) * w for x in range(len(cases))], ys, w,
                   label={"raw": "raw limit", "pmemblk": "libpmemblk"}.get(impl, impl))
        ax.set_xticks(range(len(cases)))
        ax.set_xticklabels([f"{p}\n{b} B, {t}t" for p, b, t in cases], fontsize=7)
        ax.set_ylabel("M ops/s (median)")
        ax.set_title("Data path throughput, /dev/shm with PMEM_IS_PMEM_FORCE=1")
        ax.legend()
        ax.grid(True, axis="y", alpha=0.3)
        fig.tight_layout()
        p = os.path.join(outdir, "datapath.png")
        fig.savefig(p, dpi=110)
        plt.close(fig)
        paths.append(p)
    return paths


def targets(m, rows):
    g = lambda *k: m.get(("pmem",) + k)
    out = ["| target | measured | met |", "|---|---:|:---:|"]

    def row(name, value, goal, fmtv=fmt_ratio):
        ok = "—" if value is None else ("yes" if value >= goal else "**no**")
        out.append(f"| {name} | {fmtv(value)} | {ok} |")

    row("random 4 KiB writes, 1 thread: ndtk / libpmemblk ≥ 1.5",
        div(g("randwrite", 4096, 1, "ndtk"), g("randwrite", 4096, 1, "pmemblk")), 1.5)
    row("random 4 KiB writes, 1 thread: ndtk / raw persisted copy ≥ 0.60",
        div(g("randwrite", 4096, 1, "ndtk"), g("randwrite", 4096, 1, "raw")), 0.60)
    for bs in (4096, 512):
        f2 = g("randwrite", bs, 1, "raw-btt2")
        if f2:
            out.append(f"| (bound) random {bs} B writes: 2-point floor / libpmemblk (no BTT write "
                       f"with two ordering points can exceed it) | "
                       f"{fmt_ratio(div(f2, g('randwrite', bs, 1, 'pmemblk')))} | |")
            out.append(f"| (bound) random {bs} B writes: 2-point floor / raw persisted copy | "
                       f"{fmt_ratio(div(f2, g('randwrite', bs, 1, 'raw')))} | |")
            out.append(f"| (for reference) random {bs} B writes: ndtk / 2-point floor | "
                       f"{fmt_ratio(div(g('randwrite', bs, 1, 'ndtk'), f2))} | |")
    out.append("| (for reference) random 4 KiB writes: BTT floor / raw persisted copy | "
               f"{fmt_ratio(div(g('randwrite', 4096, 1, 'raw-btt'), g('randwrite', 4096, 1, 'raw')))} | |")
    out.append("| (for reference) random 4 KiB writes: BTT floor / libpmemblk | "
               f"{fmt_ratio(div(g('randwrite', 4096, 1, 'raw-btt'), g('randwrite', 4096, 1, 'pmemblk')))} | |")
    row("random 512 B writes, 1 thread: ndtk / libpmemblk ≥ 2",
        div(g("randwrite", 512, 1, "ndtk"), g("randwrite", 512, 1, "pmemblk")), 2.0)
    row("random 4 KiB reads, 1 thread: ndtk / raw read ≥ 0.95",
        div(g("randread", 4096, 1, "ndtk"), g("randread", 4096, 1, "raw")), 0.95)
    for pat in ("seqwrite", "randwrite", "randread"):
        for bs in (512, 4096):
            row(f"{pat} {bs} B: ndtk 2 threads / 1 thread ≥ 1.8",
                div(g(pat, bs, 2, "ndtk"), g(pat, bs, 1, "ndtk")), 1.8)
    big = [s for s in sorted(rows) if rows[s]["check"] and rows[s]["pmempool"]]
    for s in big:
        row(f"btt-check speed vs pmempool check, {human(s)} ≥ 5",
            div(rows[s]["pmempool"], rows[s]["check"]), 5.0)
    for s in sorted(rows):
        r = rows[s]
        if r.get("scan"):
            row(f"map scan {human(s)} (btt-check pass time) ≥ 2 GB/s", r["scan"] / 1e9,
                2.0, lambda v: f"{v:.2f} GB/s")
    for s in sorted(rows):
        r = rows[s]
        if r["crss"] and r["bitmap"] is not None:
            lim = r["bitmap"] + (32 << 20)
            out.append(f"| btt-check peak RSS {human(s)} ≤ bitmap + 32 MiB "
                       f"({lim / (1 << 20):.1f} MiB) | {r['crss'] / (1 << 20):.1f} MiB | "
                       f"{'yes' if r['crss'] <= lim else '**no**'} |")
    if (4 << 40) in rows and rows[4 << 40]["format"]:
        v = rows[4 << 40]["format"]
        out.append(f"| btt-format 4 TiB sparse < 2 s | {v:.3f} s | {'yes' if v < 2 else '**no**'} |")
    out.append("")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="bench/results")
    ap.add_argument("--doc", default="docs/performance.md")
    ap.add_argument("--plots", default="docs/perf")
    a = ap.parse_args()

    runs = []
    for p in sorted(glob.glob(os.path.join(a.results, "datapath-*.jsonl"))):
        runs += load(p)
    scale = load(os.path.join(a.results, "scale.jsonl"))
    machine = {}
    if os.path.exists(os.path.join(a.results, "machine.json")):
        with open(os.path.join(a.results, "machine.json")) as f:
            machine = json.load(f)

    body = [BEGIN, ""]
    if machine:
        body += ["### Machine and run", ""]
        for k, v in machine.items():
            body.append(f"- {k}: {v}")
        body.append("")
    dp_lines, m = datapath_section(runs)
    sc_lines, rows = scale_section(scale)
    body += ["### Targets", ""] + targets(m, rows)
    body += ["### Data path", ""] + dp_lines
    body += ["![data path throughput](perf/datapath.png)", ""]
    body += ["### Checker and formatter against size", ""] + sc_lines
    body += ["![check time and throughput against size](perf/scale.png)", ""]
    plot(rows, m, a.plots)
    body += [END]

    text = open(a.doc).read() if os.path.exists(a.doc) else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        pre = text[: text.index(BEGIN)]
        post = text[text.index(END) + len(END):]
    else:
        pre, post = text + "\n", "\n"
    with open(a.doc, "w") as f:
        f.write(pre + "\n".join(body) + post)


if __name__ == "__main__":
    main()
