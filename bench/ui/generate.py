#!/usr/bin/env python3
"""Generates a workspace for the web server's load benchmark: N use cases, each
with one flow of D/N collect recipes (D datasets in all), and R runs recorded
directly in its catalog (spread over the flows, each with its recipe runs).

usage: generate.py DIR [--usecases 1000] [--datasets 10000] [--runs 100000]
The catalog must exist (the script runs `alambic secret init` and `user add`
first through bench/ui/load.sh)."""
import argparse
import os
import sqlite3
import uuid

p = argparse.ArgumentParser()
p.add_argument("dir")
p.add_argument("--usecases", type=int, default=1000)
p.add_argument("--datasets", type=int, default=10000)
p.add_argument("--runs", type=int, default=100000)
p.add_argument("--seed-only", action="store_true", help="only record the runs")
a = p.parse_args()
per_flow = max(1, a.datasets // a.usecases)

if not a.seed_only:
    os.makedirs(os.path.join(a.dir, "flows"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "usecases"), exist_ok=True)
    os.makedirs(os.path.join(a.dir, "data"), exist_ok=True)
    with open(os.path.join(a.dir, "alambic.yaml"), "w") as f:
        f.write("name: bench\ndefault_environment: datalab\nenvironments:\n  datalab: {}\n")
    with open(os.path.join(a.dir, "data", "small.csv"), "w") as f:
        f.write("id,value\n1,a\n2,b\n")
    statuses = ["idea", "poc", "preprod", "production", "abandoned"]
    for u in range(a.usecases):
        with open(os.path.join(a.dir, "usecases", f"uc{u:04d}.yaml"), "w") as f:
            st = statuses[u % 5]
            f.write(f"usecase: uc{u:04d}\ntitle: Cas d'usage {u}\nowner: owner{u % 37}\n"
                    f"direction: D{u % 11}\nstatus: {st}\n"
                    + ("reason: abandoned for the benchmark\n" if st == "abandoned" else "")
                    + f"tags: [t{u % 13}, bench]\ndescription: Use case number {u}.\n")
        with open(os.path.join(a.dir, "flows", f"f{u:04d}.yaml"), "w") as f:
            f.write(f"flow: f{u:04d}\nusecase: uc{u:04d}\nrecipes:\n")
            for d in range(per_flow):
                f.write(f"  - name: c{u:04d}_{d}\n    kind: collect\n"
                        f"    outputs: [ds{u:04d}_{d}]\n"
                        "    params: {path: data/small.csv, format: csv}\n")
    print(f"workspace: {a.usecases} use cases, {a.usecases * per_flow} datasets")
    raise SystemExit(0)

db = sqlite3.connect(os.path.join(a.dir, ".alambic", "catalog.db"))
db.execute("PRAGMA synchronous=OFF")
with db:
    for i in range(a.runs):
        u = i % a.usecases
        rid = str(uuid.UUID(int=i + 1))
        sec = i // a.usecases
        at = f"2026-{1 + sec // 2000 % 12:02d}-{1 + sec // 70 % 28:02d}T{sec // 60 % 24:02d}:{sec % 60:02d}:{u % 60:02d}.000Z"
        db.execute("INSERT INTO runs(id, flows, environment, trigger, status, started_at, finished_at)"
                   " VALUES (?, ?, 'datalab', 'schedule', ?, ?, ?)",
                   (rid, f"f{u:04d}", "failed" if i % 17 == 0 else "succeeded", at, at))
        for d in range(min(per_flow, 3)):
            db.execute("INSERT INTO recipe_runs(run_id, flow, recipe, kind, status, started_at,"
                       " finished_at, duration_ms, log) VALUES (?, ?, ?, 'collect', 'succeeded', ?, ?, 3.5,"
                       " 'read 2 rows')", (rid, f"f{u:04d}", f"c{u:04d}_{d}", at, at))
print(f"catalog: {a.runs} runs")
