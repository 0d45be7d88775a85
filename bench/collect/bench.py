#!/usr/bin/env python3
"""CSV, JSON, NDJSON -> columnar table: Alambic's `collect` against pandas and DuckDB.

--format csv (the default): for each size, generates the permis exams extract
(examples/permis/generate.py: Latin-1, `;`-separated, dd/mm/yyyy dates, a decimal
comma), or reads --file (a plain UTF-8 file, `,`-separated, with a header). --format json / ndjson: generates exam records as an array of objects /
one object per line (a nested object, a date, numbers, booleans, a null now and
then), or reads --file (a file you did not make). Measures, best of --repeat runs,
wall time, MB/s and peak memory (max RSS) of:
  alambic   `alambic run` of a one-recipe flow: parse, infer types, write the
            Arrow IPC file, fsync, record it in the catalog (the whole job)
  baseline  the same with another alambic binary (--baseline: before / after a change)
  pandas    pandas.read_csv(sep=";", encoding="latin-1", decimal=",") into a
            DataFrame (parse only, no write; dates stay strings); for JSON
            pandas.read_json(lines=...) (nested objects stay dicts)
  duckdb    CREATE TABLE AS SELECT * FROM read_csv(..., encoding='latin-1',
            decimal_separator=',') (read_json(format='array' / 'newline_delimited')
            for JSON) in an in-memory DuckDB (@duckdb/node-api, 2 threads; parse
            only, no write)
and prints the ratios, with CPU time (user + system) and the 1-minute load average when
each run started: on a shared machine (load above the number of cores) compare CPU
times, wall times then mostly measure the wait for a core. Alambic does strictly more
work than both peers.

Run: bench/collect/bench.py BUILD/alambic [--sizes 1000000,10000000] [--repeat 3]
     bench/collect/bench.py BUILD/alambic --format ndjson --sizes 1000000 [--baseline OLD/alambic]
     bench/collect/bench.py BUILD/alambic --format json --file data.json
     bench/collect/bench.py BUILD/alambic --file plain.csv
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
    """Best wall time (s), its peak RSS (MiB), stdout, CPU time (user + system, s) and load
    average at its start, over `repeat` runs, via GNU time."""
    best = None
    for _ in range(repeat):
        load = os.getloadavg()[0]
        r = subprocess.run(["/usr/bin/time", "-f", "%e %M %U %S"] + cmd, cwd=cwd,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if r.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed:\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
        wall, rss_kb, user, system = r.stderr.strip().splitlines()[-1].split()
        run = (float(wall), int(rss_kb) / 1024, r.stdout, float(user) + float(system), load)
        if best is None or run[0] < best[0]:
            best = run
    return best


def write_json(path, n, lines):
    """n exam records, as an array of objects or one object per line."""
    import json
    import random
    rng = random.Random(42)
    communes = ["Besançon", "Évry", "Lyon", "Saint-Denis", "Aix-en-Provence", 'Dole "centre"']
    with open(path, "w", encoding="utf-8") as f:
        if not lines:
            f.write("[\n")
        for i in range(n):
            rec = {"exam_id": i + 1,
                   "candidate": {"id": f"K{i * 7919 % 1000000007:09d}",
                                 "commune": communes[i % len(communes)]},
                   "date": f"2025-{i % 12 + 1:02d}-{i % 28 + 1:02d}",
                   "score": round(rng.uniform(0, 40), 2),
                   "errors": rng.randint(0, 9),
                   "passed": rng.random() < 0.6,
                   "examiner": None if i % 17 == 0 else f"E{i % 500:03d}"}
            text = json.dumps(rec, ensure_ascii=False)
            if lines:
                f.write(text + "\n")
            else:
                f.write(text + (",\n" if i + 1 < n else "\n"))
        if not lines:
            f.write("]\n")


def count_rows(path, fmt):
    import json
    if fmt == "ndjson":
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    with open(path, encoding="utf-8") as f:
        return len(json.load(f))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("alambic")
    ap.add_argument("--sizes", default="1000000,10000000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--format", choices=["csv", "json", "ndjson"], default="csv")
    ap.add_argument("--file", help="read this file instead of generating one (csv: plain UTF-8, "
                    "',', a header)")
    ap.add_argument("--baseline", help="another alambic binary, measured the same way")
    a = ap.parse_args()
    alambic = os.path.abspath(a.alambic)
    binaries = {"alambic": alambic}
    if a.baseline:
        binaries["baseline"] = os.path.abspath(a.baseline)
    if not os.path.isdir(os.path.join(HERE, "node_modules")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True)
    sizes = [0] if a.file else [int(x) for x in a.sizes.split(",")]
    for n in sizes:
        work = tempfile.mkdtemp(prefix=f"alambic-bench-collect-{n}-")
        data = os.path.join(work, "data")
        if a.format == "csv" and a.file:
            src = os.path.join(data, "plain.csv")
            os.makedirs(data)
            shutil.copyfile(a.file, src)
            with open(src, "rb") as f:
                n = sum(1 for _ in f) - 1
            params = "path: data/plain.csv"
            title = f"{os.path.basename(a.file)}, {n:,} rows"
        elif a.format == "csv":
            subprocess.run([sys.executable, os.path.join(ROOT, "examples/permis/generate.py"),
                            "--exams", str(n), "--out", data], check=True)
            src = os.path.join(data, "exams.csv")
            params = 'path: data/exams.csv, delimiter: ";", encoding: latin-1'
            title = f"permis exams, {n:,} rows"
        else:
            os.makedirs(data)
            src = os.path.join(data, "exams." + a.format)
            if a.file:
                shutil.copyfile(a.file, src)
                n = count_rows(src, a.format)
                title = f"{os.path.basename(a.file)}, {n:,} rows"
            else:
                write_json(src, n, a.format == "ndjson")
                title = f"exam records ({a.format}), {n:,} rows"
            params = f"path: data/exams.{a.format}, format: {a.format}"
        mb = os.path.getsize(src) / 1e6
        with open(os.path.join(work, "alambic.yaml"), "w") as f:
            f.write("name: bench\n")
        os.makedirs(os.path.join(work, "flows"))
        with open(os.path.join(work, "flows", "collect.yaml"), "w") as f:
            f.write("flow: collect\nrecipes:\n  - name: exams\n    kind: collect\n"
                    f"    outputs: [exams]\n    params: {{{params}}}\n")
        results = {}
        # Each alambic run starts from an empty store, so it really builds.
        for name, binary in binaries.items():
            best = None
            for _ in range(a.repeat):
                shutil.rmtree(os.path.join(work, ".alambic"), ignore_errors=True)
                r = measure([binary, "run", "-j", "2"], work, 1)
                if "1 succeeded" not in r[2]:
                    sys.exit(f"{name} did not build the dataset:\n" + r[2][-2000:])
                if best is None or r[0] < best[0]:
                    best = r
            results[name] = best
        if a.format == "csv" and a.file:
            pandas_code = "import sys, pandas as pd; df = pd.read_csv(sys.argv[1]); print(len(df))"
            duck = ["node", os.path.join(HERE, "duckdb_read.mjs"), src, ","]
        elif a.format == "csv":
            pandas_code = ("import sys, pandas as pd; df = pd.read_csv(sys.argv[1], sep=';', "
                           "encoding='latin-1', decimal=','); print(len(df))")
            duck = ["node", os.path.join(HERE, "duckdb_read.mjs"), src, ";", "latin-1", ","]
        else:
            pandas_code = ("import sys, pandas as pd; df = pd.read_json(sys.argv[1], "
                           f"lines={a.format == 'ndjson'}); print(len(df))")
            duck = ["node", os.path.join(HERE, "duckdb_read.mjs"), src, "--json",
                    "array" if a.format == "json" else "newline_delimited"]
        results["pandas"] = measure([PANDAS_PY, "-c", pandas_code, src], work, a.repeat)
        results["duckdb"] = measure(duck, work, a.repeat)
        for peer in ("pandas", "duckdb"):
            assert results[peer][2].strip() == str(n), (peer, results[peer][2][-200:])
        print(f"\n== {title}, {mb:.0f} MB")
        print(f"{'tool':<8} {'wall':>8} {'MB/s':>8} {'cpu':>8} {'MB/cpu-s':>9} {'peak MiB':>9} "
              f"{'load':>5} {'speed vs alambic':>17}")
        al = results["alambic"][0]
        for tool, (wall, rss, _, cpu, load) in results.items():
            print(f"{tool:<8} {wall:>7.2f}s {mb / wall:>8.0f} {cpu:>7.2f}s {mb / cpu:>9.0f} "
                  f"{rss:>9.0f} {load:>5.1f} {al / wall:>16.2f}x")
        print(f"alambic throughput = {results['pandas'][0] / al:.2f}x pandas, "
              f"{results['duckdb'][0] / al:.2f}x DuckDB")
        sys.stdout.flush()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
