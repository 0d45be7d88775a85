#!/usr/bin/env python3
"""Deterministic generator of daily fire-brigade interventions per département.

Writes data/interventions.csv (`;`-separated, ISO dates): one row per
département and day with the calendar (weekday, public holiday, school
holidays), the weather (maximum temperature, rain), a seasonal epidemic index
(a winter flu wave of varying height each year) and the day's number of
interventions. The count is drawn from a Poisson law whose rate grows with the
département's size, weekends and holidays, heat waves, heavy rain, icy days and
the epidemic. Same arguments, same bytes.

    ./generate.py                                    # the committed sample
    ./generate.py --start 2015-01-01 --days 3650 --out /tmp/forecast-big
"""
import argparse
import datetime
import math
import os
import random

# Département code, name, mean daily interventions, climate (mean summer
# maximum temperature, rain days per year).
DEPARTEMENTS = [
    ("13", "Bouches-du-Rhône", 160, 31, 60),
    ("2A", "Corse-du-Sud", 18, 29, 70),
    ("33", "Gironde", 120, 27, 120),
    ("59", "Nord", 190, 23, 150),
    ("69", "Rhône", 140, 28, 100),
    ("974", "La Réunion", 70, 30, 110),
]


def easter(year):
    a, b, c = year % 19, year // 100, year % 100
    d, e = b // 4, b % 4
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = c // 4, c % 4
    l = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * l) // 451
    month = (h + l - 7 * m + 114) // 31
    day = (h + l - 7 * m + 114) % 31 + 1
    return datetime.date(year, month, day)


def public_holidays(year):
    e = easter(year)
    fixed = [(1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)]
    days = {datetime.date(year, m, d) for m, d in fixed}
    days |= {e + datetime.timedelta(days=1), e + datetime.timedelta(days=39),
             e + datetime.timedelta(days=50)}
    return days


def school_holiday(d):
    # Approximate zones merged: Christmas, winter, spring, summer, All Saints.
    md = (d.month, d.day)
    return (md >= (12, 20) or md <= (1, 3) or (2, 10) <= md <= (3, 5)
            or (4, 10) <= md <= (4, 30) or (7, 6) <= md <= (8, 31)
            or (10, 20) <= md <= (11, 3))


def poisson(rng, lam):
    if lam < 30:
        limit, k, p = math.exp(-lam), 0, 1.0
        while True:
            p *= rng.random()
            if p <= limit:
                return k
            k += 1
    return max(0, int(round(rng.gauss(lam, math.sqrt(lam)))))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--start", default="2022-01-01")
    ap.add_argument("--days", type=int, default=730)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    start = datetime.date.fromisoformat(args.start)
    days = [start + datetime.timedelta(days=i) for i in range(args.days)]
    holidays = set()
    for y in range(start.year, days[-1].year + 1):
        holidays |= public_holidays(y)
    # One epidemic wave per winter: its peak day and height.
    waves = {y: (rng.randint(-20, 40), rng.uniform(0.4, 1.0)) for y in range(start.year - 1, days[-1].year + 3)}

    def epidemic(d):
        total = 0.0
        for y in (d.year, d.year + 1):
            peak_offset, height = waves[y]
            peak = datetime.date(y, 1, 15) + datetime.timedelta(days=peak_offset)
            total += height * math.exp(-((d - peak).days / 18.0) ** 2)
        return min(1.0, total)

    os.makedirs(args.out, exist_ok=True)
    rows = ["date;departement;nom;weekday;public_holiday;school_holiday;temp_max;rain_mm;epidemic_index;interventions"]
    for code, name, base, summer, rain_days in DEPARTEMENTS:
        heat_wave = 0
        for d in days:
            season = math.cos(2 * math.pi * (d.timetuple().tm_yday - 200) / 365.25)
            if code == "974":  # southern hemisphere, mild
                season = -season * 0.4
            # Heat waves: a few runs of hot days each summer.
            if heat_wave > 0:
                heat_wave -= 1
            elif 6 <= d.month <= 8 and rng.random() < 0.02:
                heat_wave = rng.randint(3, 9)
            temp = summer - 11 * (1 - season) + rng.gauss(0, 2.5) + (7 if heat_wave else 0)
            rain = 0.0
            if rng.random() < rain_days / 365.0:
                rain = round(rng.expovariate(1 / 8.0), 1)
            epi = epidemic(d) if code != "974" else 0.3 * epidemic(d + datetime.timedelta(days=180))
            weekend = d.weekday() >= 5
            holiday = d in holidays
            rate = base
            rate *= 1.12 if weekend else 1.0
            rate *= 1.35 if holiday else 1.0
            rate *= 1.0 + 0.05 * max(0.0, temp - 30) ** 1.3
            rate *= 1.0 + 0.012 * min(rain, 40)
            rate *= 1.0 + (0.25 if temp < 1 else 0.0)
            rate *= 1.0 + 0.45 * epi
            rate *= 1.0 + 0.05 * (1 if d.month in (7, 8) else 0)
            rows.append(";".join([
                d.isoformat(), code, name, str(d.isoweekday()), "true" if holiday else "false",
                "true" if school_holiday(d) else "false", f"{temp:.1f}", f"{rain:.1f}",
                f"{epi:.3f}", str(poisson(rng, rate)),
            ]))
    with open(os.path.join(args.out, "interventions.csv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(rows) + "\n")
    print(f"wrote {len(rows) - 1} rows to {os.path.join(args.out, 'interventions.csv')}")


if __name__ == "__main__":
    main()
