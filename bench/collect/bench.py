#!/usr/bin/env python3
"""CSV -> columnar table: Alambic's `collect` against pandas and DuckDB.

For each size, generates the permis exams extract (examples/permis/generate.py:
Latin-1, `;`-separated, dd/mm/yyyy dates, a decimal comma) and measures, best of --repeat runs, wall time, MB/s and peak
memory (max RSS) of:
  alambic   `alambic run` of a one-recipe flow: parse, infer types, write the
            Arrow IPC file, fsync, record it in the catalog (the whole job)
  pandas    pandas.read_csv(sep=";", encoding="latin-1", decimal=",") into a
            DataFrame (parse only, no write; dates stay strings)
  duckdb    CREATE TABLE AS SELECT * FROM read_csv(..., encoding='latin-1',
            decimal_separator=',') in an in-memory DuckDB (@duckdb/node-api,
            2 threads; parse only, no write)
and prints the ratios. Alambic does strictly more work than both peers.

Run: bench/collect/bench.py BUILD/alambic [--sizes 1000000,10000000] [--repeat 3]
Needs: python3-pandas (Debian, for /usr/bin/python3), `npm ci` in bench/collect.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PANDAS_PY = "/usr/bin/python3"  # Debian's python3-pandas


def measure(cmd, cwd, repeat):
    """Best wall time (s) and its peak RSS (MiB) over `repeat` runs, via GNU time."""
    best = None
    for _ in range(repeat):
        r = subprocess.run(["/usr/bin/time", "-f", "%e %M"] + cmd, cwd=cwd,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        wall, rss_kb = r.stderr.strip().splitlines()[-1].split()
        run = (float(wall), int(rss_kb) / 1024, r.stdout)
        if best is None or run[0] < best[0]:
            best = run
    return best


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("alambic")
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    alambic = os.path.abspath(a.alambic)
    if not os.path.isdir(os.path.join(HERE, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    for n in [int(x) for x in a.sizes.split(",")]:
        work = tempfile.mkdtemp(prefix=f"alambic-bench-collect-{n}-")
        data = os.path.join(work, "data")
        subprocess.run([sys.executable, os.path.join(ROOT, "examples/permis/generate.py"),
                        "--exams", str(n), "--out", data], check=True)
        csv = os.path.join(data, "exams.csv")
        mb = os.path.getsize(csv) / 1e6
        with open(os.path.join(work, "alambic.yaml"), "w") as f:
            f.write("name: bench\n")
        os.makedirs(os.path.join(work, "flows"))
        with open(os.path.join(work, "flows", "collect.yaml"), "w") as f:
            f.write("flow: collect\nrecipes:\n  - name: exams\n    kind: collect\n"
                    "    outputs: [exams]\n    params: {path: data/exams.csv, delimiter: \";\", "
                    "encoding: latin-1}\n")
        results = {}
        # Each alambic run starts from an empty store, so it really builds.
        def alambic_run():
            shutil.rmtree(os.path.join(work, ".alambic"), ignore_errors=True)
            return [alambic, "run", "-j", "2"]
        best = None
        for _ in range(a.repeat):
            r = measure(alambic_run(), work, 1)
            if "1 succeeded" not in r[2]:
                sys.exit("alambic did not build the dataset:\n" + r[2][-2000:])
            if best is None or r[0] < best[0]:
                best = r
        results["alambic"] = best
        pandas_code = ("import sys, pandas as pd; df = pd.read_csv(sys.argv[1], sep=';', "
                       "encoding='latin-1', decimal=','); print(len(df))")
        results["pandas"] = measure([PANDAS_PY, "-c", pandas_code, csv], work, a.repeat)
        results["duckdb"] = measure(
            ["node", os.path.join(HERE, "duckdb_read.mjs"), csv, ";", "latin-1", ","], work,
            a.repeat)
        for peer in ("pandas", "duckdb"):
            assert results[peer][2].strip() == str(n), (peer, results[peer][2][-200:])
        print(f"\n== permis exams, {n:,} rows, {mb:.0f} MB")
        print(f"{'tool':<8} {'wall':>8} {'MB/s':>8} {'peak MiB':>9} {'speed vs alambic':>17}")
        al = results["alambic"][0]
        for tool, (wall, rss, _) in results.items():
            print(f"{tool:<8} {wall:>7.2f}s {mb / wall:>8.0f} {rss:>9.0f} {al / wall:>16.2f}x")
        print(f"alambic throughput = {results['pandas'][0] / al:.2f}x pandas, "
              f"{results['duckdb'][0] / al:.2f}x DuckDB")
        sys.stdout.flush()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
