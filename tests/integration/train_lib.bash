# train_lib.bash - sourced by the tests that run examples/train.py's ranks by hand (no
# cluster): PY, the torch check (exit 77 without it), a scratch dir $dir removed at exit with
# every rank of $pids killed, die MSG (the rank logs' tails), free_port.
# Usage: . train_lib.bash TAG   (from the repository root)
PY=/usr/bin/python3
"$PY" -c "import torch.distributed" 2>/dev/null ||
    { echo "python3-torch is not installed (scripts/install-deps.sh)"; exit 77; }
dir=$(mktemp -d "${TMPDIR:-/tmp}/cl-$1-XXXXXX")
pids=()

cleanup() {
    local p
    for p in "${pids[@]}"; do kill -9 -- "-$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT

die() {
    echo "FAIL: $*" >&2
    for f in "$dir"/*.log; do
        [ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; } >&2
    done
    exit 1
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
