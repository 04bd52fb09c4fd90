#!/bin/bash
# sim_power.sh - `colossus sim`'s power model end to end: bad power flags (exit 2, the
# problem named), the JSON contract (every power_* key, power_unsmoothed beside), smoothing
# keeping every ramp within the allowed rate, a 30% grid cut met within 2 s with no second
# over budget, and the SVG of the draw against the budget.
# timeout: 120
set -euo pipefail
BIN=${COLOSSUS_BIN:-bin/colossus}
PY=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

expect_err() { # want_rc want_substring args...
    local want_rc=$1 want=$2 rc=0; shift 2
    "$BIN" sim "$@" >"$tmp/out" 2>"$tmp/err" || rc=$?
    [ "$rc" -eq "$want_rc" ] || fail "sim $* exited $rc, want $want_rc ($(cat "$tmp/err"))"
    grep -qF -- "$want" "$tmp/err" || fail "sim $*: stderr lacks '$want': $(cat "$tmp/err")"
    [ ! -s "$tmp/out" ] || fail "sim $* printed a result"
}
"$BIN" sim --help | grep -q -- '--power-budget-mw' || fail "--help lacks --power-budget-mw"
expect_err 2 "--smoothing wants on or off, got 'maybe'" --smoothing maybe
expect_err 2 "--grid-cut-pct must be a number in [1e-06, 100], not '130'" \
    --power-budget-mw 700 --grid-cut-pct 130 --grid-cut-at-s 10
expect_err 2 "--power-budget-mw must be a number" --power-budget-mw 700XW
expect_err 2 "--power-budget-mw must be a number" --power-budget-mw -5
expect_err 2 "--ramp-limit-pct-per-s must be a number" --ramp-limit-pct-per-s 0
expect_err 2 "give --grid-cut-pct and --grid-cut-at-s together" \
    --power-budget-mw 700 --grid-cut-pct 30
expect_err 2 "--grid-cut-pct needs --power-budget-mw" --grid-cut-pct 30 --grid-cut-at-s 5
expect_err 2 "below the GPUs' minimum power limits: 220.0 MW (200 W each)" \
    --preset colossus2 --power-budget-mw 200
expect_err 2 "below the GPUs' minimum power limits" \
    --preset colossus2 --power-budget-mw 400 --grid-cut-pct 50 --grid-cut-at-s 5
expect_err 2 "--power-admit-frac must be at least" --power-admit-frac 0.1
expect_err 2 "--leaf-budget-mw is below a leaf's GPUs' minimum power limits: 0.051 MW" \
    --preset hgx --nodes 2156 --leaf-budget-mw 0.05
expect_err 2 "--leaf-budget-mw must be a number" --leaf-budget-mw 5XW
expect_err 2 "the power model keeps a 1 s series: at most 366 days" --days 400 --smoothing on

# Llama 3's scale (16,384 GPUs in the frontier job: 5% spares), whole-job restarts, a day; a
# budget under the job's 11.5 MW (admitted oversubscribed), a 30% cut at 30,000 s.
L3=(--preset hgx --nodes 2156 --gpus-per-node 8 --replica-gpus 0 --spares-pct 5 --days 1 --json)
"$BIN" sim "${L3[@]}" --power-budget-mw 10 --power-admit-frac 0.8 --grid-cut-pct 30 \
    --grid-cut-at-s 30000 --power-svg "$tmp/p.svg" >"$tmp/on.json" 2>/dev/null
"$BIN" sim "${L3[@]}" --smoothing off >"$tmp/off.json" 2>/dev/null
"$PY" - "$tmp/on.json" "$tmp/off.json" <<'PYEOF'
import json, sys
on = json.loads(open(sys.argv[1]).read().splitlines()[-1])
off = json.loads(open(sys.argv[2]).read().splitlines()[-1])
keys = ["power_budget_mw", "power_peak_mw", "power_max_ramp_up_mw_per_s",
        "power_max_ramp_down_mw_per_s", "power_seconds_over_budget",
        "power_band_energy_fraction", "power_smoothing_mwh"]
for d in (on, off):
    for k in keys:
        assert k in d and k in d["power_unsmoothed"], k
assert on["power_budget_mw"] == 10 and off["power_budget_mw"] is None
limit = 0.005 * 10
assert on["power_max_ramp_up_mw_per_s"] <= limit + 1e-6, on["power_max_ramp_up_mw_per_s"]
assert on["power_max_ramp_down_mw_per_s"] <= limit + 1e-6, on["power_max_ramp_down_mw_per_s"]
assert on["power_seconds_over_budget"] == 0, on["power_seconds_over_budget"]
assert on["power_unsmoothed"]["power_seconds_over_budget"] > 0
assert 0 < on["power_cut_met_s"] <= 2, on["power_cut_met_s"]
assert on["power_smoothing_mwh"] > 0 and off["power_smoothing_mwh"] == 0
# the raw swing of a 16,384-GPU job: ~10 MW in a second (Llama 3: "tens of megawatts")
assert 9 < off["power_unsmoothed"]["power_max_ramp_down_mw_per_s"] < 10.4
assert on["power_band_energy_fraction"] < on["power_unsmoothed"]["power_band_energy_fraction"]
PYEOF
grep -q '<svg' "$tmp/p.svg" && grep -q 'budget</text>' "$tmp/p.svg" || fail "power SVG"
"$PY" -c "import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])" "$tmp/p.svg" \
    || fail "power SVG is not well-formed XML"
echo "sim_power: ok"
