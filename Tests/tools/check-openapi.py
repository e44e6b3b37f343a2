#!/usr/bin/env python3
"""check-openapi: validates the OpenAPI document, checks it covers the daemon's routes, problem types and links, and checks captured streams against it."""
import json
import os
import re
import sys

import yaml

METHODS = ("get", "put", "post", "delete", "patch")
# Slugs the daemon answers outside any one operation's contract: 405 comes from the router for a
# method the document does not list, peer-error only appears inside a fan-out listing's `errors`.
NOT_PER_OPERATION = {"method-not-allowed", "peer-error"}

passed = failed = 0
failures = []


def check(ok, what):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        failures.append(what)
        print(f"FAILED openapi: {what}", file=sys.stderr)


def load(path):
    # The C loader when there is one: the contract runs this under an emulated CPU.
    with open(path) as f:
        return yaml.load(f, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def shape(path):
    """A template with its parameter names blanked: /v1/hosts/{name} and /v1/hosts/{host} are one route."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def swift_sources(root):
    for directory, _, files in os.walk(os.path.join(root, "Sources", "Server")):
        for f in sorted(files):
            if f.endswith(".swift"):
                with open(os.path.join(directory, f)) as src:
                    yield src.read()


def filter_type_sources(root):
    for directory, _, files in os.walk(os.path.join(root, "Sources", "Engine", "FilterTypes")):
        for f in sorted(files):
            if f.endswith(".swift"):
                with open(os.path.join(directory, f)) as src:
                    yield src.read()


def walk(node):
    yield node
    if isinstance(node, dict):
        for v in node.values():
            yield from walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from walk(v)


def deref(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        target = doc
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node = target
    return node


def check_stream(doc, schema_name, path, sse, end_reason, min_ticks):
    """Every NDJSON line (or SSE event's data) of a captured stream is one
    `SCHEMA` of the document; at least `min_ticks` ticks came, and with `end_reason` the last event
    is the end with that reason."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(
        {"$ref": f"#/components/schemas/{schema_name}", "components": doc["components"]},
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    with open(path) as f:
        text = f.read()
    if sse:
        check(text.startswith("retry: "), f"{path}: the SSE stream starts with a retry hint")
        events = []
        for block in text.split("\n\n"):
            fields = [line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":")]
            check(all(len(f) == 2 for f in fields), f"{path}: every SSE line is 'field: value': {block[:200]!r}")
            fields = [f for f in fields if len(f) == 2 and f[0] != "retry"]
            if not fields:
                continue
            kinds = dict(fields)
            check(kinds.get("event") in ("stats", "end") and kinds.get("id", "").isdigit(),
                  f"{path}: an SSE event has an id and event stats or end: {block[:200]!r}")
            events.append(kinds.get("data", ""))
    else:
        events = [line for line in text.split("\n") if line.strip()]
    objects = []
    for data in events:
        try:
            objects.append(json.loads(data))
        except ValueError:
            check(False, f"{path}: an event is not JSON: {data[:200]!r}")
            continue
        errors = sorted(validator.iter_errors(objects[-1]), key=str)
        check(not errors, f"{path}: an event is a {schema_name}: {errors[0].message if errors else ''}")
    ticks = [o for o in objects if not o.get("end")]
    check(len(ticks) >= min_ticks, f"{path}: at least {min_ticks} ticks arrived ({len(ticks)})")
    if end_reason:
        last = objects[-1] if objects else {}
        reasons = end_reason.split("|")
        check(last.get("end") is True and last.get("reason") in reasons and len(last) == 2,
              f"{path}: the stream ends with {' or '.join(reasons)} ({last})")
    check(all(not o.get("end") for o in objects[:-1]), f"{path}: nothing follows the end event")
    print(f"{path}: {len(ticks)} ticks, {len(objects) - len(ticks)} end events")


def check_streams(doc, junit_path, specs):
    """`--streams JUNIT SPEC...`, SPEC being NAME,SCHEMA,FILE[,sse][,end=REASON[|REASON...]][,min=N]: one JUnit
    case per captured stream, all in one process (a Python start costs seconds in the VM)."""
    from xml.sax.saxutils import quoteattr

    global passed, failed
    cases = []
    for spec in specs:
        name, schema, path, *flags = spec.split(",")
        options = dict((f.split("=", 1) + [""])[:2] for f in flags)
        passed = failed = 0
        failures.clear()
        try:
            check_stream(doc, schema, path, "sse" in options, options.get("end"), int(options.get("min", "1")))
        except Exception as e:  # a crash on a stream is that stream's failure
            check(False, f"{path}: {e!r}")
        if failed:
            message = quoteattr("; ".join(failures)[:2000])
            cases.append(f'<testcase classname="streams" name="{name}"><failure message={message}/></testcase>')
        else:
            cases.append(f'<testcase classname="streams" name="{name}"/>')
    with open(junit_path, "w") as f:
        f.write('<testsuite name="streams">' + "".join(cases) + "</testsuite>\n")


doc_path = sys.argv[1]
if len(sys.argv) > 3 and sys.argv[2] == "--streams":
    check_streams(load(doc_path), sys.argv[3], sys.argv[4:])
    sys.exit(0)
root = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(doc_path)), "..")
doc = load(doc_path)
try:
    from openapi_spec_validator import validate

    validate(doc)
    check(True, "valid")
except Exception as e:  # the validator raises many kinds; all mean "invalid"
    check(False, f"invalid document: {e}")
check(str(doc.get("openapi", "")).startswith("3.1"), "is OpenAPI 3.1")
paths = doc.get("paths", {})

# Every route the daemon registers is documented, and nothing else is.
sources = list(swift_sources(root))
routes = set()
for text in sources:
    for method, path in re.findall(r'router\.(get|put|post|delete)\(\s*"([^"]+)"', text):
        routes.add((method, shape(path)))
check(len(routes) >= 18, f"found the daemon's routes in {root}/Sources/Server ({len(routes)})")
# Filter types declare their operations in their Engine folder; the daemon serves each under the attachment.
type_sources = list(filter_type_sources(root))
operations = set()
for text in type_sources:
    for name, method in re.findall(r'FilterTypeOperation\(\s*name: "([a-z-]+)", method: "([A-Z]+)"', text):
        operations.add((method.lower(), shape(f"/v1/hosts/{{host}}/attachments/{{id}}/{name}")))
check(len(operations) >= 1, f"found the filter types' operations ({len(operations)})")
routes |= operations
documented = {(m, shape(p)) for p, ops in paths.items() for m in ops if m in METHODS}
for method, path in sorted(routes - documented):
    check(False, f"documents {method.upper()} {path} (a route of the daemon)")
for method, path in sorted(documented - routes):
    check(False, f"{method.upper()} {path} is a route of the daemon (documented, not served)")
check(routes <= documented, "every route of the daemon is documented")

# Every problem type the daemon can answer is named in the document.
slugs = set()
for text in sources:
    slugs.update(re.findall(r'Problem\(\s*"([a-z0-9-]+)"', text))
    slugs.update(re.findall(r'typeBase \+ "([a-z0-9-]+)"', text))
for text in type_sources:
    slugs.update(re.findall(r'FilterOperationError\(\s*type: "([a-z0-9-]+)"', text))
    # a filter type's own 409 for a refused detach (ForceDetach's type)
    slugs.update(re.findall(r'message: "[a-z-]+", type: "([a-z0-9-]+)"', text))
check(len(slugs) >= 15, f"found the daemon's problem slugs ({len(slugs)})")
urns = set()
for node in walk(doc):
    if isinstance(node, dict):
        for key in ("const", "enum"):
            values = node.get(key)
            for v in values if isinstance(values, list) else [values]:
                if isinstance(v, str) and v.startswith("urn:dmflt:problem:"):
                    urns.add(v[len("urn:dmflt:problem:"):])
problem_text = doc["components"]["schemas"]["Problem"]["description"]
for slug in sorted(slugs):
    if slug in NOT_PER_OPERATION:
        check(slug in yaml.safe_dump(doc), f"the problem type {slug} is described")
    else:
        check(slug in urns, f"the problem type {slug} is an answer of some operation")
    check(slug in problem_text or slug in NOT_PER_OPERATION, f"the Problem description lists {slug}")
for slug in sorted(urns - slugs):
    check(False, f"the document's problem type {slug} is one the daemon answers")

# Every operation documents its errors as problem+json, with an enumerated type.
operation_ids = {}
for path, ops in paths.items():
    for method, op in ops.items():
        if method not in METHODS:
            continue
        operation_ids[op.get("operationId")] = (path, method, op)
        responses = op.get("responses", {})
        errors = [c for c in responses if str(c)[0] in "45"]
        check(bool(errors), f"{method.upper()} {path} documents its errors")
        for code in errors:
            content = deref(doc, responses[code]).get("content", {})
            check("application/problem+json" in content, f"{method.upper()} {path} {code} is problem+json")
            schema = deref(doc, content.get("application/problem+json", {}).get("schema", {}))
            named = any(isinstance(n, dict) and ("const" in n or "enum" in n) for n in walk(schema.get("allOf", [])))
            check(named, f"{method.upper()} {path} {code} names its problem types")
        if "/v1/hosts/{host}/" in path:
            for code in ("502", "504", "508"):
                check(code in responses, f"{method.upper()} {path} documents the forwarding error {code}")


def parameter_names(path, op):
    ops = paths[path]
    return {deref(doc, p)["name"] for p in ops.get("parameters", []) + op.get("parameters", [])}


# Links name real operations and their parameters, so the stateful phase can follow them.
links = 0
for op_id, (path, method, op) in operation_ids.items():
    for code, response in op.get("responses", {}).items():
        for name, link in deref(doc, response).get("links", {}).items():
            links += 1
            target = operation_ids.get(link.get("operationId"))
            check(target is not None, f"link {op_id} {code} {name} names an operation")
            if target:
                wanted = parameter_names(target[0], target[2])
                given = set(link.get("parameters", {}))
                check(given == {p for p in wanted if "{" + p + "}" in target[0]},
                      f"link {op_id} {code} {name} fills the path parameters of {target[0]}")
check(links >= 10, f"the attachment operations are linked ({links} links)")
print(f"openapi: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
