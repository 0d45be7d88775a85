#!/usr/bin/env bash
# End to end on the permis example: a fresh copy runs once its pseudonymisation
# key exists (created here as scripts/quickstart does), the second run builds
# nothing (and plan says why), results match an independent computation in
# Python (Latin-1, dd/mm/yyyy, decimal commas, HMAC pseudonyms), and changing the
# source rebuilds exactly what depends on it.
set -euo pipefail
ALAMBIC=$(realpath "$1")
SRC=$(cd "$(dirname "$0")/../../examples/permis" && pwd)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cp -r "$SRC" "$WORK/permis"
cd "$WORK/permis"
fail() { echo "FAIL: $*" >&2; exit 1; }
RECIPES=12

[ ! -e .alambic/pseudo_key ] || fail "the example ships a key"
git -C "$SRC" ls-files --error-unmatch .alambic/pseudo_key >/dev/null 2>&1 && fail "a key is in git"
# Without its key the flow fails with a message naming the secret and the file.
if "$ALAMBIC" run > run0.out 2>&1; then fail "ran without a pseudonymisation key"; fi
grep -q "pseudo_key" run0.out || { cat run0.out; fail "missing key not named"; }
grep -q ".alambic/pseudo_key" run0.out || { cat run0.out; fail "missing key file not named"; }
mkdir -p .alambic
(umask 077 && head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' > .alambic/pseudo_key)
chmod 600 .alambic/pseudo_key  # secret files must be private
# A key others may read is refused, naming the file and the fix.
chmod 644 .alambic/pseudo_key
if "$ALAMBIC" run > run0.out 2>&1; then fail "ran with a world-readable key"; fi
grep -q "is readable by group or others (mode 0644); make it private (chmod 600)" run0.out || { cat run0.out; fail "readable key not refused"; }
chmod 600 .alambic/pseudo_key

"$ALAMBIC" validate
"$ALAMBIC" run -j 2 > run1.out 2>&1 || { cat run1.out; fail "first run failed"; }
grep -q "$RECIPES succeeded, 0 failed" run1.out || { cat run1.out; fail "first run did not build $RECIPES recipes"; }
grep -q "$(cat .alambic/pseudo_key)" run1.out && fail "the key is in the run output"

"$ALAMBIC" plan --explain > plan.out
grep -q "^0 of $RECIPES recipes to run" plan.out || { cat plan.out; fail "plan after a run is not empty"; }
[ "$(grep -cE 'up to date +up to date$' plan.out)" = $RECIPES ] || { cat plan.out; fail "not every recipe up to date"; }

"$ALAMBIC" run > run2.out 2>&1
grep -q "0 succeeded, 0 failed, 0 cancelled, 0 skipped, $RECIPES up to date" run2.out || { cat run2.out; fail "second run executed something"; }

# The prepared exams against Python: every row kept, Latin-1 text, French dates and
# decimal commas read, categories normalised, candidates pseudonymised with the key.
"$ALAMBIC" export exams_enriched --csv exams_enriched.csv
"$ALAMBIC" export exams_raw --csv exams_raw.csv
python3 - <<'PY'
import csv, datetime, hashlib, hmac
key = open(".alambic/pseudo_key", "rb").read().rstrip(b"\n")
with open("data/exams.csv", encoding="latin-1", newline="") as f:
    src = {r["exam_id"]: r for r in csv.DictReader(f, delimiter=";")}
with open("exams_enriched.csv", newline="") as f:
    got = list(csv.DictReader(f))
assert len(got) == len(src) == 20000, (len(got), len(src))
raw_ids = {r["candidate_id"] for r in src.values()}
for r in got:
    s = src[r["exam_id"]]
    pseudo = r["candidate_id"]
    assert len(pseudo) == 64 and all(c in "0123456789abcdef" for c in pseudo), pseudo
    assert pseudo not in raw_ids
    assert pseudo == hmac.new(key, s["candidate_id"].encode(), hashlib.sha256).hexdigest()
    d = datetime.datetime.strptime(s["exam_date"], "%d/%m/%Y").date()
    assert r["exam_date"] == d.isoformat(), (r["exam_date"], s["exam_date"])
    assert int(r["exam_year"]) == d.year and int(r["exam_month"]) == d.month
    assert float(r["score"]) == float(s["score"].replace(",", ".")), (r["score"], s["score"])
    assert r["high_score"] == ("true" if float(r["score"]) >= 26 else "false")
    assert r["category"] == s["category"].strip().upper(), (r["category"], s["category"])
    assert r["commune"] == s["commune"]
assert any("é" in r["commune"] for r in got)
with open("exams_raw.csv", newline="") as f:
    raw = list(csv.DictReader(f))
assert {r["candidate_id"] for r in raw} == raw_ids  # only exams_raw holds the raw ids
print(f"exams_enriched matches the oracle for {len(got)} exams")
PY
! grep -q "K[0-9]\{9\}" exams_enriched.csv || fail "a raw candidate id survived the cleaning"
"$ALAMBIC" log "$("$ALAMBIC" runs | sed -n 3p | cut -c1-8)" check_exams | grep -q '"passed":true' || fail "check results not in the log"

# Independent oracle: success rate per centre computed with Python's csv module.
"$ALAMBIC" export centre_rates --csv centre_rates.csv
python3 - <<'PY'
import csv, collections
n = collections.Counter(); ok = collections.Counter()
with open("data/exams.csv", encoding="latin-1", newline="") as f:
    for r in csv.DictReader(f, delimiter=";"):
        n[r["centre_id"]] += 1
        ok[r["centre_id"]] += r["result"] == "reussite"
with open("centre_rates.csv", newline="") as f:
    got = {r["centre_id"]: r for r in csv.DictReader(f)}
assert set(got) == set(n), (len(got), len(n))
for c in n:
    assert int(got[c]["exams"]) == n[c], c
    assert int(got[c]["passed"]) == ok[c], c
    assert abs(float(got[c]["success_rate"]) - ok[c] / n[c]) < 1e-12, c
deps = {r["departement"] for r in got.values()}
assert "2A" in deps and "01" in deps, sorted(deps)  # INSEE codes kept as strings
print(f"centre_rates matches the oracle for {len(n)} centres")
PY

# The full story against SQLite: join, rates per centre and per département, the
# gap and the flagged centres, recomputed by SQL from the same cleaned exams.
"$ALAMBIC" export centres --csv centres.csv
"$ALAMBIC" export flagged_centres --csv flagged.csv
"$ALAMBIC" export centre_gaps_checked --csv gaps.csv
python3 - <<'PY'
import csv, sqlite3
db = sqlite3.connect(":memory:")
def load(name, path):
    rows = list(csv.DictReader(open(path, newline="")))
    cols = list(rows[0])
    db.execute(f"create table {name} ({', '.join(cols)})")
    db.executemany(f"insert into {name} values ({', '.join('?' * len(cols))})",
                   [[r[c] for c in cols] for r in rows])
load("exams", "exams_enriched.csv"); load("centres", "centres.csv")
want = db.execute("""
  with located as (select e.*, c.departement, c.name from exams e join centres c using (centre_id)),
       c as (select centre_id, name, departement, count(*) n,
                    avg(result = 'reussite') rate from located group by 1, 2, 3),
       d as (select departement, avg(result = 'reussite') rate from located group by 1)
  select c.centre_id, c.n, c.rate, d.rate, round(c.rate - d.rate, 4) gap
  from c join d using (departement) order by c.centre_id""").fetchall()
got = sorted(csv.DictReader(open("gaps.csv", newline="")), key=lambda r: r["centre_id"])
assert len(got) == len(want), (len(got), len(want))
for g, (cid, n, rate, drate, gap) in zip(got, want):
    assert g["centre_id"] == cid and int(g["exams"]) == n, (g, cid)
    assert abs(float(g["success_rate"]) - rate) < 1e-12, cid
    assert abs(float(g["success_rate_departement"]) - drate) < 1e-12, cid
    assert abs(float(g["gap"]) - gap) < 1e-9, (cid, g["gap"], gap)
flagged = [r["centre_id"] for r in csv.DictReader(open("flagged.csv", newline=""))]
expect = [w[0] for w in sorted(want, key=lambda w: (-w[4], w[0])) if w[4] > 0.2]
assert flagged == expect and flagged, (flagged, expect)
print(f"centre gaps match SQLite for {len(got)} centres, {len(flagged)} flagged")
PY
"$ALAMBIC" status | grep -q "flagged_centres .* fresh" || fail "status does not show flagged_centres fresh"

# A change to the exam extract rebuilds everything that depends on it, not the centres.
printf '20001;K000000001;CE0010000;02/06/2025; b;Orl\xe9ans;25,5;30;reussite\n' >> data/exams.csv
"$ALAMBIC" plan --explain > plan2.out
grep -q "permis/collect_exams .*run .*source data changed (connection exams_extract)" plan2.out || { cat plan2.out; fail "source change not explained"; }
grep -q "permis/collect_centres .*up to date" plan2.out || { cat plan2.out; fail "centres should be up to date"; }
grep -q "^$((RECIPES - 1)) of $RECIPES recipes to run" plan2.out || { cat plan2.out; fail "expected $((RECIPES - 1)) recipes to run"; }
"$ALAMBIC" run > run3.out 2>&1 || { cat run3.out; fail "third run failed"; }
"$ALAMBIC" runs | grep -c succeeded | grep -q 3 || fail "runs does not list three succeeded runs"
RUN=$("$ALAMBIC" runs | sed -n 2p | cut -c1-8)
"$ALAMBIC" log "$RUN" collect_exams | grep -q "20,001" || { "$ALAMBIC" log "$RUN" collect_exams; fail "log lacks row count"; }

# A new pseudonymisation key makes the pseudonymised datasets stale, and says why.
(umask 077 && head -c 32 /dev/urandom | od -An -vtx1 | tr -d ' \n' > .alambic/pseudo_key)
chmod 600 .alambic/pseudo_key  # secret files must be private
"$ALAMBIC" plan --explain > plan3.out
grep -q "permis/clean_exams .*run .*secret pseudo_key changed" plan3.out || { cat plan3.out; fail "key change not explained"; }
grep -q "permis/collect_exams .*up to date" plan3.out || { cat plan3.out; fail "collect should be up to date"; }
grep -rqF --exclude=pseudo_key "$(cat .alambic/pseudo_key)" .alambic && fail "the key is in the catalog or store"
echo "example_permis e2e: ok"
