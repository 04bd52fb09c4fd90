"""api_openapi.py OPENAPI SCHEMA - the checks of api_openapi.sh (read there what they are):
the document's structure and references, its routes against the server's route table, and
every route and documented status tried against the running controller ($H), each answer
validated against the document. Tokens are $T/USER.tok; the jobs are named in the
environment. Exits non-zero with every disagreement listed."""
import http.client
import json
import os
import re
import sys
import urllib.parse

import jsonschema
from jsonschema import Draft202012Validator

doc_path, schema_path = sys.argv[1], sys.argv[2]
doc = json.load(open(doc_path))
schema = json.load(open(schema_path))
H, T, ROOT = os.environ["H"], os.environ["T"], os.environ["ROOT"]
J = {k: int(os.environ[k]) for k in ("DONE", "RUN1", "RUN2", "BOBS", "PEND", "OSCJ")}
BASE = H + "/api/v1/openapi.json"
errors = []


def err(msg):
    errors.append(msg)
    print("  MISMATCH: " + msg)


METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# ---- structure (OpenAPI 3.1, as far as a JSON Schema of its shape goes) ----
STRUCT = {
    "type": "object",
    "required": ["openapi", "info", "paths"],
    "properties": {
        "openapi": {"type": "string", "pattern": r"^3\.1\.\d+$"},
        "info": {"type": "object", "required": ["title", "version"],
                 "properties": {"title": {"type": "string"}, "version": {"type": "string"}}},
        "paths": {"type": "object", "propertyNames": {"pattern": "^/"},
                  "additionalProperties": {
                      "type": "object",
                      "propertyNames": {"enum": list(METHODS) + ["parameters", "summary",
                                                                 "description", "servers"]},
                      "patternProperties": {"^(get|put|post|delete|patch)$": {
                          "type": "object", "required": ["responses"],
                          "properties": {"responses": {
                              "type": "object", "minProperties": 1,
                              "propertyNames": {"pattern": "^([1-5][0-9][0-9]|default)$"}}}}}}},
        "components": {"type": "object"},
    },
}
for e in Draft202012Validator(STRUCT).iter_errors(doc):
    err("structure: %s: %s" % (list(e.path), e.message))

resolver = jsonschema.RefResolver(BASE, doc, store={H + "/api/v1/schema.json": schema})


def deref(o):
    while isinstance(o, dict) and "$ref" in o:
        _, o = resolver.resolve(o["$ref"])
    return o


def walk_refs(o, where):
    if isinstance(o, dict):
        if "$ref" in o:
            try:
                resolver.resolve(o["$ref"])
            except jsonschema.RefResolutionError as e:
                err("%s: $ref %s does not resolve: %s" % (where, o["$ref"], e))
        for k, v in o.items():
            walk_refs(v, where + "/" + k)
    elif isinstance(o, list):
        for i, v in enumerate(o):
            walk_refs(v, "%s/%d" % (where, i))


walk_refs(doc, "#")
for name, s in doc.get("components", {}).get("schemas", {}).items():
    try:
        Draft202012Validator.check_schema(s)
    except jsonschema.SchemaError as e:
        err("components/schemas/%s is not a JSON Schema: %s" % (name, e.message))
for p, item in doc["paths"].items():
    for m in METHODS:
        for code, r in item.get(m, {}).get("responses", {}).items():
            r = deref(r)
            if "description" not in r:
                err("%s %s %s: a response without a description" % (m, p, code))
            for ct, c in r.get("content", {}).items():
                if "schema" not in c:
                    err("%s %s %s %s: no schema" % (m, p, code, ct))

# ---- the route table: the document's paths and methods are the server's ----
src = open(os.path.join(ROOT, "src/api/rest.c")).read()
table = src[src.index("routes[] = {"):]
table = table[:table.index("\n};")]
server = {("/metrics", "get")}
SEG = {"SEG_ID": "{id}", "SEG_NAME": "{name}", "SEG_TOKEN": "{id}"}
table = re.sub(r"\s+", " ", table)  # an entry clang-format wrapped is one line again
entries = re.findall(r"\{\{([^}]*)\}, \{((?:\{[^}]*\},? ?)+)\}\}", table)
if not entries or len(entries) != table.count("}}}"):  # each entry ends so
    err("cannot read every entry of rest.c's routes[] (%d of %d)" % (len(entries), table.count("}}}")))
for segs, meths in entries:
    path = "/api/v1/" + "/".join(SEG.get(s.strip(), s.strip().strip('"')) for s in segs.split(","))
    for m in re.findall(r'"([A-Z]+)"', meths):
        server.add((path, m.lower()))
documented = {(p, m) for p, item in doc["paths"].items() for m in METHODS if m in item}
for p, m in sorted(server - documented):
    err("the server answers %s %s; the document has no such operation" % (m.upper(), p))
for p, m in sorted(documented - server):
    err("the document has %s %s; the server has no such route" % (m.upper(), p))

# ---- every route, every status ----
validator_cls = jsonschema.validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool)))
tok = {u: open("%s/%s.tok" % (T, u)).read().strip() for u in ("alice", "bob", "oscar", "adm")}
tried = set()
templates = [(re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", p) + "$"), p) for p in doc["paths"]]


def template(path):
    for rx, p in templates:
        if rx.match(path):
            return p
    return None


def request(method, url, who=None, body=None, headers=None, length=None):
    u = urllib.parse.urlsplit(H)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    h = dict(headers or {})
    if who:
        h["Authorization"] = "Bearer " + tok.get(who, who)
    if length is not None:  # a Content-Length and no body: refused at the headers
        c.putrequest(method, url)
        for k, v in h.items():
            c.putheader(k, v)
        c.putheader("Content-Length", str(length))
        c.endheaders()
    else:
        if body is not None:
            h["Content-Type"] = "application/json"
            body = body if isinstance(body, (str, bytes)) else json.dumps(body)
        c.request(method, url, body=body, headers=h)
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, dict((k.lower(), v) for k, v in r.getheaders()), data


def check(method, url, who, want, body=None, length=None, note=""):
    """One request; its status must be want, documented for its route, and its body valid."""
    st, hd, data = request(method, url, who, body, length=length)
    path = urllib.parse.urlsplit(url).path
    p = template(path)
    what = "%s %s%s" % (method, url, " (%s)" % note if note else "")
    if st != want:
        err("%s: status %d, not %d: %s" % (what, st, want, data[:300]))
        return None
    m = method.lower()
    if st == 405:
        r = deref(doc.get("components", {}).get("responses", {}).get("405", {}))
    elif p is None or m not in doc["paths"][p]:
        err("%s: no such operation in the document" % what)
        return None
    else:
        tried.add((p, m, str(st)))
        r = doc["paths"][p][m]["responses"].get(str(st))
        if r is None:
            err("%s: status %d is not documented for %s %s" % (what, st, m.upper(), p))
            return None
        r = deref(r)
    for name in r.get("headers", {}):
        if name.lower() not in hd:
            err("%s: no %s header, which the document gives" % (what, name))
    if "location" in hd and st == 201 and template(hd["location"]) is None:
        err("%s: Location %s is no path of the document" % (what, hd["location"]))
    ct = hd.get("content-type", "").split(";")[0].strip()
    content = r.get("content", {})
    if ct not in content:
        err("%s: Content-Type %s, the document gives %s" % (what, ct, list(content)))
        return None
    if ct != "application/json":
        return data
    sch = content[ct]["schema"]
    v = validator_cls(sch, resolver=resolver)
    try:
        obj = json.loads(data)
    except ValueError as e:
        err("%s: not JSON: %s" % (what, e))
        return None
    try:
        for e in sorted(v.iter_errors(obj), key=lambda e: list(e.path)):
            err("%s: %s: %s" % (what, list(e.absolute_path), e.message))
    except jsonschema.RefResolutionError as e:
        err("%s: the schema's $ref does not resolve: %s" % (what, e))
        return None
    print("  %s %s -> %d valid" % (method, url, st))
    return obj


A = "/api/v1"
# public, and 401 for every other operation without a credential
check("GET", A + "/openapi.json", None, 200)
check("GET", A + "/schema.json", None, 200)
sample = {"/api/v1/jobs/{id}": "/api/v1/jobs/%d" % J["DONE"],
          "/api/v1/nodes/{name}": "/api/v1/nodes/n1", "/api/v1/tenants/{name}": "/api/v1/tenants/A",
          "/api/v1/tokens/{id}": "/api/v1/tokens/tk-0123456789abcdef"}


def concrete(p):
    for k, v in sample.items():
        if p.startswith(k):
            return v + p[len(k):]
    return p


for p, item in doc["paths"].items():
    for m in METHODS:
        if m in item and item[m].get("security", doc.get("security")) != []:
            check(m.upper(), concrete(p), None, 401, note="no credential")
    # 405 for a method the path does not take, and Allow is the document's methods
    st, hd, _ = request("PUT", concrete(p), "oscar")
    want = sorted(m.upper() for m in METHODS if m in item)
    got = sorted(x.strip() for x in hd.get("allow", "").split(",") if x.strip())
    if st != 405 or got != want:
        err("PUT %s: %d, Allow %s; the document's methods are %s" % (p, st, got, want))
    else:
        check("PUT", concrete(p), "oscar", 405)

D, R1, R2, BJ, PJ = J["DONE"], J["RUN1"], J["RUN2"], J["BOBS"], J["PEND"]
check("GET", A + "/whoami", "alice", 200)
# jobs
check("GET", A + "/jobs?all=true&limit=2", "alice", 200)
check("GET", A + "/jobs?limit=0", "alice", 400)
made = check("POST", A + "/jobs", "alice", 201, {"argv": ["true"], "gpus_per_node": 1})
check("POST", A + "/jobs", "alice", 400, {"name": "no argv"})
check("POST", A + "/jobs", "alice", 403, {"argv": ["true"], "tenant": "B"})
check("POST", A + "/jobs", "alice", 413, length=2 << 20)
check("GET", A + "/jobs/%d" % D, "alice", 200)
check("GET", A + "/jobs/%d" % BJ, "alice", 404, note="another tenant's")
for how, url in (("DELETE", A + "/jobs/%d"), ("POST", A + "/jobs/%d/cancel")):
    check(how, url % R1, "oscar", 403, note="another user's")
    check(how, url % BJ, "alice", 404, note="another tenant's")
    check(how, url % D, "alice", 409, note="ended")
check("DELETE", A + "/jobs/%d" % R1, "alice", 200)
check("POST", A + "/jobs/%d/cancel" % R2, "alice", 200)
# logs
logs = check("GET", A + "/jobs/%d/logs?rank=0" % D, "alice", 200)
if logs is not None and b"hello from rank 0" not in logs:
    err("the log of job %d: %r" % (D, logs[:200]))
check("GET", A + "/jobs/%d/logs" % D, "alice", 200, note="rank 0 by default")
check("GET", A + "/jobs/%d/logs?rank=x" % D, "alice", 400)
check("GET", A + "/jobs/%d/logs?rank=7" % D, "alice", 400, note="no such rank")
check("GET", A + "/jobs/%d/logs" % BJ, "alice", 404, note="another tenant's")
check("GET", A + "/jobs/%d/logs" % PJ, "alice", 409, note="not run yet")
# nodes
check("GET", A + "/nodes?limit=1", "alice", 200)
check("GET", A + "/nodes?state=bogus", "alice", 400)
check("GET", A + "/nodes/n1", "alice", 200)
check("GET", A + "/nodes/nosuch", "alice", 404)
for act in ("drain", "resume"):
    check("POST", A + "/nodes/n2/" + act, "oscar", 200, {"reason": "api_openapi"})
    check("POST", A + "/nodes/n2/" + act, "oscar", 400, "[")
    check("POST", A + "/nodes/n2/" + act, "alice", 403)
    check("POST", A + "/nodes/nosuch/" + act, "oscar", 404)
    check("POST", A + "/nodes/n2/" + act, "oscar", 413, length=2 << 20)
# tenants, users, QOS
check("GET", A + "/tenants", "alice", 200)
check("GET", A + "/tenants?x=1", "alice", 400)
check("GET", A + "/tenants/A", "alice", 200)
check("GET", A + "/tenants/A", "bob", 404, note="a tenant bob is not in")
check("GET", A + "/tenants/nosuch", "alice", 404)
check("POST", A + "/tenants", "adm", 201, {"name": "C", "shares": 2, "quota_gpus": 4, "cohort": "k"})
check("POST", A + "/tenants", "adm", 409, {"name": "C"}, note="exists")
check("POST", A + "/tenants", "adm", 400, {"name": "D", "shares": 0})
check("POST", A + "/tenants", "oscar", 403, {"name": "D"})
check("POST", A + "/tenants", "adm", 413, length=2 << 20)
check("PATCH", A + "/tenants/C", "adm", 200, {"shares": 3, "cohort": None, "quota_gpus": None})
check("PATCH", A + "/tenants/C", "adm", 400, {})
check("PATCH", A + "/tenants/C", "alice", 403, {"shares": 1})
check("PATCH", A + "/tenants/nosuch", "adm", 404, {"shares": 1})
check("PATCH", A + "/tenants/C", "adm", 413, length=2 << 20)
c = check("GET", A + "/tenants/C", "adm", 200)
if c and (c["shares"] != 3 or c["cohort"] is not None or c["quota_gpus"] is not None):
    err("tenant C after the PATCH: %s" % c)
check("GET", A + "/users", "oscar", 200)
check("GET", A + "/users?x=1", "oscar", 400)
check("GET", A + "/qos", "alice", 200)
check("GET", A + "/qos?x=1", "alice", 400)
# tokens
new = check("POST", A + "/tokens", "alice", 201, {"scope": "read", "expires_in_s": 3600})
check("POST", A + "/tokens", "alice", 201, note="an empty body")
check("POST", A + "/tokens", "alice", 400, {"scope": "root"})
check("POST", A + "/tokens", "alice", 403, {"user": "bob"})
check("POST", A + "/tokens", "alice", 413, length=2 << 20)
check("GET", A + "/tokens", "alice", 200)
check("GET", A + "/tokens?x=1", "alice", 400)
if new:
    tid = new["info"]["id"]
    who = check("GET", A + "/whoami", new["token"], 200, note="the new token")
    if who and who["user"]["name"] != "alice":
        err("the new token is not alice's: %s" % who)
    check("GET", A + "/tokens/" + tid, "alice", 200)
    check("GET", A + "/tokens/tk-0123456789abcdef", "alice", 404)
    check("DELETE", A + "/tokens/" + tid, "bob", 404, note="not bob's")
    check("DELETE", A + "/tokens/" + tid, "oscar", 403, note="an operator, not an admin")
    check("DELETE", A + "/tokens/" + tid, "alice", 200)
    check("GET", A + "/whoami", new["token"], 401, note="revoked")
# accounting
check("GET", A + "/usage?by=user&since=7d", "alice", 200)
check("GET", A + "/usage?by=week", "alice", 400)
hist = check("GET", A + "/history?state=succeeded&limit=10", "alice", 200)
if hist is not None and D not in [r["job"] for r in hist["history"]]:
    err("history has no run of job %d: %s" % (D, hist))
check("GET", A + "/history?state=bogus", "alice", 400)
check("GET", A + "/audit?since=2026-01-01&limit=5", "oscar", 200)
check("GET", A + "/audit?limit=0", "oscar", 400)
check("GET", A + "/audit?user=bob", "alice", 403)
# the same renderings as the CLI's --json (src/api/json.c, one of each). A tenant's usage
# (decayed, its fair-share factor, its budget's) moves between two reads, and a cancelled
# run's record may still be on its way: the two are read again until they agree (10 s).
import subprocess
import time


def still(v):
    moving = ("usage_gpu_s", "fairshare", "budget_used_gpu_hours")
    return [dict((k, x) for k, x in o.items() if k not in moving) for o in v]


for url, key, cli in ((A + "/tenants", "tenants", ["tenant", "list"]),
                      (A + "/users", "users", ["user", "list"]),
                      (A + "/qos", "qos", ["qos", "list"]),
                      (A + "/tokens", "tokens", ["token", "list"]),
                      (A + "/history?tenant=A", "history", ["history", "--tenant", "A"]),
                      (A + "/usage?by=user", "usage", ["usage", "--by", "user"])):
    env = dict(os.environ, COLOSSUS_TOKEN=tok["oscar"])
    for attempt in range(100):
        st, _, data = request("GET", url, "oscar")
        out = subprocess.run([os.environ["B"]] + cli + ["--json"], env=env, capture_output=True)
        a = still(json.loads(data)[key]) if st == 200 else None
        b = still(json.loads(out.stdout)) if out.returncode == 0 else None
        if a is not None and a == b:
            break
        time.sleep(0.1)
    else:
        diff = [(x, y) for x, y in zip(a or [], b or []) if x != y] or [(a, b)]
        err("GET %s is not `colossus %s --json`: %s %s" % (url, " ".join(cli), diff[0],
                                                        out.stderr[:200]))
# the watch: a stream, so its status and Content-Type only (its body does not end)
def stream_head(url, who):
    u = urllib.parse.urlsplit(H)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    c.request("GET", url, headers={"Authorization": "Bearer " + tok[who]})
    r = c.getresponse()
    st, ct = r.status, (r.getheader("Content-Type") or "").split(";")[0].strip()
    c.close()
    return st, ct


st, ct = stream_head(A + "/watch", "alice")
if st != 200 or ct not in doc["paths"][A + "/watch"]["get"]["responses"]["200"]["content"]:
    err("GET %s/watch: status %d, Content-Type %s" % (A, st, ct))
tried.add((A + "/watch", "get", "200"))
check("GET", A + "/watch?kinds=bogus", "alice", 400)

# power (issue 13): oscar is an operator, alice a user
check("GET", A + "/power", "alice", 200)
check("GET", A + "/power?x=1", "alice", 400)
check("POST", A + "/power/budget", "oscar", 200, {"budget": "1MW"})
check("POST", A + "/power/budget", "oscar", 400, {"budget": "700"}, note="no unit")
check("POST", A + "/power/budget", "oscar", 400, {"budget_w": 5e5, "budget": "1MW"})
check("POST", A + "/power/budget", "alice", 403, {"budget_w": 0})
check("POST", A + "/power/budget", "oscar", 413, length=2 << 20)
check("POST", A + "/power/cut", "oscar", 200, {"cut_pct": 30, "for_s": 600})
check("POST", A + "/power/cut", "oscar", 400, {"cut_pct": 130})
check("POST", A + "/power/cut", "alice", 403, {"cut_pct": 10})
check("POST", A + "/power/cut", "oscar", 413, length=2 << 20)
check("POST", A + "/power/restore", "oscar", 200)
check("POST", A + "/power/restore", "oscar", 400, {"x": 1})
check("POST", A + "/power/restore", "alice", 403)
check("POST", A + "/power/restore", "oscar", 413, length=2 << 20)
check("POST", A + "/power/ramp", "oscar", 200, {"ramp": "5kW/s"})
check("POST", A + "/power/ramp", "oscar", 400, {"ramp": "5kW"})
check("POST", A + "/power/ramp", "alice", 403, {"ramp_w_per_s": 0})
check("POST", A + "/power/ramp", "oscar", 413, length=2 << 20)
check("POST", A + "/power/ramp", "oscar", 200, {"ramp_w_per_s": 0})
check("POST", A + "/power/budget", "oscar", 200, {"budget_w": 0})
# hold, release, requeue (issue 15); oscar's job is held since its submission
OJ = J["OSCJ"]
h = check("POST", A + "/jobs", "alice", 201,
          {"argv": ["true"], "gpus_per_node": 1, "hold": True, "dependency": "afterany:%d" % D})
check("POST", A + "/jobs", "alice", 400, {"argv": ["true"], "dependency": "after:1"})
check("POST", A + "/jobs", "alice", 400, {"argv": ["true"], "hold": 1})
if h:
    hj = check("GET", A + "/jobs/%d" % h["id"], "alice", 200)
    if hj and (hj["held"] is not True or hj["dependency"] != "afterany:%d" % D):
        err("the held job as submitted: %s" % hj)
    check("POST", A + "/jobs/%d/requeue" % h["id"], "alice", 409, note="pending")
    check("POST", A + "/jobs/%d/hold" % h["id"], "alice", 200, note="held already: stays so")
    check("POST", A + "/jobs/%d/release" % h["id"], "alice", 200)
    check("POST", A + "/jobs/%d/release" % h["id"], "alice", 409, note="not held")
check("POST", A + "/jobs/%d/hold" % D, "alice", 409, note="ended")
for act in ("hold", "release", "requeue"):
    check("POST", A + "/jobs/%d/%s" % (OJ, act), "alice", 403, note="another user's")
    check("POST", A + "/jobs/%d/%s" % (BJ, act), "alice", 404, note="another tenant's")
check("POST", A + "/jobs/%d/release" % OJ, "oscar", 200)
check("POST", A + "/jobs/%d/requeue" % D, "alice", 200)

# metrics
check("GET", "/metrics", "oscar", 200)
check("GET", "/metrics", "alice", 403)

# every documented status was tried, but those no test can provoke on a healthy cluster
UNPROVOKED = {"503"}
for p, item in doc["paths"].items():
    for m in METHODS:
        for code in item.get(m, {}).get("responses", {}):
            if (p, m, code) not in tried and code not in UNPROVOKED:
                err("%s %s: documented status %s was not tried" % (m.upper(), p, code))
if errors:
    sys.exit("%d mismatch(es) between the document and the server" % len(errors))
print("every route and documented status agrees with the document (%d tried)" % len(tried))
