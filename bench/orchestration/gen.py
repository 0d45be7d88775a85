#!/usr/bin/env python3
"""Generates the same DAG of trivial steps for Alambic, Snakemake, GNU make and ninja.

Shapes:
  chain   s0 -> s1 -> ... -> sN-1
  fan     one source -> N-2 parallel steps -> one step reading them all
  random  each step reads 1 to 3 earlier steps chosen anywhere in the graph
          (not only a local window), seeded

Alambic: step 0 is a `collect` of a one-row CSV, steps with one input are
`sync` (a copy), steps with several inputs are `sql` (select 1 as k over the
loaded inputs; a stack would grow the rows exponentially in deep DAGs). Snakemake, make and ninja: each step
is a rule that touches its output file from its inputs (the cheapest action
each tool has), so the comparison is orchestration overhead only.
"""
import argparse
import os
import random


def edges(shape, n, seed):
    rng = random.Random(seed)
    deps = [[] for _ in range(n)]
    if shape == "chain":
        for i in range(1, n):
            deps[i] = [i - 1]
    elif shape == "fan":
        for i in range(1, n - 1):
            deps[i] = [0]
        deps[n - 1] = list(range(1, n - 1))
    elif shape == "random":
        for i in range(1, n):
            k = min(i, rng.choice([1, 2, 3]))
            deps[i] = sorted(rng.sample(range(i), k))
    else:
        raise SystemExit(f"unknown shape {shape}")
    return deps


def write_alambic(out, deps):
    os.makedirs(os.path.join(out, "flows"), exist_ok=True)
    os.makedirs(os.path.join(out, "data"), exist_ok=True)
    with open(os.path.join(out, "alambic.yaml"), "w") as f:
        f.write("name: bench\n")
    with open(os.path.join(out, "data", "seed.csv"), "w") as f:
        f.write("k,v\n1,one\n")
    lines = ["flow: bench\nrecipes:\n"]
    consumed = set(j for d in deps for j in d)
    for i, d in enumerate(deps):
        if d and i not in consumed:  # leaves carry a param the benchmark edits
            ins = ", ".join(f"d{j}" for j in d)
            lines.append(f"  - {{name: s{i}, kind: sql, inputs: [{ins}], outputs: [d{i}], "
                         f"params: {{query: 'select 1 as k'}}}}\n")
        elif not d:
            lines.append(f"  - {{name: s{i}, kind: collect, outputs: [d{i}], params: {{path: data/seed.csv}}}}\n")
        elif len(d) == 1:
            lines.append(f"  - {{name: s{i}, kind: sync, inputs: [d{d[0]}], outputs: [d{i}]}}\n")
        else:
            ins = ", ".join(f"d{j}" for j in d)
            lines.append(f"  - {{name: s{i}, kind: sql, inputs: [{ins}], outputs: [d{i}], "
                         f"params: {{query: 'select 1 as k'}}}}\n")
    with open(os.path.join(out, "flows", "bench.yaml"), "w") as f:
        f.writelines(lines)


def write_snakemake(out, deps):
    os.makedirs(out, exist_ok=True)
    n = len(deps)
    sinks = [i for i in range(n) if not any(i in d for d in deps)]
    with open(os.path.join(out, "Snakefile"), "w") as f:
        f.write("rule all:\n    input: [%s]\n\n" % ", ".join(f'"out/d{i}"' for i in sinks))
        for i, d in enumerate(deps):
            ins = ", ".join(f'"out/d{j}"' for j in d) if d else '"seed.csv"'
            f.write(f"rule s{i}:\n    input: {ins}\n    output: \"out/d{i}\"\n    shell: \"touch {{output}}\"\n\n")
    with open(os.path.join(out, "seed.csv"), "w") as f:
        f.write("k,v\n1,one\n")


def write_make(out, deps):
    os.makedirs(out, exist_ok=True)
    n = len(deps)
    sinks = [i for i in range(n) if not any(i in d for d in deps)]
    with open(os.path.join(out, "Makefile"), "w") as f:
        f.write("all: " + " ".join(f"out/d{i}" for i in sinks) + "\n\n")
        f.write("out:\n\tmkdir -p out\n\n")
        for i, d in enumerate(deps):
            ins = " ".join(f"out/d{j}" for j in d) if d else "seed.csv"
            f.write(f"out/d{i}: {ins} | out\n\ttouch $@\n\n")
    with open(os.path.join(out, "seed.csv"), "w") as f:
        f.write("k,v\n1,one\n")


def write_ninja(out, deps):
    os.makedirs(out, exist_ok=True)
    n = len(deps)
    sinks = [i for i in range(n) if not any(i in d for d in deps)]
    with open(os.path.join(out, "build.ninja"), "w") as f:
        f.write("rule touch\n  command = touch $out\n\n")
        for i, d in enumerate(deps):
            ins = " ".join(f"out/d{j}" for j in d) if d else "seed.csv"
            f.write(f"build out/d{i}: touch {ins}\n")
        f.write("build all: phony " + " ".join(f"out/d{i}" for i in sinks) + "\n")
        f.write("default all\n")
    os.makedirs(os.path.join(out, "out"), exist_ok=True)
    with open(os.path.join(out, "seed.csv"), "w") as f:
        f.write("k,v\n1,one\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("shape", choices=["chain", "fan", "random"])
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    a = ap.parse_args()
    deps = edges(a.shape, a.n, a.seed)
    write_alambic(os.path.join(a.out, "alambic"), deps)
    write_snakemake(os.path.join(a.out, "snakemake"), deps)
    write_make(os.path.join(a.out, "make"), deps)
    write_ninja(os.path.join(a.out, "ninja"), deps)
    sinks = [i for i in range(a.n) if not any(i in d for d in deps)]
    print(sinks[-1])  # a leaf step, for the one-change measurement


if __name__ == "__main__":
    main()
