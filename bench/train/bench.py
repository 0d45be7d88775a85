#!/usr/bin/env python3
"""Training and scoring at scale: a train recipe against Python's xgboost.

Generates ROWS rows × 30 float features with a binary target (a noisy
non-linear function of some features), writes them as a CSV, and runs, in a
fresh workspace, collect -> train -> score. Then trains Python's xgboost in this
script with the same parameters, split and threads on the same values. Prints:
  - train: the train recipe's duration (from the catalog: encoding, matrices,
    boosting, validation metrics, importance, serialisation) and Python's
    (matrices, boosting, validation predictions, serialisation), each the best
    of REPEAT measures taken alternately, and their ratio;
  - the validation AUC of both;
  - score: the score recipe's duration and its rows per second.

    /usr/bin/python3 bench/train/bench.py BUILD/alambic [--rows 1000000] [--rounds 100]
        [--threads 2] [--repeat 3] [--keep DIR]
"""
import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

FEATURES = 30
SEED = 42
VALIDATION = 0.2


def run(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout}")
    return r.stdout


def splitmix64(x):
    # numpy uint64 arithmetic wraps modulo 2**64, as the recipe's does.
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def validation_rows(n, seed, fraction):
    with np.errstate(over="ignore"):
        key = splitmix64(np.array([seed], dtype=np.uint64))[0]
        h = splitmix64(key ^ np.arange(n, dtype=np.uint64))
    return (h >> np.uint64(11)).astype(np.float64) / 2.0**53 < fraction


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("alambic")
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="training measures of each")
    ap.add_argument("--keep", help="workspace directory to keep (default: a temporary one)")
    args = ap.parse_args()
    alambic = os.path.abspath(args.alambic)
    root = args.keep or tempfile.mkdtemp(prefix="alambic-bench-train-")
    ws = os.path.join(root, "ws")
    if os.path.exists(ws):
        shutil.rmtree(ws)
    run([alambic, "init", ws], root)

    rng = np.random.default_rng(SEED)
    x = np.round(rng.normal(size=(args.rows, FEATURES)), 4)
    logit = (x[:, 0] + 0.8 * x[:, 1] * x[:, 2] - 0.6 * np.abs(x[:, 3]) + 0.5 * np.sin(2 * x[:, 4])
             + 0.3 * x[:, 5:10].sum(axis=1) + rng.normal(scale=1.0, size=args.rows))
    y = (logit > 0.3).astype(np.int64)
    names = [f"f{i}" for i in range(FEATURES)]
    t = time.perf_counter()
    with open(os.path.join(ws, "data", "train.csv"), "w") as f:
        f.write(",".join(names + ["label"]) + "\n")
        np.savetxt(f, np.column_stack([x, y]), delimiter=",",
                   fmt=["%.4f"] * FEATURES + ["%d"])
    print(f"generated {args.rows:,} rows x {FEATURES} features in {time.perf_counter() - t:.1f} s")

    hyper = {"eta": 0.3, "max_depth": 6}
    with open(os.path.join(ws, "flows", "bench.yaml"), "w") as f:
        f.write(f"""flow: bench
usecase: bench
recipes:
  - {{name: collect, kind: collect, outputs: [rows], params: {{path: data/train.csv}}}}
  - name: train
    kind: train
    inputs: [rows]
    outputs: [model]
    params:
      task: binary
      target: label
      rounds: {args.rounds}
      threads: {args.threads}
      split: {{method: random, validation: {VALIDATION}, seed: {SEED}}}
      hyperparams: {json.dumps(hyper)}
  - {{name: score, kind: score, inputs: [model, rows], outputs: [scored], params: {{keep: [label]}}}}
""")
    t = time.perf_counter()
    run([alambic, "run", "-j", "1"], ws)
    wall = time.perf_counter() - t
    db = sqlite3.connect(os.path.join(ws, ".alambic", "catalog.db"))

    def recipe(name):
        # The latest run of the recipe: its duration and metrics.
        ms, metrics = db.execute(
            "select r.duration_ms, r.metrics from recipe_runs r join runs u on u.id = r.run_id "
            "where r.recipe = ? and r.status = 'succeeded' order by u.started_at desc limit 1",
            (name,)).fetchone()
        return ms / 1000.0, json.loads(metrics)

    ours_score, _ = recipe("score")

    # Python's xgboost: the same values (float32), split, parameters and threads.
    x32 = x.astype(np.float32)
    valid = validation_rows(args.rows, SEED, VALIDATION)
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_bin": 256,
              "nthread": args.threads, "seed": 0, "eval_metric": "logloss", **hyper}

    def python_train():
        t = time.perf_counter()
        dtrain = xgb.DMatrix(x32[~valid], label=y[~valid], missing=np.nan, nthread=args.threads)
        dvalid = xgb.DMatrix(x32[valid], label=y[valid], missing=np.nan, nthread=args.threads)
        booster = xgb.train(params, dtrain, num_boost_round=args.rounds)
        p = booster.predict(dvalid)
        booster.save_raw("json")
        return time.perf_counter() - t, roc_auc_score(y[valid], p)

    # Alternately, so that both see the same share of a busy machine; the first
    # alambic measure is the run above.
    ours, theirs = [recipe("train")[0]], []
    ours_metrics = recipe("train")[1]
    for i in range(args.repeat):
        seconds, py_auc = python_train()
        theirs.append(seconds)
        if i + 1 < args.repeat:
            run([alambic, "run", "--only", "train", "--force", "-j", "1"], ws)
            ours.append(recipe("train")[0])

    print(f"alambic run (collect + train + score): {wall:.1f} s wall")
    print(f"train  {args.rows:,} rows x {FEATURES} features, {args.rounds} rounds, "
          f"{args.threads} threads, best of {args.repeat} (all: alambic "
          f"{', '.join(f'{s:.2f}' for s in ours)}; python {', '.join(f'{s:.2f}' for s in theirs)})")
    print(f"  alambic train recipe : {min(ours):8.2f} s   validation AUC {ours_metrics['auc']:.5f}")
    print(f"  python xgboost       : {min(theirs):8.2f} s   validation AUC {py_auc:.5f}")
    print(f"  ratio alambic/python : {min(ours) / min(theirs):8.3f}")
    print(f"score  {args.rows:,} rows: {ours_score:.2f} s, {args.rows / ours_score:,.0f} rows/s")
    if not args.keep:
        shutil.rmtree(root)


if __name__ == "__main__":
    main()
