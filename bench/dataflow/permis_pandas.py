#!/usr/bin/python3
"""The permis flow written as the pandas script it replaces (the peer of
bench/dataflow/permis.py): the same steps as examples/permis/flows/permis.yaml,
each intermediate dataset persisted (pickle, pandas' fastest binary format).

    permis_pandas.py DATA_DIR KEY_FILE OUT_DIR
Prints the number of flagged centres.
"""
import hashlib
import hmac
import os
import sys

import pandas as pd

data, key_file, out = sys.argv[1:4]
key = open(key_file, "rb").read().rstrip(b"\n")
os.makedirs(out, exist_ok=True)


def save(df, name):
    df.to_pickle(os.path.join(out, name + ".pkl"))
    return df


def require(ok, what):
    if not ok:
        sys.exit(f"check failed: {what}")


# collect_exams: Latin-1, ';', dd/mm/yyyy, decimal comma.
exams_raw = pd.read_csv(os.path.join(data, "exams.csv"), sep=";", encoding="latin-1",
                        decimal=",", dtype={"candidate_id": str, "centre_id": str})
exams_raw["exam_date"] = pd.to_datetime(exams_raw["exam_date"], format="%d/%m/%Y")
save(exams_raw, "exams_raw")

# clean_exams: trim + upper the category, HMAC-SHA256 pseudonyms.
exams = exams_raw.copy()
exams["category"] = exams["category"].str.strip().str.upper()
exams["candidate_id"] = [hmac.new(key, c.encode(), hashlib.sha256).hexdigest()
                         for c in exams["candidate_id"]]
save(exams, "exams")

# check_exams
require(len(exams) >= 1, "row_count")
require(not exams[["exam_id", "candidate_id", "centre_id", "exam_date", "result"]]
        .isna().any().any(), "not_null")
require(exams["exam_id"].is_unique, "unique exam_id")
require(exams["category"].isin(["B", "A", "A2", "C", "D", "BE"]).all(), "category values")
require(exams["result"].isin(["reussite", "echec"]).all(), "result values")
require(exams["score"].between(0, 31).all(), "score range")
require(exams["candidate_id"].str.fullmatch("[0-9a-f]{64}").all(), "pseudonymised")
exams_checked = save(exams, "exams_checked")

# exam_features
enriched = exams_checked.copy()
enriched["exam_year"] = enriched["exam_date"].dt.year
enriched["exam_month"] = enriched["exam_date"].dt.month
enriched["high_score"] = enriched["score"] >= 26
save(enriched, "exams_enriched")

# collect_centres
centres = save(pd.read_csv(os.path.join(data, "centres.csv"), sep=";",
                           dtype={"departement": str, "centre_id": str}), "centres")

# locate_exams
located = save(enriched.merge(centres, on="centre_id", how="inner", suffixes=("", "_centre")),
               "exams_located")
located["ok"] = located["result"] == "reussite"

# centre_rates, departement_rates
centre_rates = save(located.groupby(["centre_id", "name", "departement"], sort=True).agg(
    exams=("ok", "size"), passed=("ok", "sum"), success_rate=("ok", "mean"),
    mean_score=("score", "mean")).reset_index(), "centre_rates")
departement_rates = save(located.groupby("departement", sort=True).agg(
    centres=("centre_id", "nunique"), exams=("ok", "size"), passed=("ok", "sum"),
    success_rate=("ok", "mean")).reset_index(), "departement_rates")

# compare_centres, centre_gaps, check_gaps
cmp = save(centre_rates.merge(departement_rates, on="departement", how="left",
                              suffixes=("", "_departement")), "centre_vs_departement")
cmp["gap"] = (cmp["success_rate"] - cmp["success_rate_departement"]).round(4)
save(cmp, "centre_gaps")
require(cmp["centre_id"].is_unique, "unique centre_id")
require(not cmp[["departement", "success_rate_departement", "gap"]].isna().any().any(), "not_null")
require(cmp["success_rate"].between(0, 1).all(), "rate range")
require(cmp["gap"].between(-1, 1).all(), "gap range")
save(cmp, "centre_gaps_checked")

# flag_centres
flagged = cmp[cmp["gap"] > 0.2].sort_values(["gap", "centre_id"], ascending=[False, True])
save(flagged[["centre_id", "name", "departement", "exams", "success_rate",
              "success_rate_departement", "gap"]], "flagged_centres")
print(len(flagged))
