#!/usr/bin/env python3
"""Orchestration overhead: Alambic against Snakemake and GNU make on the same DAGs.

For each shape (chain, fan, random) and size, measures:
  cold      a full build from nothing
  nostale   planning when nothing is stale (alambic plan / snakemake -n / make -q)
  onechange planning after one leaf changes (alambic: the leaf's params;
            snakemake and make: the leaf's input touched, their only trigger)
and prints seconds and the peer/alambic ratios. Run: bench/orchestration/bench.py
BUILD/alambic [--sizes 1000,10000] [--shapes chain,fan,random] [--skip-snakemake-above N]
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def timed(cmd, cwd, repeat=1, check=True):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        times.append(time.perf_counter() - t)
        if check and r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
    return statistics.median(times), r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("alambic")
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--shapes", default="chain,fan,random")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip-snakemake-above", type=int, default=10**9)
    a = ap.parse_args()
    alambic = os.path.abspath(a.alambic)
    rows = []
    for n in [int(x) for x in a.sizes.split(",")]:
        for shape in a.shapes.split(","):
            work = tempfile.mkdtemp(prefix=f"alambic-bench-{shape}-{n}-")
            leaf = int(subprocess.check_output([sys.executable, os.path.join(HERE, "gen.py"), shape, str(n), work]))
            al, sm, mk = (os.path.join(work, x) for x in ("alambic", "snakemake", "make"))
            res = {"shape": shape, "n": n}
            # Alambic
            res["alambic cold"], r = timed([alambic, "run", "-j", str(a.jobs)], al)
            res["alambic nostale"], r = timed([alambic, "plan"], al, repeat=5)
            assert r.stdout.strip().endswith(f"0 of {n} recipes to run"), r.stdout[-200:]
            flow = os.path.join(al, "flows", "bench.yaml")
            text = open(flow).read()
            needle = f"- {{name: s{leaf}, kind: sql"
            i = text.index(needle)
            j = text.index("select 1 as k", i)
            open(flow, "w").write(text[:j] + "select 2 as k" + text[j + len("select 1 as k"):])
            res["alambic onechange"], r = timed([alambic, "plan"], al, repeat=5)
            assert r.stdout.strip().endswith(f"1 of {n} recipes to run"), r.stdout[-200:]
            # GNU make
            res["make cold"], _ = timed(["make", "-s", f"-j{a.jobs}"], mk)
            res["make nostale"], _ = timed(["make", "-q"], mk, repeat=5)
            leaf_input = open(os.path.join(mk, "Makefile")).read().split(f"out/d{leaf}: ")[1].split()[0]
            os.utime(os.path.join(mk, leaf_input))
            res["make onechange"], _ = timed(["make", "-n"], mk, repeat=5)
            # Snakemake
            if n <= a.skip_snakemake_above and shutil.which("snakemake"):
                # Snakemake resolves the DAG recursively: give it a deep enough stack
                # so long chains are measured rather than refused.
                # (with the interpreter Snakemake is installed for).
                shebang = open(shutil.which("snakemake")).readline()[2:].split()
                smk = shebang + [os.path.join(HERE, "snakemake_deep.py")]
                t, r = timed(smk + ["-q", "--cores", str(a.jobs)], sm, check=False)
                if r.returncode != 0:
                    res["snakemake error"] = (r.stderr.strip().splitlines() or ["?"])[-1][:120]
                else:
                    res["snakemake cold"] = t
                    res["snakemake nostale"], _ = timed(smk + ["-n", "-q", "--cores", "1"], sm, repeat=3)
                    os.utime(os.path.join(sm, leaf_input))
                    res["snakemake onechange"], _ = timed(smk + ["-n", "-q", "--cores", "1"], sm, repeat=3)
            rows.append(res)
            shutil.rmtree(work, ignore_errors=True)
            print_row(res)
            sys.stdout.flush()


def print_row(r):
    print(f"\n== {r['shape']} n={r['n']}")
    print(f"{'measure':<10} {'alambic':>9} {'make':>9} {'snakemake':>10} {'make/al':>8} {'smk/al':>8}")
    for m in ("cold", "nostale", "onechange"):
        al = r[f"alambic {m}"]
        mk = r.get(f"make {m}")
        sm = r.get(f"snakemake {m}")
        print(f"{m:<10} {al:>8.3f}s {mk:>8.3f}s {(f'{sm:.3f}s' if sm else '-'):>10} "
              f"{mk / al:>7.1f}x {(f'{sm / al:.1f}x' if sm else '-'):>8}")
    if "snakemake error" in r:
        print(f"snakemake failed: {r['snakemake error']}")


if __name__ == "__main__":
    main()
