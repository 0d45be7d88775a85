#!/usr/bin/env python3
"""Deterministic generator of identities and death records for the matching example.

Writes, `;`-separated like the ministry's and INSEE's extracts:
  people.csv        a ministry file: id, birth name, usage (married) name, given
                    names, sex, birth date (YYYY-MM-DD), birth place (INSEE code)
  deaths.csv        INSEE-style death records: id, birth name, all given names,
                    sex, birth date YYYYMMDD (00 for an unknown day or month),
                    birth place, death date
  ground_truth.csv  person_id;death_id for every person who has a death record

Some people have a death record, written with the noise real files carry:
typos, given names swapped or cut to the first, accents dropped or added,
hyphenated (compound) names, a woman known in the ministry file by her married
name only, unknown birth day (00) or a placeholder day (01), day and month
swapped, a year typo, a missing birth place. The other death records are
strangers drawn from the same name lists, so homonyms abound. Same arguments,
same bytes.

    ./generate.py                                        # the committed sample
    ./generate.py --people 100000 --deaths 1000000 --out /tmp/matching-big
"""
import argparse
import datetime
import os
import random

SURNAMES = """MARTIN BERNARD THOMAS PETIT ROBERT RICHARD DURAND DUBOIS MOREAU LAURENT SIMON MICHEL
LEFEBVRE LEROY ROUX DAVID BERTRAND MOREL FOURNIER GIRARD BONNET DUPONT LAMBERT FONTAINE ROUSSEAU
VINCENT MULLER LEFEVRE FAURE ANDRE MERCIER BLANC GUERIN BOYER GARNIER CHEVALIER FRANCOIS LEGRAND
GAUTHIER GARCIA PERRIN ROBIN CLEMENT MORIN NICOLAS HENRY ROUSSEL MATHIEU GAUTIER MASSON MARCHAND
DUVAL DENIS DUMONT MARIE LEMAIRE NOEL MEYER DUFOUR MEUNIER BRUN BLANCHARD GIRAUD JOLY RIVIERE
LUCAS BRUNET GAILLARD BARBIER ARNAUD MARTINEZ GERARD ROCHE RENARD SCHMITT ROY LEROUX COLIN
VIDAL CARON PICARD ROGER FABRE AUBERT LEMOINE RENAUD DUMAS LACROIX OLIVIER PHILIPPE BOURGEOIS
PIERRE BENOIT REY LECLERC PAYET ROLLAND LECLERCQ GUILLAUME LECOMTE LOPEZ JEAN DUPUY GUILLOT
HUBERT BERGER CARPENTIER SANCHEZ DUPUIS MOULIN LOUIS DESCHAMPS HUET VASSEUR PEREZ BOUCHER FLEURY
ROYER KLEIN JACQUET ADAM PARIS POIRIER MARTY AUBRY GUYOT CARRE CHARLES RENAULT CHARPENTIER MENARD
MAILLARD BARON BERTIN BAILLY HERVE SCHNEIDER FERNANDEZ LE_GALL COLLET LEGER BOUVIER JULIEN
PREVOST MILLET PERROT DANIEL LE_ROUX COUSIN GERMAIN BRETON BESSON LANGLOIS REMY LE_GOFF PELLETIER
LEVEQUE PERRIER LEBLANC BARRE LEBRUN MARCHAL WEBER MALLET HAMON BOULANGER JACOB MONNIER MICHAUD
RODRIGUEZ GUICHARD GILLET ETIENNE GRONDIN POULAIN TESSIER CHEVALLIER COLLIN CHAUVIN DA_SILVA
BOUCHET GAY LEMAITRE BENARD MARECHAL HUMBERT REYNAUD ANTOINE HOARAU PERRET BARTHELEMY CORDIER
PICHON LEJEUNE GILBERT LAMY DELAUNAY PASQUIER CARLIER LAPORTE""".split()
MALE = """JEAN PIERRE MICHEL ANDRE PHILIPPE RENE LOUIS ALAIN JACQUES BERNARD MARCEL DANIEL ROGER
ROBERT PAUL CLAUDE CHRISTIAN HENRI GEORGES NICOLAS FRANCOIS PATRICK GERARD CHRISTOPHE JOSEPH
JULIEN MAURICE LUCIEN FREDERIC PASCAL RAYMOND ERIC SEBASTIEN GUY DAVID ALBERT STEPHANE LAURENT
THIERRY ROGER YVES GILBERT EMILE DOMINIQUE MARC OLIVIER FERNAND CHARLES GABRIEL ANTOINE EDOUARD
VINCENT LEON ARMAND GUSTAVE VICTOR XAVIER BRUNO DIDIER SERGE HUBERT FELIX AUGUSTE""".split()
FEMALE = """MARIE JEANNE FRANCOISE MONIQUE CATHERINE NATHALIE ISABELLE JACQUELINE ANNE SYLVIE
MARTINE MADELEINE NICOLE SUZANNE HELENE CHRISTINE MARGUERITE DENISE LOUISE CHRISTIANE YVONNE
SOPHIE VALERIE SANDRINE STEPHANIE GERMAINE SIMONE CELINE ODETTE COLETTE PAULETTE JOSIANE
DANIELLE ANDREE GENEVIEVE LUCIENNE BERNADETTE CLAUDINE ODILE ELISABETH CECILE AGNES MICHELE
THERESE JULIETTE EMILIE BEATRICE CAMILLE LEONIE AUGUSTINE RENEE GISELE HENRIETTE""".split()
# Accented spellings some files keep and others drop.
ACCENTED = {"HELENE": "Hélène", "FRANCOISE": "Françoise", "ANDRE": "André", "RENE": "René",
            "GERARD": "Gérard", "FREDERIC": "Frédéric", "STEPHANE": "Stéphane", "VALERIE": "Valérie",
            "CELINE": "Céline", "GENEVIEVE": "Geneviève", "THERESE": "Thérèse", "CECILE": "Cécile",
            "EMILIE": "Émilie", "BEATRICE": "Béatrice", "ANDREE": "Andrée", "RENEE": "Renée",
            "LEONIE": "Léonie", "EMILE": "Émile", "LEON": "Léon", "SEBASTIEN": "Sébastien",
            "EDOUARD": "Édouard", "FELIX": "Félix", "LEFEVRE": "Lefèvre", "LEVEQUE": "Lévêque",
            "BENARD": "Bénard", "GERARD_": "Gérard", "MENARD": "Ménard", "REMY": "Rémy",
            "HERVE": "Hervé", "MARECHAL": "Maréchal", "BARTHELEMY": "Barthélemy",
            "RIVIERE": "Rivière", "FRANCOIS": "François", "LEMAITRE": "Lemaître", "NOEL": "Noël",
            "ETIENNE": "Étienne", "GIRAUD": "Giraud", "DELAUNAY": "Delaunay"}
SYLLABLES = ["BER", "TI", "LA", "MON", "GRA", "DOU", "CHA", "VAN", "RO", "NE", "LI", "COU", "PE",
             "TRI", "GAN", "SO", "DE", "MAR", "VIL", "LON", "QUE", "FAU", "BRI", "CAS", "TEL"]
ENDINGS = ["", "T", "D", "S", "AU", "EAU", "IER", "ET", "IN", "AC", "Y", "OT", "EL"]
DEPARTEMENTS = ["01", "02", "06", "13", "14", "21", "29", "2A", "2B", "31", "33", "35", "38", "44",
                "59", "62", "67", "69", "75", "76", "83", "92", "93", "94", "974"]


def surname(rng):
    if rng.random() < 0.75:
        return rng.choice(SURNAMES).replace("_", " ")
    return "".join(rng.choice(SYLLABLES) for _ in range(rng.randint(2, 3))) + rng.choice(ENDINGS)


def identity(rng):
    sex = rng.choice("MF")
    names = MALE if sex == "M" else FEMALE
    given = [rng.choice(names) for _ in range(rng.choice([1, 1, 2, 2, 2, 3]))]
    given = list(dict.fromkeys(given))  # no repeated given name
    born = datetime.date(1920, 1, 1) + datetime.timedelta(days=rng.randrange(0, 365 * 80))
    dep = rng.choice(DEPARTEMENTS)
    place = dep + f"{rng.randrange(1, 600):03d}"[len(dep) - 2:]
    return {"sex": sex, "nom": surname(rng), "given": given, "born": born, "place": place}


def typo(rng, s):
    if len(s) < 3:
        return s
    i = rng.randrange(1, len(s) - 1)
    op = rng.randrange(4)
    if op == 0:
        return s[:i] + rng.choice("AEIOURSTLN") + s[i + 1:]
    if op == 1:
        return s[:i] + s[i + 1:]
    if op == 2:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    return s[:i] + s[i] + s[i:]


def accented(rng, s):
    words = []
    for w in s.split(" "):
        words.append(ACCENTED[w] if w in ACCENTED and rng.random() < 0.7 else w.capitalize())
    return " ".join(words)


def person_row(rng, pid, p):
    """How the ministry file knows person p."""
    nom_naissance, nom_usage = p["nom"], ""
    if p["sex"] == "F" and rng.random() < 0.5:
        husband = surname(rng)
        r = rng.random()
        if r < 0.12:
            nom_naissance, nom_usage = "", husband  # married name only
        elif r < 0.3:
            nom_usage = husband + "-" + p["nom"]  # compound usage name
        else:
            nom_usage = husband
    given = p["given"][:1] if rng.random() < 0.2 else p["given"]
    prenoms = accented(rng, " ".join(given))
    nom_naissance = accented(rng, nom_naissance) if nom_naissance else ""
    if nom_usage:
        nom_usage = accented(rng, nom_usage)
    return [str(pid), nom_naissance, nom_usage, prenoms, p["sex"], p["born"].isoformat(),
            p["place"]]


def death_row(rng, did, p, noisy):
    """An INSEE death record of p; `noisy`: with the defects of real records."""
    nom, given = p["nom"], list(p["given"])
    y, m, d = p["born"].year, p["born"].month, p["born"].day
    place = p["place"]
    if noisy:
        if rng.random() < 0.12:
            nom = typo(rng, nom)
        if rng.random() < 0.12:
            k = rng.randrange(len(given))
            given[k] = typo(rng, given[k])
        if len(given) > 1 and rng.random() < 0.15:
            given[0], given[1] = given[1], given[0]
        if rng.random() < 0.04 and " " not in nom:
            nom = nom + "-" + surname(rng)  # compound birth name the ministry file cut
        r = rng.random()
        if r < 0.07:
            d = 0
        elif r < 0.09:
            d, m = 0, 0
        elif r < 0.12:
            d = 1
        elif r < 0.14 and d <= 12 and d != m:
            d, m = m, d
        elif r < 0.15:
            y = y + rng.choice([-1, 1])
        if rng.random() < 0.03:
            place = ""
        if rng.random() < 0.1:
            nom, given = accented(rng, nom), [accented(rng, g) for g in given]
    last = (datetime.date(2025, 12, 31) - p["born"]).days
    died = p["born"] + datetime.timedelta(days=rng.randrange(min(365, last), last + 1))
    return [str(did), nom, " ".join(given), p["sex"], f"{y:04d}{m:02d}{d:02d}", place,
            died.strftime("%Y%m%d")]


def write(path, header, rows):
    with open(path, "w", encoding="utf-8", newline="") as f:
        f.write(";".join(header) + "\n")
        for r in rows:
            f.write(";".join(r) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--people", type=int, default=2000)
    ap.add_argument("--deaths", type=int, default=5000)
    ap.add_argument("--dead-share", type=float, default=0.6,
                    help="share of people with a death record")
    ap.add_argument("--seed", type=int, default=1792)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "data"))
    args = ap.parse_args()
    rng = random.Random(args.seed)
    os.makedirs(args.out, exist_ok=True)

    people = [identity(rng) for _ in range(args.people)]
    dead = [i for i in range(args.people) if rng.random() < args.dead_share][:args.deaths]
    strangers = args.deaths - len(dead)
    # Death records in a shuffled order: the matches, then strangers (some of
    # them homonyms of a person: same names, another birth date).
    records = [("p", i) for i in dead] + [("s", k) for k in range(strangers)]
    rng.shuffle(records)
    deaths, truth = [], []
    for n, (what, i) in enumerate(records):
        did = 500000000 + n
        if what == "p":
            deaths.append(death_row(rng, did, people[i], noisy=True))
            truth.append((i + 1, did))
        else:
            s = identity(rng)
            if rng.random() < 0.05:  # homonym of a person, born another day
                h = people[rng.randrange(args.people)]
                s["nom"], s["given"], s["sex"] = h["nom"], list(h["given"]), h["sex"]
            deaths.append(death_row(rng, did, s, noisy=False))
    write(os.path.join(args.out, "people.csv"),
          ["id", "nom_naissance", "nom_usage", "prenoms", "sexe", "date_naissance",
           "lieu_naissance"],
          (person_row(rng, i + 1, p) for i, p in enumerate(people)))
    write(os.path.join(args.out, "deaths.csv"),
          ["id_deces", "nom", "prenoms", "sexe", "date_naissance", "lieu_naissance",
           "date_deces"], deaths)
    truth.sort()
    write(os.path.join(args.out, "ground_truth.csv"), ["person_id", "death_id"],
          ([str(p), str(d)] for p, d in truth))
    print(f"{args.people} people, {len(deaths)} death records, {len(truth)} true matches "
          f"in {args.out}")


if __name__ == "__main__":
    main()
