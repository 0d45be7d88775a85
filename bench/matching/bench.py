#!/usr/bin/env python3
"""Identity matching at scale: the matching example on generated data.

Generates people and death records (examples/matching/generate.py), runs the
example's flow (collect -> fuzzy_join -> check) in a fresh copy of the
workspace, and prints, per size: wall time of the run, the fuzzy_join recipe's
duration, pairs compared, pairs compared per second (from the recipe's
metrics), and precision / recall against the ground truth.

    bench/matching/bench.py BUILD/alambic [--sizes 10000x100000,100000x1000000]
        [--threads N] [--keep DIR]
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "..", "examples", "matching")


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}")
    return r.stdout


def one(alambic, people, deaths, root, threads):
    ws = os.path.join(root, f"matching-{people}x{deaths}")
    if os.path.exists(ws):
        shutil.rmtree(ws)
    shutil.copytree(EXAMPLE, ws, ignore=shutil.ignore_patterns(".alambic", "data"))
    t = time.perf_counter()
    run([sys.executable, "generate.py", "--people", str(people), "--deaths", str(deaths),
         "--out", "data"], ws)
    gen_s = time.perf_counter() - t
    if threads:
        flow = os.path.join(ws, "flows", "matching.yaml")
        text = open(flow).read().replace("threshold: 0.8", f"threshold: 0.8\n      threads: {threads}")
        open(flow, "w").write(text)
    t = time.perf_counter()
    run([alambic, "run", "-j", "2"], ws)
    wall = time.perf_counter() - t
    runs = run([alambic, "runs"], ws).splitlines()
    run_id = runs[1].split()[0]
    log = run([alambic, "log", run_id, "match_deaths"], ws)
    metrics = json.loads(re.search(r"^metrics\s+(.*)$", log, re.M).group(1))
    duration = re.search(r"^duration\s+(.*)$", log, re.M).group(1)
    run([alambic, "export", "matches", "--csv", "matches.csv"], ws)
    ev = run([sys.executable, "evaluate.py", "matches.csv", "data/ground_truth.csv"], ws)
    pr = re.search(r"precision (\S+)\s+recall (\S+)", ev)
    return {"people": people, "deaths": deaths, "generate_s": round(gen_s, 1),
            "run_wall_s": round(wall, 2), "fuzzy_join_duration": duration,
            "prepare_s": round(metrics["prepare_seconds"], 2),
            "compare_s": round(metrics["compare_seconds"], 2),
            "pairs_compared": metrics["pairs_compared"],
            "pairs_per_s": round(metrics["pairs_per_second"]), "threads": metrics["threads"],
            "matched": metrics["matched"], "precision": float(pr.group(1)),
            "recall": float(pr.group(2))}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("alambic")
    ap.add_argument("--sizes", default="10000x100000,100000x1000000",
                    help="comma-separated PEOPLExDEATHS")
    ap.add_argument("--threads", type=int, default=0, help="fuzzy_join threads (0: all cores)")
    ap.add_argument("--keep", default=None, help="work directory to keep (default: a temp dir)")
    args = ap.parse_args()
    alambic = os.path.abspath(args.alambic)
    root = args.keep or tempfile.mkdtemp(prefix="alambic-bench-matching-")
    os.makedirs(root, exist_ok=True)
    try:
        for size in args.sizes.split(","):
            people, deaths = (int(x) for x in size.split("x"))
            r = one(alambic, people, deaths, root, args.threads)
            print(json.dumps(r), flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
