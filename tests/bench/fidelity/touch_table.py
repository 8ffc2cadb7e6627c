#!/usr/bin/env python3
"""The touch models side by side, over one or more runs of touch_matrix.sh.

    tests/bench/fidelity/touch_table.py MODELS OUT [OUT...]
    e.g. touch_table.py use,revisit,wset,revisit-wset pass1 pass2 pass3

Per program and model, from each OUT/MODEL/PROGRAM.json (validate's JSON): CPU rho,
peak-RSS rho, CPU pairs agreeing of those resolved, the mean |CPU ratio error| over the
allocators (replay's CPU ratio to the baseline less the program's), the worst peak-RSS
ratio error. With several OUTs, each figure is the median of the runs (pairs summed).
The last rows give each model's mean over the programs and the runs, and over the six
programs whose CPU ratios span enough to rank (g++ and xz-threads span 0.04-0.11: their
CPU rank is mostly noise). Then, against the first model, run by run on the six: how
often each model's CPU rho (and mean |CPU ratio error|) is better, equal, worse.
"""
import json
import os
import statistics
import sys

SPANNED = ["python3", "sqlite3", "perl", "batch_queue", "python3-threads", "prodcons"]
PROGRAMS = ["python3", "sqlite3", "perl", "batch_queue", "python3-threads", "prodcons", "g++",
            "xz-threads"]


def figures(path):
    v = json.load(open(path))["validation"]
    cpu_err, rss_err = [], []
    for a in v["allocators"]:
        r = a.get("ratio")
        if not isinstance(r, dict) or a["name"] == v["baseline"]:
            continue
        if r.get("cpu_error") is not None:
            cpu_err.append(abs(r["cpu_error"]))
        if r.get("peak_rss_error") is not None:
            rss_err.append((abs(r["peak_rss_error"]), r["peak_rss_error"], a["name"]))
    return {
        "cpu": v["spearman"]["cpu"],
        "rss": v["spearman"]["peak_rss"],
        "agree": v["cpu_pairs"]["agreeing"],
        "resolved": v["cpu_pairs"]["resolved"],
        "cpu_err": statistics.mean(cpu_err) if cpu_err else float("nan"),
        "worst_rss": max(rss_err) if rss_err else None,
    }


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: touch_table.py MODELS OUT [OUT...]")
    models = sys.argv[1].split(",")
    outs = sys.argv[2:]
    print("Each cell: CPU rho / peak-RSS rho / CPU pairs agreeing of resolved / mean |CPU "
          "ratio error| / worst peak-RSS ratio error" +
          (f" (medians of {len(outs)} runs, pairs summed)" if len(outs) > 1 else ""))
    print()
    print("| program | " + " | ".join(models) + " |")
    print("|---|" + "---|" * len(models))
    overall = {m: [] for m in models}
    spanned = {m: [] for m in models}
    for program in PROGRAMS:
        cells = []
        for m in models:
            runs = [figures(p) for p in (os.path.join(o, m, program + ".json") for o in outs)
                    if os.path.exists(p)]
            if not runs:
                cells.append("-")
                continue
            overall[m].extend(runs)
            if program in SPANNED:
                spanned[m].extend(runs)
            med = lambda k: statistics.median(r[k] for r in runs)
            worst = max((r["worst_rss"] for r in runs if r["worst_rss"]), default=None)
            cells.append("%.2f / %.2f / %d of %d / %.3f / %s" % (
                med("cpu"), med("rss"), sum(r["agree"] for r in runs),
                sum(r["resolved"] for r in runs), med("cpu_err"),
                "-" if worst is None else "%+.2f %s" % (worst[1], worst[2])))
        print(f"| {program} | " + " | ".join(cells) + " |")
    for title, by_model in (("all programs", overall), ("the six", spanned)):
        cells = []
        for m in models:
            runs = by_model[m]
            if not runs:
                cells.append("-")
                continue
            agree = sum(r["agree"] for r in runs)
            resolved = sum(r["resolved"] for r in runs)
            cells.append("%.2f / %.2f / %d of %d (%.0f %%) / %.3f" % (
                statistics.mean(r["cpu"] for r in runs), statistics.mean(r["rss"] for r in runs),
                agree, resolved, 100.0 * agree / resolved if resolved else 0,
                statistics.mean(r["cpu_err"] for r in runs)))
        print(f"| **mean, {title}** | " + " | ".join(cells) + " |")
    head_to_head(models, outs)


def head_to_head(models, outs):
    base = models[0]
    print()
    print(f"Against {base}, run by run on the six (better / equal / worse):")
    print()
    for m in models[1:]:
        rho, err = [0, 0, 0], [0, 0, 0]
        for program in SPANNED:
            for o in outs:
                a, b = (os.path.join(o, x, program + ".json") for x in (base, m))
                if not (os.path.exists(a) and os.path.exists(b)):
                    continue
                fa, fb = figures(a), figures(b)
                d = round(fb["cpu"] - fa["cpu"], 2)
                rho[0 if d > 0 else 1 if d == 0 else 2] += 1
                d = round(fa["cpu_err"] - fb["cpu_err"], 3)
                err[0 if d > 0 else 1 if d == 0 else 2] += 1
        print(f"- {m}: CPU rho {rho[0]} / {rho[1]} / {rho[2]}; "
              f"mean |CPU ratio error| {err[0]} / {err[1]} / {err[2]}")


if __name__ == "__main__":
    main()
