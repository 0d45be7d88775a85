#!/usr/bin/python3
"""A small civil register through collect, fuzzy_join and join, checked against
an independent computation (jellyfish for Jaro-Winkler, the date rules of
docs/recipes.md written out here).

Usage: matching_register.py ALAMBIC

The register has unknown dates (00/00/yyyy, 00/mm/yyyy, 13/00/yyyy),
punctuated names (M'RAD / M RAD, BONNET-EYMARD / BONNET EYMARD) and ties (a
death record given twice). Checked: the nulls of collect's `on_error: null`
and the rows of `on_error: reject`; fuzzy_join's pairs, scores and ranks with
`keep: all` and `keep: {top: 2}`, and `right_row`; join with `normalize: name`
pairs the same names as fuzzy_join's normalisation.
"""
import csv
import datetime
import os
import re
import subprocess
import sys
import tempfile
import unicodedata

import jellyfish

ALAMBIC = os.path.abspath(sys.argv[1])
jw = getattr(jellyfish, "jaro_winkler_similarity", None) or jellyfish.jaro_winkler

PEOPLE = [  # id, nom, prenom, naissance
    ("P1", "M'RAD", "ALI", "12/03/1950"),
    ("P2", "BONNET-EYMARD", "JEANNE", "00/00/1952"),
    ("P3", "DUPONT", "PIERRE", "00/05/1950"),
    ("P4", "MARTIN", "PAUL", "13/00/1952"),
    ("P5", "LEROY", "CLAIRE", "24/06/1950"),
    ("P6", "Bonnet Eymard", "Jeanne", "15/08/1952"),
    ("P7", "Nobody", "Known", "27/11/1975"),
]
DEATHS = [
    ("D1", "M RAD", "ALI", "12/03/1950"),
    ("D2", "BONNET EYMARD", "JEANNE", "17/09/1952"),
    ("D3", "DUPONT", "PIERRE", "14/05/1950"),
    ("D4", "DUPONT", "PIERRE", "14/05/1950"),  # the same record twice: a tie
    ("D5", "MARTIN", "PAUL", "00/00/1952"),
    ("D6", "LEROI", "CLAIRE", "24/06/1950"),
    ("D7", "MRAD", "ALI", "00/03/1950"),
    ("D8", "BONNET-EYMARD", "JEAN", "15/08/1952"),
    ("D9", "MARTIN", "PAULE", "12/10/1952"),
    ("D10", "DUPONT", "PIERRE", "00/05/1950"),  # a third equal score for P3
]
WEIGHTS = {"nom": 2, "prenom": 1, "naissance": 2}
THRESHOLD = 0.75

FLOW = """flow: register
recipes:
  - {name: collect_people, kind: collect, outputs: [people],
     params: {path: data/people.csv, delimiter: ";", schema: {naissance: utf8}}}
  - {name: collect_deaths, kind: collect, outputs: [deaths],
     params: {path: data/deaths.csv, delimiter: ";", schema: {naissance: utf8}}}
  - {name: collect_people_typed, kind: collect, outputs: [people_typed],
     params: {path: data/people.csv, delimiter: ";",
              schema: {naissance: {type: date, format: "%d/%m/%Y", on_error: null}}}}
  - {name: collect_deaths_typed, kind: collect, outputs: [deaths_typed, deaths_rejects],
     params: {path: data/deaths.csv, delimiter: ";",
              schema: {naissance: {type: date, format: "%d/%m/%Y", on_error: reject}}}}
  - name: match_all
    kind: fuzzy_join
    inputs: [people, deaths]
    outputs: [pairs_all]
    params:
      fields:
        - {left: nom, comparator: jaro_winkler, weight: 2}
        - {left: prenom, comparator: jaro_winkler, weight: 1}
        - {left: naissance, comparator: date, weight: 2}
      blocking: [[year(naissance)]]
      threshold: 0.75
      keep: all
      right_row: right_row
  - name: match_top2
    kind: fuzzy_join
    inputs: [people, deaths]
    outputs: [pairs_top2, people_unmatched]
    params:
      fields:
        - {left: nom, comparator: jaro_winkler, weight: 2}
        - {left: prenom, comparator: jaro_winkler, weight: 1}
        - {left: naissance, comparator: date, weight: 2}
      blocking: [[year(naissance)]]
      threshold: 0.75
      keep: {top: 2}
      right_row: right_row
  - name: same_names_join
    kind: join
    inputs: [people, deaths]
    outputs: [same_names_join]
    params: {on: nom, normalize: name}
  - name: same_names_fuzzy
    kind: fuzzy_join
    inputs: [people, deaths]
    outputs: [same_names_fuzzy]
    params:
      fields: [{left: nom, comparator: exact}]
      blocking: [[nom]]
      threshold: 1
      keep: all
"""


def norm(s):
    """fuzzy_join's normal form, as docs/recipes.md says it."""
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    s = re.sub(r"[-'.,_]", " ", s.upper())
    return " ".join(s.split())


def parse(d):
    """(day, month, year) with None for unknown; a day without its month is ignored."""
    day, month, year = (int(x) for x in d.split("/"))
    month = month if 1 <= month <= 12 else None
    day = day if day and month else None
    return day, month, year


def date_sim(a, b):
    """The date comparator for the cases this register holds (no 01 placeholders,
    no swapped day and month, one year per block)."""
    (d1, m1, y1), (d2, m2, y2) = parse(a), parse(b)
    assert 1 not in (d1, d2, m1, m2), "the oracle does not model 01 placeholders"
    if y1 != y2:
        return 0.0
    if d1 and d2 and (d1, m1) == (d2, m2):
        return 1.0
    if m1 and m2 and m1 == m2 and not (d1 and d2):
        return 0.85
    if not (m1 and m2):
        return 0.8
    return 0.0


def expected_pairs():
    """Per left row, the right rows scoring >= THRESHOLD among those of the same
    year, best first, ties in right row order: [(left id, right id, right row,
    rank, score)]."""
    out = []
    for p in PEOPLE:
        found = []
        for row, d in enumerate(DEATHS, start=1):
            if parse(p[3])[2] != parse(d[3])[2]:
                continue  # not in the same block
            sims = {"nom": jw(norm(p[1]), norm(d[1])), "prenom": jw(norm(p[2]), norm(d[2])),
                    "naissance": date_sim(p[3], d[3])}
            score = sum(WEIGHTS[f] * s for f, s in sims.items()) / sum(WEIGHTS.values())
            if score >= THRESHOLD:
                found.append((-score, row, d[0], sims))
        found.sort(key=lambda t: (t[0], t[1]))
        for rank, (neg, row, did, sims) in enumerate(found, start=1):
            out.append((p[0], did, row, rank, -neg, sims))
    return out


def sh(ws, *args):
    r = subprocess.run([ALAMBIC, *args], cwd=ws, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"alambic {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r.stdout


def rows(ws, dataset):
    sh(ws, "export", dataset, "--csv", f"out/{dataset}.csv")
    with open(os.path.join(ws, "out", f"{dataset}.csv"), newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


failures = []


def check(what, got, want):
    if got != want:
        failures.append(f"{what}:\n  got  {got}\n  want {want}")


with tempfile.TemporaryDirectory() as tmp:
    sh(tmp, "init", "ws")
    ws = os.path.join(tmp, "ws")
    for name, data in (("people", PEOPLE), ("deaths", DEATHS)):
        with open(os.path.join(ws, "data", f"{name}.csv"), "w", encoding="utf-8") as f:
            f.write("id;nom;prenom;naissance\n")
            f.writelines(";".join(r) + "\n" for r in data)
    with open(os.path.join(ws, "flows", "register.yaml"), "w", encoding="utf-8") as f:
        f.write(FLOW)
    sh(ws, "run")

    def valid(d):
        try:
            datetime.datetime.strptime(d, "%d/%m/%Y")
            return True
        except ValueError:
            return False

    # collect: on_error null keeps every record, the unknown dates as nulls.
    typed = rows(ws, "people_typed")
    check("people_typed rows", len(typed), len(PEOPLE))
    check("people_typed nulls", sorted(r["id"] for r in typed if r["naissance"] == ""),
          sorted(p[0] for p in PEOPLE if not valid(p[3])))
    # on_error reject: the records left out, with their line and text.
    kept = rows(ws, "deaths_typed")
    check("deaths_typed ids", [r["id"] for r in kept], [d[0] for d in DEATHS if valid(d[3])])
    rejects = rows(ws, "deaths_rejects")
    check("deaths_rejects", [(r["line"], r["record"]) for r in rejects],
          [(str(i + 2), ";".join(d)) for i, d in enumerate(DEATHS) if not valid(d[3])])

    want = expected_pairs()
    for dataset, top in (("pairs_all", None), ("pairs_top2", 2)):
        got = rows(ws, dataset)
        w = [t for t in want if top is None or t[3] <= top]
        check(f"{dataset} pairs", [(r["id"], r["id_right"], int(r["right_row"]),
                                    int(r["rank"])) for r in got],
              [t[:4] for t in w])
        for r, t in zip(got, w):
            if abs(float(r["score"]) - t[4]) > 1e-9:
                failures.append(f"{dataset} {t[0]}/{t[1]}: score {r['score']}, want {t[4]}")
            for field, sim in t[5].items():
                if abs(float(r["sim_" + field]) - sim) > 1e-9:
                    failures.append(f"{dataset} {t[0]}/{t[1]}: sim_{field} "
                                    f"{r['sim_' + field]}, want {sim}")
            # right_row is the right record's row: its id is the one at that row.
            if DEATHS[int(r["right_row"]) - 1][0] != r["id_right"]:
                failures.append(f"{dataset}: right_row {r['right_row']} is not {r['id_right']}")
    # The partial dates scored as documented, not as exact dates.
    partial = {(t[0], t[1]): t[5]["naissance"] for t in want}
    check("partial-date scores",
          [partial.get(k) for k in (("P3", "D3"), ("P2", "D2"), ("P4", "D5"), ("P1", "D7"))],
          [0.85, 0.8, 0.8, 0.85])
    unmatched = rows(ws, "people_unmatched")
    check("unmatched", [r["id"] for r in unmatched],
          [p[0] for p in PEOPLE if not any(t[0] == p[0] for t in want)])

    # join normalize: name pairs exactly the names fuzzy_join finds equal.
    names = sorted((p[0], d[0]) for p in PEOPLE for d in DEATHS if norm(p[1]) == norm(d[1]))
    check("join normalize: name", sorted((r["id"], r["id_right"])
                                         for r in rows(ws, "same_names_join")), names)
    check("fuzzy_join exact nom", sorted((r["id"], r["id_right"])
                                         for r in rows(ws, "same_names_fuzzy")), names)
    assert ("P1", "D1") in names and ("P2", "D2") in names and ("P6", "D8") in names

for f in failures:
    print(f)
print(f"{len(want)} pairs checked; {len(failures)} failures")
sys.exit(1 if failures else 0)
