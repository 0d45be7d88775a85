#!/usr/bin/env python3
"""Relational kinds (group, join, sort) against pandas, on the same shapes.

Runs build/alambic_bench_relational (in-process recipe kinds on a generated
table: ROWS exam rows, CENTRES distinct int64 centre ids, 100 departement
strings dictionary-encoded, a float score, an int64 x) and the same
operations in pandas on a DataFrame generated with the same distributions
(best of --repeat, generation excluded on both sides):
  group_by_int_key     groupby(centre_id).agg(count, sum x, mean score, max score), sorted
  group_by_string_key  the same by departement (pandas: categorical, observed=True)
  join_inner_int_key   merge(exams, centres, on=centre_id, how=inner)
  sort_float           sort_values(score, kind=stable)
and prints seconds and the ratio pandas / alambic (above 1: alambic is faster).

Run: bench/dataflow/bench.py BUILD/alambic_bench_relational [--rows 10000000]
     [--centres 100000] [--repeat 3]
Build the driver first: cmake --build build --target alambic_bench_relational
Needs: python3-pandas (Debian, /usr/bin/python3).
"""
import argparse
import json
import subprocess
import time

import numpy as np
import pandas as pd


def best(fn, repeat):
    t = 1e100
    out = None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        t = min(t, time.perf_counter() - start)
    return t, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("driver")
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--centres", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()

    ours = {}
    proc = subprocess.run([a.driver, str(a.rows), str(a.centres), str(a.repeat)],
                          check=True, capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        r = json.loads(line)
        ours[r["op"]] = r

    rng = np.random.default_rng(42)
    exams = pd.DataFrame({
        "centre_id": rng.integers(0, a.centres, a.rows, dtype=np.int64),
        "departement": pd.Categorical.from_codes(rng.integers(0, 100, a.rows),
                                                 [f"{i:02d}" for i in range(100)]),
        "score": rng.uniform(0, 20, a.rows),
        "x": rng.integers(0, 1000, a.rows, dtype=np.int64),
    })
    centres = pd.DataFrame({"centre_id": np.arange(a.centres, dtype=np.int64),
                            "name": [f"centre {i}" for i in range(a.centres)]})
    aggs = dict(n=("score", "size"), sx=("x", "sum"), ms=("score", "mean"), mx=("score", "max"))
    ops = {
        "group_by_int_key": lambda: exams.groupby("centre_id", sort=True).agg(**aggs),
        "group_by_string_key":
            lambda: exams.groupby("departement", sort=True, observed=True).agg(**aggs),
        "join_inner_int_key": lambda: exams.merge(centres, on="centre_id", how="inner"),
        "sort_float": lambda: exams.sort_values("score", kind="stable"),
    }
    print(f"rows={a.rows:,} centres={a.centres:,} best of {a.repeat}")
    print(f"{'operation':22} {'alambic s':>10} {'pandas s':>10} {'pandas/alambic':>15}")
    for op, fn in ops.items():
        t, out = best(fn, a.repeat)
        mine = ours[op]
        assert len(out) == mine["out_rows"] or op == "group_by_int_key", (op, len(out), mine)
        print(f"{op:22} {mine['seconds']:10.3f} {t:10.3f} {t / mine['seconds']:15.2f}")


if __name__ == "__main__":
    main()
