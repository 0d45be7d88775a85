#!/usr/bin/python3
"""Independent oracle for core/table/similarity: reads "a<TAB>b" lines on stdin
and prints "jaro_winkler levenshtein osa soundex_fr(a) soundex_fr(b)" per line.

Jaro-Winkler and Levenshtein come from jellyfish (Debian python3-jellyfish);
the optimal-string-alignment distance is a textbook dynamic program (jellyfish
only has the unrestricted Damerau distance); Soundex2 is a line-by-line port of
Frédéric Bouchery's PHP reference, with the same regular expressions.
"""
import re
import sys
import unicodedata

import jellyfish

jw = getattr(jellyfish, "jaro_winkler_similarity", None) or jellyfish.jaro_winkler


def osa(a, b):
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def soundex2(s):
    s = "".join(c for c in unicodedata.normalize("NFD", s) if not unicodedata.combining(c))
    s = re.sub("[^A-Z]", "", s.upper())
    if len(s) <= 1:
        return s
    for a, b in [("GUI", "KI"), ("GUE", "KE"), ("GA", "KA"), ("GO", "KO"), ("GU", "K"),
                 ("CA", "KA"), ("CO", "KO"), ("CU", "KU"), ("Q", "K"), ("CC", "K"), ("CK", "K")]:
        s = s.replace(a, b)
    s = re.sub("(?<!^)[EIOU]", "A", s)
    for pat, rep in [("^KN", "NN"), ("^(PH|PF)", "FF"), ("^MAC", "MCC"), ("^SCH", "SSS"),
                     ("^ASA", "AZA"), ("(?<!^)KN", "NN"), ("(?<!^)(PH|PF)", "FF"),
                     ("(?<!^)MAC", "MCC"), ("(?<!^)SCH", "SSS"), ("(?<!^)ASA", "AZA")]:
        s = re.sub(pat, rep, s)
    s = re.sub("(?<![CS])H", "", s)
    s = re.sub("(?<!A)Y", "", s)
    s = re.sub("[ATDS]$", "", s)
    s = re.sub("(?!^)A", "", s)
    s = re.sub(r"(.)\1", r"\1", s)
    return s[:4]


for line in sys.stdin.read().split("\n"):
    if not line:
        continue
    a, b = line.split("\t")
    print(f"{jw(a, b):.12f} {jellyfish.levenshtein_distance(a, b)} {osa(a, b)} "
          f"{soundex2(a) or '-'} {soundex2(b) or '-'}")
