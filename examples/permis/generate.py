#!/usr/bin/env python3
"""Deterministic generator of driving-licence exam data for the permis example.

Writes data/centres.csv (exam centres with their département; UTF-8) and
data/exams.csv, shaped like the ministry's extracts: Latin-1, `;`-separated,
dates as dd/mm/yyyy, a decimal comma in the score, accented town names, and
licence categories typed by hand (" b", "B ", "a2"). One row per exam: exam
id, candidate id (a personal identifier the flow pseudonymises), centre, date,
category, the candidate's town, score, duration and result. A handful of
centres get a suspiciously high success rate: the anomaly the example's flow
surfaces. Same arguments, same bytes.

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
# Candidates' towns: accents that only survive if the file is read as Latin-1.
COMMUNES = ["Besançon", "Orléans", "Châlons-en-Champagne", "Évreux", "Sète", "Montélimar",
            "Fougères", "Pontoise", "Nîmes", "Béziers", "Saint-Étienne", "Mâcon", "Lyon", "Paris",
            "Créteil", "Cergy", "Nanterre", "Brest", "Salon-de-Provence", "Aïn-Séfra"]
CATEGORIES = [("B", 0.80), ("A", 0.08), ("A2", 0.05), ("C", 0.03), ("D", 0.02), ("BE", 0.02)]
# How a category is typed in the extract: its code, lower case, with stray spaces.
SPELLINGS = ["{}", "{}", "{}", "{} ", " {}", "{l}", "{l} "]


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
    with open(os.path.join(args.out, "exams.csv"), "w", encoding="latin-1", newline="") as f:
        f.write("exam_id;candidate_id;centre_id;exam_date;category;commune;score;duration_min;"
                "result\n")
        lines = []
        for i in range(args.exams):
            c = centres[rng.randrange(len(centres))]
            day = start + datetime.timedelta(days=rng.randrange(364))
            cat = rng.choices(cats, weights)[0]
            typed = rng.choice(SPELLINGS).format(cat, l=cat.lower())
            commune = COMMUNES[rng.randrange(len(COMMUNES))]
            passed = rng.random() < c[4]
            # Score out of 31 in half points (pass at 20 or more), a decimal comma.
            half_points = rng.randrange(40, 63) if passed else rng.randrange(10, 40)
            score = f"{half_points // 2},{5 if half_points % 2 else 0}"
            duration = rng.randrange(25, 36)
            result = "reussite" if passed else "echec"
            lines.append(f"{i + 1};K{rng.randrange(10**9):09d};{c[0]};{day:%d/%m/%Y};{typed};"
                         f"{commune};{score};{duration};{result}\n")
            if len(lines) == 100000:
                f.writelines(lines)
                lines.clear()
        f.writelines(lines)


if __name__ == "__main__":
    main()
