#!/usr/bin/env python3
"""junit-count: sums the tests, failures and errors of JUnit XML reports into one summary line."""
import sys
import xml.etree.ElementTree as ET

label, paths = sys.argv[1], sys.argv[2:]
passed = failed = 0
for path in paths:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"{label}: cannot read {path}: {e}", file=sys.stderr)
        failed += 1
        continue
    for case in root.iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is not None:
            failed += 1
            why = (problem.get("message") or problem.text or "").strip().replace("\n", " ")
            print(f"FAILED {case.get('classname')}.{case.get('name')}: {why[:600]}", file=sys.stderr)
        elif case.find("skipped") is not None:
            failed += 1  # a skipped test is not a passing test
            print(f"SKIPPED (counted as failed) {case.get('classname')}.{case.get('name')}", file=sys.stderr)
        else:
            passed += 1
if passed + failed == 0:
    failed = 1
    print(f"{label}: no test ran", file=sys.stderr)
print(f"{label}: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
