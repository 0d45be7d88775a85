#!/usr/bin/env python3
"""Orchestration overhead: Alambic against GNU make, ninja and Snakemake on the same DAGs.

For each shape (chain, fan, random) and size, measures:
  cold      a full build from nothing
  nostale   a run when nothing is stale (alambic run / make / ninja / snakemake -n);
            `alambic plan` alone is shown too
  onechange a run after one leaf changes (alambic: the leaf's params; make,
            ninja and snakemake: the leaf's input touched, their only trigger),
            so the leaf's own work is included
and prints wall seconds (median), the CPU seconds (user + system) of the same
runs (median), the peer/alambic ratios of wall time, Alambic's peak RSS and the
load average when each figure was taken (the machine is shared: read ratios and
CPU times, not absolute wall times). Run: bench/orchestration/bench.py BUILD/alambic
[--sizes 1000,10000] [--shapes chain,fan,random] [--skip-snakemake-above N]
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


def run_once(cmd, cwd):
    """(seconds, peak RSS in MB, returncode, stdout, stderr, CPU seconds) of one run of cmd."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        p = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(p.pid, 0)
        dt = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return dt, usage.ru_maxrss / 1024, p.returncode, out.read().decode(errors="replace"), \
            err.read().decode(errors="replace"), usage.ru_utime + usage.ru_stime


class Timed:
    def __init__(self, seconds, rss, load, stdout, cpu=None):
        self.seconds, self.rss, self.load, self.stdout, self.cpu = seconds, rss, load, stdout, cpu


def timed(cmd, cwd, repeat=1, check=True):
    """The median time of `repeat` runs, the largest peak RSS, the 1-minute load average."""
    times, cpus, rss = [], [], 0.0
    load = os.getloadavg()[0]
    for _ in range(repeat):
        dt, mb, rc, out, err, cpu = run_once(cmd, cwd)
        times.append(dt)
        cpus.append(cpu)
        rss = max(rss, mb)
        if check and rc != 0:
            sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{out[-2000:]}\n{err[-2000:]}")
    return Timed(statistics.median(times), rss, load, out if rc == 0 else err,
                 statistics.median(cpus))


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
            al, sm, mk, nj = (os.path.join(work, x)
                              for x in ("alambic", "snakemake", "make", "ninja"))
            res = {"shape": shape, "n": n}
            # Alambic
            res["alambic cold"] = timed([alambic, "run", "-j", str(a.jobs)], al)
            res["alambic nostale"] = r = timed([alambic, "run", "-j", str(a.jobs)], al, repeat=5)
            assert f"{n} up to date" in r.stdout or "nothing to run" in r.stdout or "0 succeeded" in r.stdout, r.stdout[-300:]
            res["alambic plan"] = r = timed([alambic, "plan"], al, repeat=5)
            assert r.stdout.strip().endswith(f"0 of {n} recipes to run"), r.stdout[-200:]
            flow = os.path.join(al, "flows", "bench.yaml")
            text = open(flow).read()
            needle = f"- {{name: s{leaf}, kind: sql"
            i = text.index(needle)
            j = text.index("select 1 as k", i)
            for q in range(5):  # a new query each time, so each run has the leaf to run
                old, new = f"select {q + 1} as k", f"select {q + 2} as k"
                text = text[:j] + new + text[j + len(old):]
                open(flow, "w").write(text)
                r = timed([alambic, "run", "-j", str(a.jobs)], al)
                runs = res.setdefault("_onechange", [])
                runs.append(r)
            res["alambic onechange"] = Timed(statistics.median(x.seconds for x in runs),
                                             max(x.rss for x in runs), runs[0].load, "",
                                             statistics.median(x.cpu for x in runs))
            del res["_onechange"]
            # GNU make
            res["make cold"] = timed(["make", "-s", f"-j{a.jobs}"], mk)
            res["make nostale"] = timed(["make", "-s"], mk, repeat=5)
            leaf_input = open(os.path.join(mk, "Makefile")).read().split(f"out/d{leaf}: ")[1].split()[0]
            res["make onechange"] = touch_and_time(os.path.join(mk, leaf_input), ["make", "-s"], mk)
            # ninja
            if shutil.which("ninja"):
                res["ninja cold"] = timed(["ninja", f"-j{a.jobs}"], nj)
                res["ninja nostale"] = timed(["ninja"], nj, repeat=5)
                res["ninja onechange"] = touch_and_time(os.path.join(nj, leaf_input), ["ninja"], nj)
            # Snakemake
            if n <= a.skip_snakemake_above and shutil.which("snakemake"):
                # Snakemake resolves the DAG recursively: give it a deep enough stack
                # so long chains are measured rather than refused.
                # (with the interpreter Snakemake is installed for).
                shebang = open(shutil.which("snakemake")).readline()[2:].split()
                smk = shebang + [os.path.join(HERE, "snakemake_deep.py")]
                dt, _, rc, _, err, _ = run_once(smk + ["-q", "--cores", str(a.jobs)], sm)
                if rc != 0:
                    res["snakemake error"] = (err.strip().splitlines() or ["?"])[-1][:120]
                else:
                    res["snakemake cold"] = Timed(dt, 0, os.getloadavg()[0], "")
                    res["snakemake nostale"] = timed(smk + ["-n", "-q", "--cores", "1"], sm, repeat=3)
                    os.utime(os.path.join(sm, leaf_input))
                    res["snakemake onechange"] = timed(smk + ["-n", "-q", "--cores", "1"], sm, repeat=3)
            rows.append(res)
            shutil.rmtree(work, ignore_errors=True)
            print_row(res)
            sys.stdout.flush()


def touch_and_time(path, cmd, cwd, repeat=5):
    """Median over `repeat` runs of cmd, each after touching `path`."""
    runs = []
    for _ in range(repeat):
        time.sleep(0.01)  # a newer mtime than the outputs' on coarse clocks
        os.utime(path)
        runs.append(timed(cmd, cwd))
    return Timed(statistics.median(x.seconds for x in runs), max(x.rss for x in runs),
                 runs[0].load, "", statistics.median(x.cpu for x in runs))


def print_row(r):
    print(f"\n== {r['shape']} n={r['n']}")
    print(f"{'measure':<10} {'alambic':>9} {'al CPU':>8} {'RSS MB':>7} {'load':>5} {'make':>9} "
          f"{'mk CPU':>8} {'ninja':>9} {'nj CPU':>8} {'snakemake':>10} {'make/al':>8} "
          f"{'ninja/al':>8} {'smk/al':>8}")

    def secs(x):
        return f"{x.seconds:.3f}s" if x else "-"

    def cpu(x):
        return f"{x.cpu:.3f}s" if x and x.cpu is not None else "-"

    def ratio(x, al):
        return f"{x.seconds / al.seconds:.2f}x" if x else "-"

    for m in ("cold", "nostale", "plan", "onechange"):
        al = r[f"alambic {m}"]
        mk, nj, sm = (r.get(f"{t} {m}") for t in ("make", "ninja", "snakemake"))
        print(f"{m:<10} {secs(al):>9} {cpu(al):>8} {al.rss:>7.0f} {al.load:>5.2f} {secs(mk):>9} "
              f"{cpu(mk):>8} {secs(nj):>9} {cpu(nj):>8} {secs(sm):>10} {ratio(mk, al):>8} "
              f"{ratio(nj, al):>8} {ratio(sm, al):>8}")
    if "snakemake error" in r:
        print(f"snakemake failed: {r['snakemake error']}")


if __name__ == "__main__":
    main()
