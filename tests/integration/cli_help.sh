#!/bin/bash
# cli_help.sh - `colossus help COMMAND [SUBCOMMAND]` prints what `COMMAND [SUBCOMMAND] --help`
# prints, for every command `colossus --help` lists; bad uses exit 2; `--version`; and the
# manual pages made from the same text (scripts/man.sh: help2man), one per command, that `man`
# renders with the command's flags.
# timeout: 120
. "$(dirname "$0")/cluster_lib.bash"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$T"
"$B" --help >top.txt || fail "--help"
sed -n 's/^  \([a-z][a-z-]*\)  .*/\1/p' top.txt >cmds.txt
[ "$(wc -l <cmds.txt)" -ge 25 ] || fail "commands listed: $(cat cmds.txt)"
grep -q "colossus help COMMAND" top.txt || fail "--help does not mention help COMMAND"

log "help COMMAND is COMMAND --help, for each of $(wc -l <cmds.txt) commands"
while read -r c; do
    rc=0
    "$B" help "$c" >h1.txt 2>e1.txt || rc=$?
    [ $rc = 0 ] || fail "help $c: exit $rc $(cat e1.txt)"
    "$B" "$c" --help >h2.txt 2>/dev/null || true
    cmp -s h1.txt h2.txt || fail "help $c differs from $c --help: $(diff h1.txt h2.txt | head)"
    grep -q "usage: colossus $c" h1.txt || fail "help $c: $(head -3 h1.txt)"
done <cmds.txt
"$B" help tenant add >h1.txt && "$B" tenant add --help >h2.txt && cmp -s h1.txt h2.txt ||
    fail "help tenant add"
grep -q "usage: colossus tenant add" h1.txt || fail "help tenant add: $(head -2 h1.txt)"
"$B" help >h1.txt && cmp -s h1.txt top.txt || fail "help alone is not --help"

log "bad uses: exit 2"
rc=0
"$B" help no-such-command >out.txt 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q "unknown command 'no-such-command'" err.txt || fail "help no-such-command: $rc"
rc=0
"$B" help tenant add more >out.txt 2>err.txt || rc=$?
[ $rc = 2 ] && grep -q "one command (and its subcommand)" err.txt || fail "help with 3 words: $rc"
"$B" --version | grep -Eq '^colossus [0-9a-z.+-]+$' || fail "--version: $("$B" --version)"

log "manual pages from the same text"
command -v help2man >/dev/null || fail "help2man is missing (scripts/install-deps.sh installs it)"
sh "$ROOT/scripts/man.sh" "$B" man 2>man.log || fail "man.sh: $(cat man.log)"
while read -r c; do
    [ -s "man/colossus-$c.1" ] || fail "no page for $c"
done <cmds.txt
[ -s man/colossus.1 ] || fail "no colossus.1"
LC_ALL=C MANWIDTH=100 MANPAGER=cat man -l man/colossus-nodes.1 >nodes.man 2>/dev/null ||
    fail "man -l colossus-nodes.1"
grep -q -- "--summary" nodes.man && grep -q "colossus-nodes - list nodes" nodes.man ||
    fail "the nodes page: $(head -20 nodes.man)"
LC_ALL=C MANPAGER=cat man -l man/colossus-submit.1 | grep -q -- "--gpus-per-node" ||
    fail "the submit page lacks --gpus-per-node"
log "ok"
