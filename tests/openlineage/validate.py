#!/usr/bin/python3
"""Validates OpenLineage RunEvents (one JSON object per line) against the
OpenLineage 2-0-2 JSON schema and the schema of every facet they carry, with
every $ref resolved from the local copies in SCHEMA_DIR (no network).

usage: validate.py SCHEMA_DIR [--require FACET,...] [--self-test] EVENTS_FILE...

Exits 1 on the first file with a violation, listing every violation found in it.
--require: facet names that must occur in at least one event.
--self-test: also checks that broken copies of the events are rejected, so a
validator that accepts everything cannot pass.
"""
import copy
import datetime
import glob
import json
import os
import sys
import uuid

import jsonschema

RUN_EVENT = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


def load_store(schema_dir):
    store = {}
    for path in glob.glob(os.path.join(schema_dir, "**", "*.json"), recursive=True):
        with open(path, encoding="utf-8") as f:
            schema = json.load(f)
        store[schema["$id"]] = schema
    if "https://openlineage.io/spec/2-0-2/OpenLineage.json" not in store:
        sys.exit(f"validate.py: no OpenLineage.json 2-0-2 under {schema_dir}")
    return store


def no_network(uri):
    raise jsonschema.RefResolutionError(f"{uri}: not in the local schema copies (no network)")


NO_NETWORK = {"http": no_network, "https": no_network}


def resolver_for(base, schema, store):
    return jsonschema.RefResolver(base, schema, store=store, handlers=NO_NETWORK)


class Validator:
    def __init__(self, store):
        self.store = store
        core_id = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
        self.resolver = resolver_for(core_id, store[core_id], store)
        self.checker = jsonschema.FormatChecker()

    def errors_against(self, instance, url):
        """Violations of `instance` against the schema at `url` (with a fragment)."""
        base, _, fragment = url.partition("#")
        if base not in self.store:
            return [f"no local schema for {url}"]
        _, schema = self.resolver.resolve(url)
        resolver = resolver_for(base, self.store[base], self.store)
        v = jsonschema.Draft202012Validator(schema, resolver=resolver,
                                            format_checker=self.checker)
        return [f"{'/'.join(map(str, e.absolute_path)) or '.'}: {e.message}"
                for e in v.iter_errors(instance)]

    def facet_errors(self, where, facets, seen):
        out = []
        if not isinstance(facets, dict):
            return [f"{where}: facets must be an object"]
        for key, facet in facets.items():
            seen.add(key)
            url = facet.get("_schemaURL", "") if isinstance(facet, dict) else ""
            base = url.partition("#")[0]
            if base not in self.store:
                out.append(f"{where}.{key}: _schemaURL {url!r} names no known facet schema")
                continue
            root = self.store[base]
            if key not in root.get("properties", {}):
                out.append(f"{where}.{key}: {base} defines facet(s) "
                           f"{sorted(root.get('properties', {}))}, not {key!r}")
                continue
            out += [f"{where}.{key}: {e}" for e in self.errors_against(facet, url)]
            # The facet file's own top level: {key: facet}.
            v = jsonschema.Draft202012Validator(
                root, resolver=resolver_for(base, root, self.store),
                format_checker=self.checker)
            out += [f"{where}.{key} (as {base}): {e.message}" for e in v.iter_errors({key: facet})]
        return out

    def event_errors(self, event, seen):
        out = self.errors_against(event, RUN_EVENT)
        if not isinstance(event, dict):
            return out + ["event is not an object"]
        if event.get("schemaURL") != RUN_EVENT:
            out.append(f"schemaURL is {event.get('schemaURL')!r}, expected {RUN_EVENT}")
        # Formats the installed jsonschema may not check by itself.
        try:
            t = event.get("eventTime", "")
            datetime.datetime.fromisoformat(t.replace("Z", "+00:00"))
            if not (t.endswith("Z") or "+" in t[10:] or t[10:].count("-")):
                out.append(f"eventTime {t!r} has no time zone")
        except (ValueError, AttributeError):
            out.append(f"eventTime {event.get('eventTime')!r} is not ISO-8601")
        run = event.get("run", {})
        for where, rid in [("run.runId", run.get("runId")),
                           ("parent.run.runId",
                            run.get("facets", {}).get("parent", {}).get("run", {}).get("runId"))]:
            if rid is None and where != "run.runId":
                continue
            try:
                uuid.UUID(str(rid))
            except ValueError:
                out.append(f"{where} {rid!r} is not a UUID")
        out += self.facet_errors("run.facets", run.get("facets", {}), seen)
        out += self.facet_errors("job.facets", event.get("job", {}).get("facets", {}), seen)
        for side in ("inputs", "outputs"):
            for i, ds in enumerate(event.get(side, [])):
                out += self.facet_errors(f"{side}[{i}].facets", ds.get("facets", {}), seen)
                extra = "inputFacets" if side == "inputs" else "outputFacets"
                out += self.facet_errors(f"{side}[{i}].{extra}", ds.get(extra, {}), seen)
        if event.get("eventType") == "FAIL" and "errorMessage" not in run.get("facets", {}):
            out.append("a FAIL event without the errorMessage run facet")
        return out


def lifecycle_errors(events):
    """Each run: one START first, then exactly one of COMPLETE, FAIL, ABORT."""
    out, by_run = [], {}
    for e in events:
        by_run.setdefault(e.get("run", {}).get("runId"), []).append(e.get("eventType"))
    for rid, types in by_run.items():
        if types[0] != "START" or types.count("START") != 1:
            out.append(f"run {rid}: events {types}: expected one START, first")
        if sum(t in TERMINAL for t in types) != 1 or types[-1] not in TERMINAL:
            out.append(f"run {rid}: events {types}: expected exactly one COMPLETE/FAIL/ABORT, last")
    return out


def read_events(path):
    events = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError as e:
                    sys.exit(f"{path}:{n}: not JSON: {e}")
    return events


def self_test(validator, events):
    """Broken copies of real events must be rejected."""
    complete = next(e for e in events if e.get("eventType") == "COMPLETE" and e.get("outputs"))
    breakages = {
        "runId not a UUID": lambda e: e["run"].__setitem__("runId", "not-a-uuid"),
        "unknown eventType": lambda e: e.__setitem__("eventType", "DONE"),
        "job without name": lambda e: e["job"].pop("name"),
        "schema field without name": lambda e: e["outputs"][0]["facets"]["schema"]["fields"][0]
        .pop("name"),
        "facet without _producer": lambda e: e["outputs"][0]["facets"]["version"].pop("_producer"),
        "version facet without datasetVersion":
            lambda e: e["outputs"][0]["facets"]["version"].pop("datasetVersion"),
        "facet under another facet's schema": lambda e: e["run"]["facets"].__setitem__(
            "nominalTime", e["run"]["facets"]["parent"]),
    }
    failures = []
    for what, breakage in breakages.items():
        broken = copy.deepcopy(complete)
        breakage(broken)
        if not validator.event_errors(broken, set()):
            failures.append(f"self-test: an event with {what} was accepted")
    return failures


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    schema_dir, args = argv[1], argv[2:]
    required, run_self_test, files = [], False, []
    i = 0
    while i < len(args):
        if args[i] == "--require":
            required = [r for r in args[i + 1].split(",") if r]
            i += 2
        elif args[i] == "--self-test":
            run_self_test = True
            i += 1
        else:
            files.append(args[i])
            i += 1
    validator = Validator(load_store(schema_dir))
    seen, all_events, total = set(), [], 0
    for path in files:
        events = read_events(path)
        if not events:
            sys.exit(f"{path}: no events")
        problems = []
        for n, event in enumerate(events, 1):
            problems += [f"{path}: event {n} ({event.get('eventType')} "
                         f"{event.get('job', {}).get('name')}): {p}"
                         for p in validator.event_errors(event, seen)]
        problems += [f"{path}: {p}" for p in lifecycle_errors(events)]
        if problems:
            print("\n".join(problems), file=sys.stderr)
            sys.exit(1)
        all_events += events
        total += len(events)
    missing = [r for r in required if r not in seen]
    if missing:
        sys.exit(f"facets never emitted: {', '.join(missing)} (seen: {', '.join(sorted(seen))})")
    if run_self_test:
        failures = self_test(validator, all_events)
        if failures:
            sys.exit("\n".join(failures))
    print(f"{total} OpenLineage events in {len(files)} file(s) valid against the 2-0-2 schemas")


if __name__ == "__main__":
    main(sys.argv)
