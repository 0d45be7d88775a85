#!/usr/bin/env python3
"""Deterministic generator of driving-licence exam data for the permis example.

Writes data/centres.csv (exam centres with their département) and
data/exams.csv (one row per exam: exam id, pseudonymous-looking candidate id,
centre, date, licence category, result), `;`-separated like the ministry's
extracts. A handful of centres get a suspiciously high success rate: the
anomaly the example's flow surfaces. Same arguments, same bytes.

    ./generate.py                  # the committed sample (20,000 exams)
    ./generate.py --exams 20000000 --out /tmp/permis-big   # benchmark size
"""
import argparse
import datetime
import os
import random

DEPARTEMENTS = ["01", "02", "06", "13", "14", "21", "29", "2A", "2B", "31", "33", "34", "35", "38",
                "44", "59", "62", "67", "69", "75", "76", "77", "78", "83", "91", "92", "93", "94",
                "95", "971", "974"]
TOWNS = ["Bourg-en-Bresse", "Laon", "Nice", "Marseille", "Caen", "Dijon", "Brest", "Ajaccio", "Bastia",
         "Toulouse", "Bordeaux", "Montpellier", "Rennes", "Grenoble", "Nantes", "Lille", "Arras",
         "Strasbourg", "Lyon", "Paris", "Rouen", "Melun", "Versailles", "Toulon", "Évry", "Nanterre",
         "Bobigny", "Créteil", "Cergy", "Pointe-à-Pitre", "Saint-Denis"]
CATEGORIES = [("B", 0.80), ("A", 0.08), ("A2", 0.05), ("C", 0.03), ("D", 0.02), ("BE", 0.02)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--exams", type=int, default=20000)
    ap.add_argument("--centres", type=int, default=180)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)

    centres = []
    for i in range(args.centres):
        d = i % len(DEPARTEMENTS)
        centre_id = f"CE{DEPARTEMENTS[d].zfill(3)}{i:04d}"
        name = f"Centre d'examen {TOWNS[d]} {i // len(DEPARTEMENTS) + 1}"
        base = rng.uniform(0.45, 0.65)
        suspicious = i % 61 == 7  # a few centres pass nearly everyone
        centres.append((centre_id, name, DEPARTEMENTS[d], TOWNS[d], 0.93 if suspicious else base))
    with open(os.path.join(args.out, "centres.csv"), "w", encoding="utf-8", newline="") as f:
        f.write("centre_id;name;departement;commune\n")
        for c in centres:
            f.write(f"{c[0]};\"{c[1]}\";{c[2]};{c[3]}\n")

    start = datetime.date(2025, 1, 6)
    cats = [c for c, _ in CATEGORIES]
    weights = [w for _, w in CATEGORIES]
    with open(os.path.join(args.out, "exams.csv"), "w", encoding="utf-8", newline="") as f:
        f.write("exam_id;candidate_id;centre_id;exam_date;category;result\n")
        lines = []
        for i in range(args.exams):
            c = centres[rng.randrange(len(centres))]
            day = start + datetime.timedelta(days=rng.randrange(364))
            cat = rng.choices(cats, weights)[0]
            result = "reussite" if rng.random() < c[4] else "echec"
            lines.append(f"{i + 1};K{rng.randrange(10**9):09d};{c[0]};{day.isoformat()};{cat};{result}\n")
            if len(lines) == 100000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)


if __name__ == "__main__":
    main()
