#!/usr/bin/env python3
"""The permis flow end to end: Alambic against pandas and DuckDB.

For each size, generates the permis extract (examples/permis/generate.py:
Latin-1, `;`, dd/mm/yyyy dates, decimal commas) and runs the example's whole
flow (collect -> clean with HMAC pseudonyms -> check -> formula -> join ->
group per centre and per departement -> join -> formula gap -> check -> sql),
every dataset persisted, three ways:
  alambic   `alambic run -j 2` of examples/permis on a fresh store (Arrow IPC
            files, fsync, catalog)
  pandas    bench/dataflow/permis_pandas.py: the same steps, every intermediate
            pickled
  duckdb    bench/dataflow/permis_duckdb.mjs: the same steps as SQL tables of an
            on-disk database (@duckdb/node-api, 2 threads)
It checks the three agree on the number of flagged centres, then prints wall
time, CPU time (user + system), peak memory (max RSS), the 1-minute load average
when each run started, the ratios, and Alambic's time per recipe. On a shared
machine (load above the number of cores) compare CPU times: wall times then
mostly measure the wait for a core.

Run: bench/dataflow/permis.py BUILD/alambic [--sizes 2000000,10000000] [--repeat 1]
     [--data-cache DIR]  (generating 10M exams takes minutes: keep them in DIR/10000000)
Needs: python3-pandas (Debian, /usr/bin/python3), `npm ci` in bench/dataflow.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
EXAMPLE = os.path.join(ROOT, "examples", "permis")


def measure(cmd, cwd, before=None):
    """Wall time (s), peak RSS (MiB), stdout, CPU time (user + system, s) and the load
    average when it started, of one run, via GNU time."""
    if before:
        before()
    load = os.getloadavg()[0]
    r = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S"] + cmd, cwd=cwd,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}")
    wall, rss_kb, user, system = r.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) / 1024, r.stdout, float(user) + float(system), load


def best(runs):
    return min(runs, key=lambda r: r[0])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("alambic")
    ap.add_argument("--sizes", default="2000000,10000000")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--data-cache", help="keep the generated extracts in DIR/N and reuse them")
    a = ap.parse_args()
    alambic = os.path.abspath(a.alambic)
    if not os.path.isdir(os.path.join(HERE, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    for n in [int(x) for x in a.sizes.split(",")]:
        work = tempfile.mkdtemp(prefix=f"alambic-bench-permis-{n}-")
        ws = os.path.join(work, "permis")
        shutil.copytree(EXAMPLE, ws, ignore=shutil.ignore_patterns(".alambic", "data"))
        cached = os.path.join(a.data_cache, str(n)) if a.data_cache else None
        if cached and os.path.exists(os.path.join(cached, "exams.csv")):
            shutil.copytree(cached, os.path.join(ws, "data"))
        else:
            subprocess.run([sys.executable, os.path.join(EXAMPLE, "generate.py"), "--exams", str(n),
                            "--out", os.path.join(ws, "data")], check=True,
                           stdout=subprocess.DEVNULL)
            if cached:
                shutil.copytree(os.path.join(ws, "data"), cached)
        key = os.path.join(work, "pseudo_key")
        with open(key, "w") as f:
            f.write("6b" * 32)
        os.chmod(key, 0o600)  # Alambic refuses a secret file others may read (copied with it)
        mb = os.path.getsize(os.path.join(ws, "data", "exams.csv")) / 1e6

        def fresh_store():
            shutil.rmtree(os.path.join(ws, ".alambic"), ignore_errors=True)
            os.makedirs(os.path.join(ws, ".alambic"))
            shutil.copy(key, os.path.join(ws, ".alambic", "pseudo_key"))

        def fresh_out():
            shutil.rmtree(os.path.join(work, "out"), ignore_errors=True)
            for f in ("permis.duckdb", "permis.duckdb.wal"):
                if os.path.exists(os.path.join(work, f)):
                    os.remove(os.path.join(work, f))

        res = {}
        res["alambic"] = best([measure([alambic, "run", "-j", "2"], ws, fresh_store)
                               for _ in range(a.repeat)])
        res["pandas"] = best([measure(["/usr/bin/python3", os.path.join(HERE, "permis_pandas.py"),
                                       os.path.join(ws, "data"), key, os.path.join(work, "out")],
                                      work, fresh_out) for _ in range(a.repeat)])
        res["duckdb"] = best([measure(["node", os.path.join(HERE, "permis_duckdb.mjs"),
                                       os.path.join(ws, "data"), key,
                                       os.path.join(work, "permis.duckdb")], work, fresh_out)
                              for _ in range(a.repeat)])
        summary = res["alambic"][2]
        if "12 succeeded, 0 failed" not in summary:
            sys.exit("alambic did not build the 12 recipes:\n" + summary[-3000:])
        flagged = subprocess.run([alambic, "show", "flagged_centres", "--format", "csv"], cwd=ws,
                                 stdout=subprocess.PIPE, text=True, check=True).stdout
        n_flagged = len(flagged.strip().splitlines()) - 1
        for peer in ("pandas", "duckdb"):
            got = int(res[peer][2].strip().splitlines()[-1])
            assert got == n_flagged, f"{peer} flags {got} centres, alambic {n_flagged}"

        print(f"\n== permis flow, {n:,} exams ({mb:.0f} MB CSV), {n_flagged} centres flagged")
        print(f"{'tool':<8} {'wall':>8} {'cpu':>8} {'peak MiB':>9} {'load':>5} "
              f"{'alambic / tool':>15}")
        al_wall, al_rss, _, al_cpu, _ = res["alambic"]
        for tool, (wall, rss, _, cpu, load) in res.items():
            print(f"{tool:<8} {wall:>7.2f}s {cpu:>7.2f}s {rss:>9.0f} {load:>5.1f}   "
                  f"time {al_wall / wall:>5.2f}x  cpu {al_cpu / cpu:>5.2f}x"
                  f"  memory {al_rss / rss:>5.2f}x")
        print("alambic, per recipe (from the run summary):")
        for line in summary.splitlines():
            if re.match(r"permis/\S+\s+succeeded", line):
                print("   " + line.rstrip())
        sys.stdout.flush()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
