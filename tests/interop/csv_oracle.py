#!/usr/bin/env python3
"""CSV oracle (CTest: csv_oracle_python): Python's csv module, an independent
reader, must see the same cells as ours in every case of the corpus.

    tests/interop/csv_oracle.py PATH/TO/alambic_csv_tool [CORPUS_DIR]

For each tests/data/csv/NAME.csv, Python decodes the file with the case's
encoding, splits it with csv.reader (strict, the case's delimiter), drops
blank lines, and converts each raw cell with the type our reader inferred; the
values must equal ours, and the header our column names. For cases we reject,
Python must fail too (or find the ragged record), on the line we name.
"""
import csv
import datetime
import json
import os
import subprocess
import sys

csv.field_size_limit(1 << 30)  # the corpus has fields over 1 MB
NULL_MARKERS = {"NA", "N/A", "NULL", "null", "NaN", "nan"}
ENCODINGS = {"utf-8": "utf-8", "latin-1": "latin-1", "windows-1252": "cp1252"}


def fail(name, msg):
    print(f"csv_oracle_python: FAIL: {name}: {msg}")
    return 1


def parse_date(raw, fmt):
    try:
        return datetime.date.fromisoformat(raw)
    except ValueError:
        return datetime.datetime.strptime(raw, fmt).date()


def parse_timestamp(raw, fmt):
    try:
        return datetime.datetime.fromisoformat(raw)
    except ValueError:
        return datetime.datetime.strptime(raw, fmt)


def expected_value(raw, ctype, column, options):
    """Python's own reading of a raw cell as the type we inferred."""
    if "null_values" in options:
        if raw in options["null_values"]:
            return None
    elif raw == "" or (ctype != "utf8" and raw in NULL_MARKERS):
        # Default markers are nulls in a typed column, text in a text column.
        return None
    schema = options.get("schema", {}).get(column)
    fmt = options.get("date_format", "%d/%m/%Y")
    if isinstance(schema, dict) and "format" in schema:
        fmt = schema["format"]
    if ctype == "int64":
        return int(raw)
    if ctype == "float64":
        return float(raw.replace(",", ".") if "." not in raw else raw)
    if ctype == "bool":
        return raw.lower() == "true"
    if ctype == "date32":
        return parse_date(raw, fmt).isoformat()
    if ctype == "timestamp":
        return parse_timestamp(raw, fmt).strftime("%Y-%m-%dT%H:%M:%SZ")
    return raw


def python_rows(path, options, hints, strict=True):
    encoding = hints.get("encoding") or ENCODINGS[options.get("encoding", "utf-8")]
    delimiter = hints.get("delimiter") or options.get("delimiter", ",")
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    rows = []
    with open(path, encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, strict=strict)
        for row in reader:
            if row:  # csv gives [] for a blank line; we skip blank lines too
                rows.append((reader.line_num, row))
    return rows


def check_error(name, path, options, hints, error):
    line = None
    try:
        rows = python_rows(path, options, hints)
    except UnicodeDecodeError as e:
        with open(path, "rb") as f:
            line = f.read()[: e.start].count(b"\n") + 1
        rows = None
    except csv.Error:
        rows = None  # Python rejects the file as well (e.g. an unterminated quote)
    if rows is not None:
        if not rows:
            if "empty" not in error:
                return fail(name, f"Python reads no rows, we say {error!r}")
            return 0
        width = len(rows[0][1])
        ragged = [(n, r) for n, r in rows if len(r) != width]
        if not ragged:
            return fail(name, f"Python reads the file without error, we say {error!r}")
        end_line, row = ragged[0]
        line = end_line - sum(cell.count("\n") for cell in row)
        if f"expected {width} fields, found {len(row)}" not in error:
            return fail(name, f"Python finds {len(row)} fields for {width}: {error!r}")
    if line is not None and f"{name}.csv:{line}:" not in error:
        return fail(name, f"Python places the problem on line {line}, we say {error!r}")
    return 0


def check_case(tool, corpus, name):
    with open(os.path.join(corpus, name + ".json"), encoding="utf-8") as f:
        spec = json.load(f)
    options, hints = spec.get("options", {}), spec.get("python", {})
    out = subprocess.run([tool, corpus, name], check=True, capture_output=True, text=True)
    ours = json.loads(out.stdout)
    path = os.path.join(corpus, name + ".csv")
    if "error" in ours:
        return check_error(name, path, options, hints, ours["error"])
    try:
        rows = python_rows(path, options, hints)
    except csv.Error:
        # Text after a closing quote ("ab"c): strict mode refuses it; we, like Python's
        # default mode, keep it as text.
        rows = python_rows(path, options, hints, strict=False)
    header = [c[0] for c in ours["columns"]]
    if rows[0][1] != header:
        return fail(name, f"header {rows[0][1]!r} != our columns {header!r}")
    body = [r for _, r in rows[1:]]
    if len(body) != len(ours["rows"]):
        return fail(name, f"{len(body)} rows in Python, {len(ours['rows'])} in ours")
    for i, (raw_row, our_row) in enumerate(zip(body, ours["rows"])):
        if len(raw_row) != len(our_row):
            return fail(name, f"row {i}: {len(raw_row)} cells in Python, {len(our_row)} in ours")
        for (column, ctype), raw, ours_cell in zip(ours["columns"], raw_row, our_row):
            want = expected_value(raw, ctype, column, options)
            if want != ours_cell:
                shown = raw if len(raw) < 80 else raw[:80] + "..."
                return fail(name, f"row {i} column {column}: Python {shown!r} as {ctype} "
                                  f"is {str(want)[:80]!r}, ours {str(ours_cell)[:80]!r}")
    return 0


def main():
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    tool = sys.argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    corpus = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "data", "csv")
    names = sorted(n[:-4] for n in os.listdir(corpus)
                   if n.endswith(".csv") and os.path.exists(os.path.join(corpus, n[:-4] + ".json")))
    if not names:
        return fail("corpus", f"no cases in {corpus}")
    failures = sum(check_case(tool, corpus, n) for n in names)
    print(f"csv_oracle_python: {len(names) - failures} of {len(names)} cases agree with Python's csv")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
