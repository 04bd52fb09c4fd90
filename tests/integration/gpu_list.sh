#!/bin/bash
# gpu_list.sh - `colossus gpu list [--json]` and `gpu stat [--json]` against the fake NVML: every
# inventory and telemetry field as the script says, a lost GPU left out and counted, values read
# afresh, bad options refused.
# timeout: 60
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${COLOSSUS_BIN:-$PWD/bin/colossus}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export COLOSSUS_NVML_LIB=$PWD/build/fakenvml/libnvidia-ml.so.1
export COLOSSUS_FAKE_NVML=$tmp/nvml
[ -f "$COLOSSUS_NVML_LIB" ] || { echo "fake NVML not built: make $COLOSSUS_NVML_LIB"; exit 1; }

cat >"$COLOSSUS_FAKE_NVML" <<'S'
gpus 4
gpu 0 name NVIDIA H100 80GB HBM3
gpu 0 uuid GPU-00000000-1111-2222-3333-444444444444
gpu 0 pci 00000000:19:00.0
gpu 0 mem_total 85520809984
gpu 0 power_limit 700000
gpu 0 ecc 1
gpu 1 name NVIDIA H100 80GB HBM3
gpu 1 uuid GPU-11111111-1111-2222-3333-444444444444
gpu 1 pci 00000000:3B:00.0
gpu 1 mem_total 85520809984
gpu 1 power_limit 650000
gpu 1 ecc 0
gpu 1 fabric_state 3
gpu 1 fabric_status 0
gpu 1 fabric_clique 4
gpu 1 fabric_cluster 00112233445566778899aabbccddeeff
gpu 2 name NVIDIA H100 80GB HBM3
gpu 2 uuid GPU-22222222-1111-2222-3333-444444444444
gpu 2 lost 1
gpu 3 name NVIDIA H200
gpu 3 uuid GPU-33333333-1111-2222-3333-444444444444
gpu 3 pci 00000000:DB:00.0
gpu 3 mem_total 150754820096
S

"$BIN" gpu list --json >"$tmp/out.json"
# Expected values come from the script itself, not from a copy of them here.
$PY - "$COLOSSUS_FAKE_NVML" "$tmp/out.json" <<'P'
import json, sys
script, out = sys.argv[1], json.load(open(sys.argv[2]))
gpus = {}
for line in open(script):
    w = line.split(None, 3)
    if len(w) >= 4 and w[0] == "gpu":
        gpus.setdefault(int(w[1]), {})[w[2]] = w[3].strip()
usable = sorted(i for i, g in gpus.items() if g.get("lost") != "1")
assert out["listed_by_nvml"] == 4, out
assert [g["index"] for g in out["gpus"]] == usable, out
for g in out["gpus"]:
    s = gpus[g["index"]]
    assert g["name"] == s["name"], (g, s)
    assert g["uuid"] == s["uuid"], (g, s)
    assert g["pci_bus_id"] == s.get("pci", ""), (g, s)
    assert g["memory_bytes"] == int(s.get("mem_total", 0)), (g, s)
    assert g["power_limit_mw"] == int(s.get("power_limit", 0)), (g, s)
    assert g["ecc"] == ({"1": True, "0": False}.get(s.get("ecc"))), (g, s)
    if "fabric_cluster" in s:
        u = s["fabric_cluster"]
        want = "%s-%s-%s-%s-%s/%s" % (u[:8], u[8:12], u[12:16], u[16:20], u[20:], s["fabric_clique"])
        assert g["clique"] == want, (g, want)
    else:
        assert g["clique"] is None, g
print("json ok:", len(out["gpus"]), "GPUs")
P

# The table: one line per usable GPU, the lost one reported.
"$BIN" gpu list >"$tmp/out.txt"
grep -q '^IDX' "$tmp/out.txt"
[ "$(grep -c 'GPU-' "$tmp/out.txt")" -eq 3 ]
grep -q '00112233-4455-6677-8899-aabbccddeeff/4' "$tmp/out.txt"
grep -q '1 GPU(s) listed by NVML cannot be opened' "$tmp/out.txt"

# Values are read afresh: the lost GPU comes back.
sed -i '/gpu 2 lost 1/d' "$COLOSSUS_FAKE_NVML"
[ "$("$BIN" gpu list --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["gpus"]))')" = 4 ]

# Telemetry (`gpu stat`): every value as the script says; what a GPU does not report is null.
cat >>"$COLOSSUS_FAKE_NVML" <<'S'
gpu 0 power 312500
gpu 0 energy 987654321
gpu 0 temp 64
gpu 0 util_gpu 99
gpu 0 util_mem 55
gpu 0 mem_used 1073741824
gpu 0 sm_clock 1980
gpu 0 mem_clock 2619
gpu 0 ecc_corr 12
gpu 0 ecc_unc 1
gpu 0 remap_corr 2
gpu 0 remap_unc 1
gpu 0 remap_pending 1
gpu 0 remap_failure 0
gpu 1 lost 1
S
"$BIN" gpu stat --json >"$tmp/stat.json"
$PY - "$tmp/stat.json" <<'P'
import json, sys
g = {x["index"]: x for x in json.load(open(sys.argv[1]))["gpus"]}
a = g[0]
want = dict(power_mw=312500, energy_mj=987654321, temp_c=64, util_gpu_pct=99, util_mem_pct=55,
            mem_used_bytes=1073741824, sm_clock_mhz=1980, mem_clock_mhz=2619, ecc_corrected=12,
            ecc_uncorrected=1, remapped_rows=3, remap_pending=True, remap_failure=False,
            retired_pages=None, retired_pending=None, lost=False)
for k, v in want.items():
    assert a[k] == v, (k, a[k], v)
assert g[1]["lost"] is True and g[1]["power_mw"] is None, g[1]
assert g[3]["temp_c"] is None and g[3]["lost"] is False, g[3]
print("stat ok")
P
"$BIN" gpu stat >"$tmp/stat.txt"
grep -E '^0 +no +312\.5 +987654 +64 +99 +55 +1024 +1980 +2619 +12 +1 +3 +yes$' "$tmp/stat.txt" >/dev/null
grep -E '^1 +yes ' "$tmp/stat.txt" >/dev/null
sed -i '/^gpu 1 lost 1$/d' "$COLOSSUS_FAKE_NVML"

# A machine with a driver and no GPU: an empty list, exit 0.
echo "gpus 0" >"$COLOSSUS_FAKE_NVML"
[ "$("$BIN" gpu list --json | $PY -c 'import json,sys; print(len(json.load(sys.stdin)["gpus"]))')" = 0 ]

# Bad usage: exit 2 with the problem named.
set +e
"$BIN" gpu list --bogus 2>"$tmp/err"; rc=$?
set -e
[ $rc -eq 2 ] && grep -q "unknown option '--bogus'" "$tmp/err"
set +e
"$BIN" gpu list extra 2>"$tmp/err"; rc=$?
"$BIN" gpu list --full 2>/dev/null; rc2=$?
"$BIN" gpu frobnicate 2>"$tmp/err2"; rc3=$?
"$BIN" gpu 2>/dev/null; rc4=$?
set -e
[ $rc -eq 2 ] && grep -q "unexpected argument 'extra'" "$tmp/err"
[ $rc2 -eq 2 ] && [ $rc3 -eq 2 ] && [ $rc4 -eq 2 ]
grep -q "unknown subcommand 'frobnicate'" "$tmp/err2"
"$BIN" gpu --help | grep -q 'colossus gpu check'
echo "gpu_list: ok"
