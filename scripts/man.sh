#!/bin/sh
# man.sh BIN OUTDIR - a manual page per command of BIN (colossus-COMMAND.1, and colossus.1),
# made by help2man from what `colossus COMMAND --help` prints: the pages and --help are one
# source. Read one with `man -l OUTDIR/colossus-nodes.1`, or install OUTDIR into a man1
# directory.
set -eu
BIN=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
OUT=$2
command -v help2man >/dev/null || {
    echo "man.sh: help2man is missing (Debian: help2man; scripts/install-deps.sh)" >&2
    exit 1
}
mkdir -p "$OUT"
VERSION=$("$BIN" --version | cut -d' ' -f2)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# the commands and their one-line help, as `colossus --help` lists them
"$BIN" --help | sed -n 's/^  \([a-z][a-z-]*\)  *\(.*\)$/\1\t\2/p' >"$W/cmds"
[ -s "$W/cmds" ] || { echo "man.sh: no command listed by $BIN --help" >&2; exit 1; }
n=0
while IFS="$(printf '\t')" read -r cmd what; do
    # help2man runs a program: one that is `colossus CMD`
    printf '#!/bin/sh\nexec "%s" %s "$@"\n' "$BIN" "$cmd" >"$W/colossus-$cmd"
    chmod +x "$W/colossus-$cmd"
    help2man --no-info --no-discard-stderr --version-string="$VERSION" --section=1 \
        --source=Colossus --manual="Colossus manual" --name="$what" \
        --output="$OUT/colossus-$cmd.1" "$W/colossus-$cmd"
    n=$((n + 1))
done <"$W/cmds"
printf '#!/bin/sh\nexec "%s" "$@"\n' "$BIN" >"$W/colossus"
chmod +x "$W/colossus"
help2man --no-info --version-string="$VERSION" --section=1 --source=Colossus \
    --manual="Colossus manual" --name="the operating system of an AI supercomputer" \
    --output="$OUT/colossus.1" "$W/colossus"
echo "man.sh: $((n + 1)) pages in $OUT" >&2
