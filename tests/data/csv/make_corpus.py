#!/usr/bin/env python3
"""Writes the awkward-CSV corpus: NAME.csv (the input) and NAME.json (collect
params under "options", then the expected "columns" and "rows", or the
expected "error"). Deterministic; rerun after changing a case:

    python3 tests/data/csv/make_corpus.py

A cell {"$repeat": S, "count": N} in an expected row stands for S * N (to keep
the expected file of the very long field small). "python" holds what the
oracle (tests/interop/csv_oracle.py) must pass to Python's csv module when it
differs from the options (e.g. a detected delimiter).
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
LONG = 1_200_000  # characters of the very long field (> 1 MB)


def case(name, data, expected, options=None, python=None):
    with open(os.path.join(HERE, name + ".csv"), "wb") as f:
        f.write(data)
    doc = {"options": options or {}}
    if python:
        doc["python"] = python
    doc.update(expected)
    with open(os.path.join(HERE, name + ".json"), "w", encoding="utf-8") as f:
        text = json.dumps(doc, ensure_ascii=False, indent=1)
        f.write(text + "\n")


def ok(columns, rows):
    return {"columns": [list(c) for c in columns], "rows": rows}


case("quoting",
     b'id,text,note\n1,"a,b",plain\n2,"say ""hi""",x\n3,"ab"c,"""quoted"""\n4,,""\n',
     ok([("id", "int64"), ("text", "utf8"), ("note", "utf8")],
        [[1, "a,b", "plain"], [2, 'say "hi"', "x"], [3, "abc", '"quoted"'], [4, None, None]]))

case("newlines_in_fields",
     b'id,address,city\r\n1,"12 rue Haute\r\nB\xc3\xa2t. A",Lyon\r\n2,"line1\nline2\nline3",Paris\r\n3,simple,Nice\r\n',
     ok([("id", "int64"), ("address", "utf8"), ("city", "utf8")],
        [[1, "12 rue Haute\r\nBât. A", "Lyon"], [2, "line1\nline2\nline3", "Paris"],
         [3, "simple", "Nice"]]))

case("bom",
     "\ufeffcommune,population\nÉvry,53000\nSaint-Étienne,172000\n".encode("utf-8"),
     ok([("commune", "utf8"), ("population", "int64")],
        [["Évry", 53000], ["Saint-Étienne", 172000]]),
     python={"encoding": "utf-8-sig"})

case("latin1",
     "nom;commune;département\nLefèvre;Besançon;25\nNoël;Châlons;51\nGarçon;Orléans;45\n".encode("latin-1"),
     ok([("nom", "utf8"), ("commune", "utf8"), ("département", "int64")],
        [["Lefèvre", "Besançon", 25], ["Noël", "Châlons", 51], ["Garçon", "Orléans", 45]]),
     options={"encoding": "latin-1", "delimiter": ";"})

case("windows1252",
     "id;label\n1;“guillemets” – €\n2;Œuvre\n".encode("cp1252"),
     ok([("id", "int64"), ("label", "utf8")], [[1, "“guillemets” – €"], [2, "Œuvre"]]),
     options={"encoding": "windows-1252"}, python={"delimiter": ";"})

case("semicolon_decimal_comma",
     b"code_insee;dep;score;duree;taux\n01001;01;12,5;45;0,75\n2A004;2A;-3,25;30;1\n75056;75;7;60;0,5\n",
     ok([("code_insee", "utf8"), ("dep", "utf8"), ("score", "float64"), ("duree", "int64"),
         ("taux", "float64")],
        [["01001", "01", 12.5, 45, 0.75], ["2A004", "2A", -3.25, 30, 1.0],
         ["75056", "75", 7.0, 60, 0.5]]),
     python={"delimiter": ";"})

case("french_dates",
     b"exam_id\tdate_examen\tcreated\tmixed\n1\t31/01/2024\t2024-01-31\t31/01/2024\n"
     b"2\t29/02/2024\t2024-02-29\t2024-02-29\n3\t01/12/2023\t2023-12-01\t01/12/2023\n",
     ok([("exam_id", "int64"), ("date_examen", "date32"), ("created", "date32"),
         ("mixed", "utf8")],
        [[1, "2024-01-31", "2024-01-31", "31/01/2024"], [2, "2024-02-29", "2024-02-29", "2024-02-29"],
         [3, "2023-12-01", "2023-12-01", "01/12/2023"]]),
     python={"delimiter": "\t"})

case("date_format_schema",
     b"id;jour;heure\n1;2024.01.31;31/01/2024 08:30\n2;2024.02.01;01/02/2024 17:05\n",
     ok([("id", "int64"), ("jour", "date32"), ("heure", "timestamp")],
        [[1, "2024-01-31", "2024-01-31T08:30:00Z"], [2, "2024-02-01", "2024-02-01T17:05:00Z"]]),
     options={"delimiter": ";", "date_format": "%Y.%m.%d",
              "schema": {"heure": {"type": "timestamp", "format": "%d/%m/%Y %H:%M"}}})

case("ragged",
     b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n",
     {"error": "ragged.csv:4: expected 3 fields, found 4"})

case("ragged_after_multiline",
     b'a,b\n1,"x\ny"\n2\n',
     {"error": "ragged_after_multiline.csv:4: expected 2 fields, found 1"})

case("unterminated_quote",
     b'a,b\n1,ok\n2,"never closed\n3,x\n',
     {"error": "unterminated_quote.csv:3: unterminated quoted field"})

# Invalid UTF-8 is an error only when the encoding is given as utf-8; without it the
# encoding is detected (windows-1252 here).
case("invalid_utf8",
     b"nom,ville\nA,Paris\nB,Besan\xe7on\n",
     {"error": "invalid_utf8.csv:3: invalid UTF-8 (byte 0xE7); if the file is Latin-1 or "
               "Windows-1252, give its encoding"},
     options={"encoding": "utf-8"})

case("detected_windows1252",
     "nom,ville\nA,Paris\nB,Besançon\nC,“Œuvre” – 5 €\n".encode("cp1252"),
     ok([("nom", "utf8"), ("ville", "utf8")],
        [["A", "Paris"], ["B", "Besançon"], ["C", "“Œuvre” – 5 €"]]),
     python={"encoding": "cp1252"})

case("empty", b"", {"error": "empty.csv: the file is empty"})

case("header_only",
     b"id;nom;date\n",
     ok([("id", "utf8"), ("nom", "utf8"), ("date", "utf8")], []),
     python={"delimiter": ";"})

case("one_column",
     b"value\n1\n\n2\n3\n",
     ok([("value", "int64")], [[1], [2], [3]]))

long_field = b"ab" * (LONG // 2)
case("long_field",
     b"id,blob,tail\n1," + long_field + b",end\n2,\"" + long_field + b"\",fin\n",
     ok([("id", "int64"), ("blob", "utf8"), ("tail", "utf8")],
        [[1, {"$repeat": "ab", "count": LONG // 2}, "end"],
         [2, {"$repeat": "ab", "count": LONG // 2}, "fin"]]))

# 1,200 rows; the type of two columns changes after row 1,000.
lines = ["id,code,amount"]
rows = []
for i in range(1, 1201):
    code = str(i) if i != 1001 else "A1001"
    amount = str(i * 2) if i <= 1000 else f"{i}.5"
    lines.append(f"{i},{code},{amount}")
    rows.append([i, code, float(amount)])
case("type_change_after_1000_rows",
     ("\n".join(lines) + "\n").encode(),
     ok([("id", "int64"), ("code", "utf8"), ("amount", "float64")], rows))
