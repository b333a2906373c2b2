#!/usr/bin/env python3
"""tcpaudit - tests: validates real reports against schemas/.

Runs `tcpaudit report -f json` and `-f ndjson` on every capture found under
the given directories and validates the report against report.schema.json
and every NDJSON line against event.schema.json, with a JSON Schema 2020-12
validator (python3-jsonschema) and its format checks. Also checks that the
two formats report the same connections with the same records.

usage: schema-check.py --tcpaudit BIN --schemas DIR CAPTURE_DIR...
Exit status: 0 all valid, 1 a report failed validation, 2 setup problem.
"""
import argparse
import json
import os
import pathlib
import re
import subprocess
import sys

try:
    import jsonschema
except ImportError:
    print("schema-check: python3-jsonschema is not installed", file=sys.stderr)
    sys.exit(2)

CAPTURE = re.compile(r"\.(pcap|pcapng|cap)(\.(gz|zst))?$")
MAX_ERRORS_SHOWN = 20


def validators(schema_dir):
    """Validators for the report and one event; event.schema.json refers to
    report.schema.json next to it by a relative reference."""
    schemas = {}
    for name in ("report.schema.json", "event.schema.json"):
        path = pathlib.Path(schema_dir, name).resolve()
        with open(path, encoding="utf-8") as f:
            schemas[path.as_uri()] = json.load(f)
    cls = jsonschema.Draft202012Validator
    for schema in schemas.values():
        cls.check_schema(schema)
    checker = jsonschema.FormatChecker()
    out = {}
    try:  # jsonschema >= 4.18
        from referencing import Registry, Resource
        registry = Registry().with_resources(
            (uri, Resource.from_contents(s)) for uri, s in schemas.items())
        for uri, schema in schemas.items():
            schema = dict(schema, **{"$id": uri})
            out[uri.rsplit("/", 1)[1]] = cls(schema, registry=registry,
                                             format_checker=checker)
    except ImportError:  # Debian 12's 4.10
        for uri, schema in schemas.items():
            resolver = jsonschema.RefResolver(base_uri=uri, referrer=schema,
                                              store=schemas)
            out[uri.rsplit("/", 1)[1]] = cls(schema, resolver=resolver,
                                             format_checker=checker)
    return out["report.schema.json"], out["event.schema.json"]


def captures(dirs):
    for d in dirs:
        if not os.path.isdir(d):
            print(f"schema-check: {d}: not there, skipped", file=sys.stderr)
            continue
        for root, _, files in os.walk(d):
            for name in sorted(files):
                if CAPTURE.search(name):
                    yield os.path.join(root, name)


def run(binary, fmt, capture):
    p = subprocess.run([binary, "report", "--no-progress", "-f", fmt, capture],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=300, check=False)
    return p.returncode, p.stdout.decode("utf-8")


def describe(err):
    where = "/".join(str(p) for p in err.absolute_path) or "(top)"
    return f"at {where}: {err.message[:300]}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tcpaudit", required=True)
    ap.add_argument("--schemas", required=True)
    ap.add_argument("dirs", nargs="+")
    args = ap.parse_args()
    report_v, event_v = validators(args.schemas)
    errors = []
    files = reports = events = unreadable = 0
    for cap in captures(args.dirs):
        files += 1
        rc, out = run(args.tcpaudit, "json", cap)
        if rc == 1:  # no capture could be read: nothing is written
            unreadable += 1
            if out:
                errors.append(f"{cap}: exit 1 but a report was written")
            continue
        if rc not in (0, 3):
            errors.append(f"{cap}: tcpaudit -f json exited {rc}")
            continue
        doc = json.loads(out)
        reports += 1
        for err in report_v.iter_errors(doc):
            errors.append(f"{cap} (json) {describe(err)}")
        rc, out = run(args.tcpaudit, "ndjson", cap)
        if rc not in (0, 3):
            errors.append(f"{cap}: tcpaudit -f ndjson exited {rc}")
            continue
        lines = out.splitlines()
        for n, line in enumerate(lines, 1):
            ev = json.loads(line)
            events += 1
            for err in event_v.iter_errors(ev):
                errors.append(f"{cap} (ndjson line {n}) {describe(err)}")
        # the same record, written by the same code, in both formats
        records = [json.loads(l)["tcpaudit"] for l in lines]
        if [c["id"] for c in doc["connections"]] != [r["id"] for r in records]:
            errors.append(f"{cap}: json and ndjson list different connections")
        elif doc["connections"] != records:
            errors.append(f"{cap}: json and ndjson records differ")
    print(f"schema-check: {files} captures, {reports} reports and {events} "
          f"events validated, {unreadable} unreadable inputs")
    for e in errors[:MAX_ERRORS_SHOWN]:
        print("FAIL", e)
    if len(errors) > MAX_ERRORS_SHOWN:
        print(f"... and {len(errors) - MAX_ERRORS_SHOWN} more failures")
    if not reports:
        print("schema-check: no report was validated", file=sys.stderr)
        return 1
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
