#!/usr/bin/env python3
"""check-openapi: validates the OpenAPI document and checks it covers the routes the design names."""
import sys

import yaml
from openapi_spec_validator import validate

REQUIRED = {
    ("get", "/v1/health"), ("get", "/v1/host"), ("get", "/v1/hosts"), ("get", "/v1/filters"),
    ("get", "/v1/hosts/{host}/devices"),
    ("get", "/v1/hosts/{host}/attachments"), ("post", "/v1/hosts/{host}/attachments"),
    ("get", "/v1/hosts/{host}/attachments/{id}"), ("put", "/v1/hosts/{host}/attachments/{id}"),
    ("delete", "/v1/hosts/{host}/attachments/{id}"),
    ("post", "/v1/hosts/{host}/attachments/{id}/messages"),
}

passed = failed = 0


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAILED openapi: {what}", file=sys.stderr)


with open(sys.argv[1]) as f:
    doc = yaml.safe_load(f)
try:
    validate(doc)
    check(True, "valid")
except Exception as e:  # the validator raises many kinds; all mean "invalid"
    check(False, f"invalid document: {e}")
check(str(doc.get("openapi", "")).startswith("3.1"), "is OpenAPI 3.1")
paths = doc.get("paths", {})
for method, path in sorted(REQUIRED):
    check(method in paths.get(path, {}), f"documents {method.upper()} {path}")
for path, ops in paths.items():
    for method, op in ops.items():
        if method not in ("get", "put", "post", "delete", "patch"):
            continue
        responses = op.get("responses", {})
        errors = [c for c in responses if str(c)[0] in "45"]
        check(bool(errors) or path == "/v1/health", f"{method.upper()} {path} documents its errors")
        for code in errors:
            content = responses[code].get("content", {}) if "$ref" not in responses[code] else {"ref": 1}
            check("application/problem+json" in content or "ref" in content,
                  f"{method.upper()} {path} {code} is problem+json")
print(f"openapi: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
