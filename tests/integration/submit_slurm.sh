#!/bin/bash
# submit_slurm.sh - issue 15's submission as a Slurm user writes it, on 2 agents x 4 fake GPUs:
# a batch script's #SBATCH and #COLOSSUS directives (the command line winning), one task per
# node seeing all of the node's job GPUs (--ntasks-per-node 1, the default of an #SBATCH
# script), --output/--error files with
# Slurm's patterns, --chdir, the exported environment (ALL by default, --export=NONE and
# lists, never the client's credentials, never shown by show --json nor logged), exact long
# options; the new fields survive a controller restart; and bad input (a directive with a
# typo, an unsupported one, --chdir relative, --ntasks-per-node 0, an unknown --export form,
# a too-large environment, --gpus) is refused with exit 2, naming the problem, and queues
# nothing.
# timeout: 150
. "$(dirname "$0")/cluster_lib.bash"

start_controller --nodes 4 --gpus-per-node 4
start_agent n1 4
start_agent n2 4
wait_nodes_up 2
cd "$T"
njobs() { "$B" jobs --all --json | jfield 'len(d)'; }

log "a batch script: #SBATCH and #COLOSSUS directives, the command line wins"
cat > train.sh <<'EOF'
#!/bin/sh
# a training job as a Slurm user writes it
#SBATCH -N 2
#SBATCH --gpus-per-node=2 --ntasks-per-node=1   # one launcher per node, as torchrun wants
#SBATCH --job-name=from-script
#SBATCH -t 0-00:05:00
#SBATCH -o out.%j.%t
#SBATCH --error=err.%j.%n.%%
#COLOSSUS --max-restarts 0

echo "R=$RANK W=$WORLD_SIZE L=$LOCAL_RANK LW=$LOCAL_WORLD_SIZE N=$NODE_RANK C=$CUDA_VISIBLE_DEVICES FOO=$FOO A=$1 KEY=${COLOSSUS_KEY-unset} S=${COLOSSUS_SECRET_FILE-unset}"
echo "to stderr from $RANK" >&2
EOF
chmod +x train.sh
J=$(FOO=bar COLOSSUS_SECRET_FILE=/s "$B" submit -J cmdline-name ./train.sh arg1) || fail "submit train.sh"
"$B" wait "$J" --timeout 30 || fail "job $J did not succeed: $(cat out.* err.* 2>&1)"
"$B" show "$J" --json > show.json
python3 - "$J" "$T" <<'PY' || fail "show --json: $(cat show.json)"
import json, sys
d = json.load(open("show.json"))
assert d["name"] == "cmdline-name", d["name"]
assert d["num_nodes"] == 2 and d["gpus_per_node"] == 2 and d["ntasks_per_node"] == 1, d
assert d["time_limit_min"] == 5 and d["max_restarts"] == 0, d
assert d["output"] == "out.%j.%t" and d["error"] == "err.%j.%n.%%", d
assert d["cwd"] == sys.argv[2] and d["chdir"] is False, d
assert d["argv"] == [sys.argv[2] + "/./train.sh", "arg1"], d["argv"]
assert "env" not in d and "bar" not in json.dumps(d), "the environment is shown"
PY
for t in 0 1; do
    f=out.$J.$t
    [ -f "$f" ] || fail "no $f: $(ls)"
    grep -qx "R=$t W=2 L=0 LW=1 N=$t C=[0-9],[0-9] FOO=bar A=arg1 KEY=unset S=unset" "$f" ||
        fail "task $t: $(cat "$f")"
    grep -q stderr "$f" && fail "stderr in $f with --error"
    grep -qx "to stderr from $t" "err.$J.$t.%" || fail "err.$J.$t.%: $(cat "err.$J.$t.%" 2>&1)"
done
"$B" logs "$J" 2>logs.err >/dev/null || fail "logs of a job with --output: $(cat logs.err)"
grep -q "the job's output goes to --output out.%j.%t" logs.err || fail "logs: $(cat logs.err)"
grep -l "FOO=bar" "$T"/*.log && fail "the environment is in a daemon's log"

log "directive forms: -N1, quoted values, a comment; none read after the first command"
cat > forms.sh <<'EOF'
#!/bin/bash

#SBATCH -N1 --gpus-per-node 1
#SBATCH --job-name 'two words' # a comment
#COLOSSUS --priority=7
echo "N=$WORLD_SIZE"
#SBATCH --array=0-9
EOF
F=$("$B" submit forms.sh) || fail "submit forms.sh"
"$B" wait "$F" --timeout 30 || fail "job $F"
got=$(job_field "$F" '(d["name"], d["num_nodes"], d["gpus_per_node"], d["priority"])')
[ "$got" = "('two words', 1, 1, 7)" ] || fail "forms.sh: $got"
# not executable: run through its #! line's interpreter, as sbatch would
[ "$(job_field "$F" 'd["argv"]')" = "['/bin/bash', '$T/forms.sh']" ] || fail "argv: $(job_field "$F" 'd["argv"]')"
"$B" logs "$F" | grep -qx "N=1" || fail "forms.sh ran: $("$B" logs "$F")"

log "--requeue (the default restarts) and --no-requeue (none), as directives and flags"
printf '#!/bin/bash\n#SBATCH --no-requeue -N 1 --gpus-per-node 1\ntrue\n' >norq.sh
printf '#!/bin/bash\n#SBATCH --requeue -N 1 --gpus-per-node 1\ntrue\n' >rq.sh
R1=$("$B" submit --hold norq.sh) && R2=$("$B" submit --hold rq.sh) &&
    R3=$("$B" submit --hold --no-requeue --max-restarts 5 rq.sh) || fail "submit (no-)requeue"
got="$(job_field "$R1" 'd["max_restarts"]') $(job_field "$R2" 'd["max_restarts"]') $(job_field "$R3" 'd["max_restarts"]')"
[ "$got" = "0 3 5" ] || fail "max_restarts of --no-requeue, --requeue, --no-requeue then --max-restarts 5: $got"
for K in $R1 $R2 $R3; do "$B" cancel "$K" >/dev/null || fail "cancel $K"; done

log "an #SBATCH script without --ntasks-per-node: one task a node (Slurm's); #COLOSSUS: one a GPU"
printf '#!/bin/sh\n#SBATCH -N 2 --gpus-per-node 2\necho "W=$WORLD_SIZE C=$CUDA_VISIBLE_DEVICES"\n' > sb.sh
printf '#!/bin/sh\n#COLOSSUS -N 2 --gpus-per-node 2\necho "W=$WORLD_SIZE"\n' > co.sh
chmod +x sb.sh co.sh
S1=$("$B" submit ./sb.sh) && S2=$("$B" submit --ntasks-per-node 2 ./sb.sh) && S3=$("$B" submit ./co.sh) ||
    fail "submit sb.sh/co.sh"
for j in $S1 $S2 $S3; do "$B" wait "$j" --timeout 30 || fail "job $j"; done
[ "$("$B" logs "$S1" | grep -c '^W=2 C=[0-9],[0-9]$')" = 2 ] || fail "sb.sh: $("$B" logs "$S1")"
[ "$("$B" logs "$S2" | grep -c '^W=4 ')" = 4 ] || fail "sb.sh, 2 tasks: $("$B" logs "$S2")"
[ "$("$B" logs "$S3" | grep -c '^W=4$')" = 4 ] || fail "co.sh: $("$B" logs "$S3")"

log "--ntasks-per-node 2 on 4 GPUs: RANK counts tasks, each sees the 4 GPUs"
J2=$("$B" submit -N 2 --gpus-per-node 4 --ntasks-per-node 2 -- sh -c \
    'echo "R=$RANK W=$WORLD_SIZE L=$LOCAL_RANK LW=$LOCAL_WORLD_SIZE C=$CUDA_VISIBLE_DEVICES"') || fail "submit"
"$B" wait "$J2" --timeout 30 || fail "job $J2"
"$B" logs "$J2" > l2.txt || fail "logs $J2"
[ "$(grep -c '^R=' l2.txt)" = 4 ] || fail "4 tasks: $(cat l2.txt)"
for r in 0 1 2 3; do
    grep -qx "R=$r W=4 L=$((r % 2)) LW=2 C=0,1,2,3" l2.txt || fail "task $r: $(cat l2.txt)"
done

log "--export: NONE, a list, never a credential"
E1=$(FOO=bar "$B" submit --export=NONE -- sh -c 'echo "FOO=${FOO-unset}"') || fail "submit NONE"
E2=$(FOO=bar FOO2=two "$B" submit --export FOO2,BAR=baz -- sh -c 'echo "FOO=${FOO-unset} FOO2=$FOO2 BAR=$BAR"') ||
    fail "submit list"
E3=$(FOO=bar "$B" submit --export=ALL,BAR=baz -- sh -c 'echo "FOO=${FOO-unset} BAR=$BAR"') || fail "submit ALL,"
for j in $E1 $E2 $E3; do "$B" wait "$j" --timeout 30 || fail "export job $j"; done
"$B" logs "$E1" | grep -qx "FOO=unset" || fail "--export=NONE: $("$B" logs "$E1")"
"$B" logs "$E2" | grep -qx "FOO=unset FOO2=two BAR=baz" || fail "--export list: $("$B" logs "$E2")"
"$B" logs "$E3" | grep -qx "FOO=bar BAR=baz" || fail "--export ALL,: $("$B" logs "$E3")"

log "--chdir: the directory, or the job fails naming it"
mkdir wd
C1=$("$B" submit -D "$T/wd" -- sh -c 'pwd') || fail "submit --chdir"
"$B" wait "$C1" --timeout 30 || fail "chdir job"
"$B" logs "$C1" | grep -qx "$T/wd" || fail "chdir: $("$B" logs "$C1")"
C2=$("$B" submit --chdir "$T/missing" -- sh -c 'pwd') || fail "submit --chdir missing"
"$B" wait "$C2" --timeout 30 && fail "a job in a missing directory succeeded"
[ "$(job_state "$C2")" = failed ] || fail "state $(job_state "$C2")"
job_field "$C2" 'd["reason"]' | grep -q "working directory $T/missing (--chdir) does not exist" ||
    fail "reason: $(job_field "$C2" 'd["reason"]')"
[ -e missing ] && fail "the missing directory was made"
O=$("$B" submit --gpus-per-node 1 -D "$T/wd" -o 'o.%x.%u.%N' -- sh -c 'echo out; echo err >&2') || fail "submit -o"
"$B" wait "$O" --timeout 30 || fail "output job"
f=$(ls wd/o.sh.*.n[12]) || fail "no wd/o.sh.USER.NODE: $(ls wd)"
[ "$(sort "$f" | tr '\n' ' ')" = "err out " ] || fail "stdout+stderr in $f: $(cat "$f")"

log "long options match exactly; Slurm's names"
T1=$("$B" submit --time 10 -A default -- true) || fail "--time 10"
[ "$(job_field "$T1" 'd["time_limit_min"]')" = 10.0 ] || fail "--time 10: $(job_field "$T1" 'd["time_limit_min"]')"
"$B" wait "$T1" --timeout 30 || fail "job $T1"

Q=$("$B" submit -q normal -- true) || fail "-q normal (the default QOS)"
"$B" wait "$Q" --timeout 30 || fail "job $Q"
rc=0; "$B" submit --qos nosuch -- true 2>q.err || rc=$?
[ $rc = 1 ] && grep -q "no QOS named 'nosuch'" q.err || fail "--qos nosuch: $rc $(cat q.err)"

log "controller restart: the new fields are journaled"
kill "$CTL_PID"; wait "$CTL_PID" 2>/dev/null
start_controller --nodes 4 --gpus-per-node 4
"$B" show "$J" --json > show2.json
python3 - <<'PY' || fail "after restart: $(cat show2.json)"
import json
d = json.load(open("show2.json"))
assert d["ntasks_per_node"] == 1 and d["output"] == "out.%j.%t" and d["error"] == "err.%j.%n.%%", d
PY
[ "$(job_field "$C1" 'd["chdir"]')" = True ] && [ "$(job_field "$C1" 'd["cwd"]')" = "$T/wd" ] ||
    fail "chdir after restart"

log "bad input: exit 2, the problem named, nothing queued"
before=$(njobs)
# bad RC TEXT ARGS: cluster_lib.bash
printf '#!/bin/sh\n#SBATCH -N 1\n#SBATCH --nodse=2\necho hi\n' > typo.sh
bad 2 "typo.sh:3: #SBATCH --nodse=2: unknown option '--nodse' (nothing was queued)" ./typo.sh
printf '#!/bin/sh\n\n#SBATCH --array=5-1\n' > array.sh
bad 2 "--array 5-1: the range 5-1 ends below its start" ./array.sh
printf '#!/bin/sh\n#SBATCH --dependency afterok:1x\n' > dep.sh
bad 2 "--dependency: afterok: '1x' is not a job id" ./dep.sh
printf '#!/bin/sh\n#SBATCH -N two\n' > badn.sh
bad 2 "badn.sh:2: #SBATCH -N two" ./badn.sh
printf '#!/bin/sh\n#COLOSSUS --controller x\n' > ctl.sh
bad 2 "ctl.sh:2: #COLOSSUS --controller x: unknown option '--controller'" ./ctl.sh
bad 2 "--chdir must be an absolute path, not 'relative'" --chdir relative -- true
bad 2 "--ntasks-per-node must be" --ntasks-per-node 0 -- true
bad 2 "--export '1BAD': '1BAD' is not NAME or NAME=VALUE" --export 1BAD -- true
bad 2 "--export: COLOSSUS_TOKEN is the client's credential: never exported" --export COLOSSUS_TOKEN -- true
bad 2 "unknown option '--gpus': Slurm's --gpus is a total" --gpus 4 -- true
bad 2 "unknown option '--time-lim'" --time-lim 4 -- true
bad 2 "unknown pattern '%q'" -e 'e.%q' -- true
bad 2 "--time must be MIN" -t 1-2-3 -- true
big=$(head -c 100000 /dev/zero | tr '\0' x)
B1=$big B2=$big B3=$big B4=$big B5=$big B6=$big B7=$big B8=$big B9=$big B10=$big B11=$big \
    bad 2 "a job takes at most 1048576 (1 MiB)" -- true
B1=$big B2=$big B3=$big B4=$big B5=$big B6=$big B7=$big B8=$big B9=$big B10=$big B11=$big \
    "$B" submit --export NONE -- true > /dev/null || fail "--export NONE does not narrow a big environment"
[ "$(njobs)" = $((before + 1)) ] || fail "bad submissions queued jobs: $before -> $(njobs)"
# (with COLOSSUS_BIN=bin/colossus-asan: no sanitizer report from the CLI or the daemons)
! grep -l "Sanitizer\|runtime error" ./*.err ./*.out "$T"/agent-*.log 2>/dev/null || fail "sanitizer report"
stop_controller_clean
log "PASS"
