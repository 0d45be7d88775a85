#!/usr/bin/env python3
"""Precision and recall of the matches against the generator's ground truth.

    ./evaluate.py MATCHES_CSV [GROUND_TRUTH_CSV] [--min 0.95]

MATCHES_CSV is the `matches` dataset exported as CSV (`alambic export matches
--csv matches.csv`), with the person id in `id` and the death record id in
`id_deces`. Prints precision, recall and F1; exits 1 when --min is given and
precision or recall is below it.
"""
import argparse
import csv
import os
import sys


def read_pairs(path, left, right, delimiter):
    with open(path, newline="", encoding="utf-8") as f:
        return {(r[left], r[right]) for r in csv.DictReader(f, delimiter=delimiter)}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("matches")
    ap.add_argument("truth", nargs="?", default=os.path.join(here, "data", "ground_truth.csv"))
    ap.add_argument("--min", type=float, default=None)
    args = ap.parse_args()
    found = read_pairs(args.matches, "id", "id_deces", ",")
    truth = read_pairs(args.truth, "person_id", "death_id", ";")
    tp = len(found & truth)
    precision = tp / len(found) if found else 0.0
    recall = tp / len(truth) if truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if tp else 0.0
    print(f"matches {len(found)}  true {len(truth)}  correct {tp}")
    print(f"precision {precision:.4f}  recall {recall:.4f}  f1 {f1:.4f}")
    if args.min is not None and (precision < args.min or recall < args.min):
        print(f"FAIL: precision or recall below {args.min}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
