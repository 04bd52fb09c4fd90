#!/bin/bash
# demo.sh - `make demo`: the scheduling core at full Colossus 2 size, in plain words.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./bin/colossus
echo "== The machine: Colossus 2 as the scheduler sees it"
$bin topo --preset colossus2
echo
echo "== The scheduler at that size: fill it, place gangs, queue 1,000,000 jobs"
$bin bench sched --preset colossus2 | sed '$d'
