#!/usr/bin/env python3
"""tcpaudit - tests: the NDJSON events against ECS's own field definitions.

Runs `tcpaudit report -f ndjson` on every capture under the given
directories. Every field outside tcpaudit.* must be an ECS field
(fields.csv) whose type matches the JSON value, arrays only where ECS
normalizes to an array, and values of event.kind, event.category,
event.type and event.outcome must be among ECS's allowed values, with each
event.type one that ECS expects for the event.category (ecs_flat.yml).

usage: ecs-check.py --tcpaudit BIN --ecs DIR CAPTURE_DIR...
Exit status: 0 all good, 1 a field is wrong, 2 setup problem, 77 skipped
(the ECS definitions are not there).
"""
import argparse
import csv
import ipaddress
import json
import os
import re
import subprocess
import sys

try:
    import yaml
except ImportError:
    print("ecs-check: python3-yaml is not installed", file=sys.stderr)
    sys.exit(2)

CAPTURE = re.compile(r"\.(pcap|pcapng|cap)(\.(gz|zst))?$")
OWN_NAMESPACE = "tcpaudit"
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def is_ip(v):
    try:
        ipaddress.ip_address(v)
        return True
    except ValueError:
        return False


# ECS type -> test of one JSON value
TYPE_TESTS = {
    "keyword": lambda v: isinstance(v, str),
    "constant_keyword": lambda v: isinstance(v, str),
    "wildcard": lambda v: isinstance(v, str),
    "match_only_text": lambda v: isinstance(v, str),
    "text": lambda v: isinstance(v, str),
    "long": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "short": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "byte": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "unsigned_long": lambda v: isinstance(v, int) and v >= 0,
    "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "scaled_float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "double": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "date": lambda v: isinstance(v, str) and bool(DATE.match(v)),
    "ip": lambda v: isinstance(v, str) and is_ip(v),
}


def load_ecs(ecs_dir):
    fields = {}
    with open(os.path.join(ecs_dir, "fields.csv"), encoding="utf-8") as f:
        for row in csv.DictReader(f):
            fields[row["Field"]] = {"type": row["Type"],
                                    "array": "array" in row["Normalization"]}
    with open(os.path.join(ecs_dir, "ecs_flat.yml"), encoding="utf-8") as f:
        flat = yaml.safe_load(f)
    allowed, expected_types = {}, {}
    for name, spec in flat.items():
        if spec.get("allowed_values"):
            allowed[name] = {a["name"] for a in spec["allowed_values"]}
            if name == "event.category":
                expected_types = {a["name"]: set(a.get("expected_event_types") or [])
                                  for a in spec["allowed_values"]}
        elif spec.get("expected_values"):
            allowed[name] = set(spec["expected_values"])
    return fields, allowed, expected_types


def leaves(obj, prefix=""):
    """Dotted names and values of an event, stopping at scalars and arrays."""
    for k, v in obj.items():
        name = prefix + k
        if isinstance(v, dict):
            yield from leaves(v, name + ".")
        else:
            yield name, v


def check_event(ev, fields, allowed, expected_types, used):
    problems = []
    for name, value in leaves(ev):
        if name.split(".")[0] == OWN_NAMESPACE:
            continue
        spec = fields.get(name)
        if not spec:
            problems.append(f"{name}: not an ECS field")
            continue
        used.add(name)
        values = value if isinstance(value, list) else [value]
        if isinstance(value, list) and not spec["array"]:
            problems.append(f"{name}: an array, but ECS does not normalize it to one")
        test = TYPE_TESTS.get(spec["type"])
        if not test:
            problems.append(f"{name}: ECS type {spec['type']} is not checked here")
            continue
        for v in values:
            if not test(v):
                problems.append(f"{name}: {v!r} is not of ECS type {spec['type']}")
            if name in allowed and v not in allowed[name]:
                problems.append(f"{name}: {v!r} is not an allowed value")
    event = ev.get("event", {})
    for cat in event.get("category", []):
        for t in event.get("type", []):
            if t not in expected_types.get(cat, set()):
                problems.append(f"event.type {t!r} is not expected with "
                                f"event.category {cat!r}")
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcpaudit", required=True)
    ap.add_argument("--ecs", required=True)
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    if not os.path.isdir(args.ecs):
        print(f"ecs-check: {args.ecs} is not there; skipped")
        return 77
    fields, allowed, expected_types = load_ecs(args.ecs)
    used, problems = set(), {}
    events = 0
    for d in args.dirs:
        if not os.path.isdir(d):
            continue
        for root, _, files in os.walk(d):
            for name in sorted(files):
                if not CAPTURE.search(name):
                    continue
                cap = os.path.join(root, name)
                p = subprocess.run([args.tcpaudit, "report", "--no-progress",
                                    "-f", "ndjson", cap], stdout=subprocess.PIPE,
                                   stderr=subprocess.DEVNULL, timeout=300,
                                   check=False)
                for line in p.stdout.decode("utf-8").splitlines():
                    events += 1
                    for pr in check_event(json.loads(line), fields, allowed,
                                          expected_types, used):
                        problems.setdefault(pr, cap)
    print(f"ecs-check: {events} events; ECS fields used: {', '.join(sorted(used))}")
    for pr, cap in sorted(problems.items()):
        print(f"FAIL {pr} (first in {cap})")
    if not events:
        print("ecs-check: no event was checked", file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
