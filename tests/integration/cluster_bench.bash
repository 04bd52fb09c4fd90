#!/bin/bash
# cluster_bench.bash - figures of the real cluster on 127.0.0.1 (not run by make check; run it
# by hand: bash tests/integration/cluster_bench.bash): 4 agents x 8 fake GPUs; trivial 1-GPU
# jobs through the CLI and through the client library (journal group commit), and the latency
# from submission to all 32 ranks of a 4-node x 8-GPU gang running.
. "$(dirname "$0")/cluster_lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
cc -O2 -I"$root/include" -I"$root/src" -I"$root/build/gen" "$root/tests/integration/cluster_bench_submit.c" \
    "$root/build/libcolossus.a" -o "$T/bench_submit" \
    $(pkg-config --libs libuv libprotobuf-c sqlite3 libsodium jansson libmicrohttpd) -ldl -lpthread -lm ||
    fail "cannot build the library benchmark (make first)"
start_controller --nodes 8 --gpus-per-node 8
for i in 1 2 3 4; do start_agent "n$i" 8; done
wait_nodes_up 4
cd "$T"
now() { date +%s.%N; }
t0=$(now); ids=""
for i in $(seq 200); do ids="$ids $("$B" submit --gpus-per-node 1 -- true)"; done
t1=$(now)
for id in $ids; do "$B" wait "$id" >/dev/null || fail "job $id"; done
t2=$(now)
python3 -c "print('CLI: 200 trivial 1-GPU jobs submitted in %.2f s (%.0f submits/s); all done after %.2f s (%.0f jobs/s)' % ($t1-$t0, 200/($t1-$t0), $t2-$t0, 200/($t2-$t0)))"
"$T/bench_submit" "$CTL_ADDR" "$T/key" 5000 | sed 's/^/library: /'
t0=$(now)
wait_for 300 bash -c "[ \"\$(\"$B\" jobs | wc -l)\" = 1 ]" || fail "jobs did not drain"
python3 -c "print('library: all 5,500 trivial jobs ran (real processes) within %.1f s of the last acknowledgement' % ($(now)-$t0))"
lat=""
for k in $(seq 10); do
    J=$("$B" submit -N 4 --gpus-per-node 8 -- sh -c 'date +%s.%N > start.$COLOSSUS_JOB_ID.$RANK')
    "$B" wait "$J" >/dev/null || fail "gang $J"
    st=$(job_field "$J" 'd["submit_time"]')
    lat="$lat $(python3 -c "print(round(($(cat start.$J.* | sort -n | tail -1) - $st) * 1000, 1))")"
done
python3 -c "import statistics; v=[float(x) for x in '$lat'.split()]; print('gang 4x8: submit -> all 32 ranks running: p50 %.1f ms, max %.1f ms (%s)' % (statistics.median(v), max(v), ' '.join('$lat'.split())))"
