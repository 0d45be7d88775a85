#!/usr/bin/python3
"""Every example flow of docs/recipes.md is accepted by `alambic validate`.

Usage: docs_recipes_validate.py ALAMBIC DOCS/recipes.md

Each ```yaml block that declares recipes (a `kind:` key) is written as
flows/doc.yaml of a fresh workspace made by `alambic init`, and `alambic
validate` must accept it. A block whose first line is `# alambic.yaml` is the
workspace configuration of the flow block after it (merged into the one
`alambic init` writes). A block whose first line is
`# fragment` is a part of a flow, shown alone, and is skipped (keep them few).
The scripts a flow names (`script:`, `functions:`) are created empty-bodied.
"""
import os
import re
import subprocess
import sys
import tempfile

import yaml

alambic, doc = os.path.abspath(sys.argv[1]), sys.argv[2]
text = open(doc, encoding="utf-8").read()
blocks = [(text.count("\n", 0, m.start()) + 1, m.group(1))
          for m in re.finditer(r"^```yaml\n(.*?)^```", text, re.S | re.M)]

failures, checked, fragments = [], 0, 0
config = None
for line, body in blocks:
    first = body.splitlines()[0].strip() if body.strip() else ""
    if first == "# fragment":
        fragments += 1
        continue
    if first == "# alambic.yaml":
        try:
            config = yaml.safe_load(body)
        except yaml.YAMLError as e:
            config = e
        if not isinstance(config, dict):
            failures.append(f"{doc}:{line}: an alambic.yaml block that is not a mapping: "
                            f"{config}")
            config = None
        continue
    if not re.search(r"\bkind:\s", body):
        config = None
        continue
    checked += 1
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([alambic, "init", "ws"], cwd=tmp, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"alambic init failed: {r.stderr}")
        ws = os.path.join(tmp, "ws")
        if config is not None:
            path = os.path.join(ws, "alambic.yaml")
            with open(path, encoding="utf-8") as f:
                merged = yaml.safe_load(f)
            for key, value in config.items():
                if isinstance(value, dict) and isinstance(merged.get(key), dict):
                    merged[key].update(value)
                else:
                    merged[key] = value
            with open(path, "w", encoding="utf-8") as f:
                yaml.safe_dump(merged, f)
        for script in re.findall(r"\b(?:script|functions):\s*([\w./-]+\.lua)", body):
            path = os.path.join(ws, script)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write("-- from docs/recipes.md\n")
        with open(os.path.join(ws, "flows", "doc.yaml"), "w", encoding="utf-8") as f:
            f.write(body)
        r = subprocess.run([alambic, "validate"], cwd=ws, capture_output=True, text=True)
        if r.returncode != 0:
            failures.append(f"{doc}:{line}: alambic validate exited {r.returncode}:\n"
                            f"{r.stdout}{r.stderr}")
    config = None

for f in failures:
    print(f)
print(f"{checked} flows validated, {len(failures)} failed, {fragments} fragments skipped")
if checked < 15:
    sys.exit(f"only {checked} flow blocks found in {doc}: is the extraction broken?")
if fragments > 3:
    sys.exit(f"{fragments} fragments: examples should be complete flows")
sys.exit(1 if failures else 0)
