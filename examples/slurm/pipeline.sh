#!/bin/bash
# pipeline.sh - prepare, train and evaluate as jobs that depend on each other, as with Slurm
# (SUBMIT="sbatch --parsable" there; colossus submit prints the id alone): evaluate runs only
# if training succeeded, the clean-up only if it did not (and is cancelled otherwise,
# DependencyNeverSatisfied). Prints the four job ids.
set -e
SUBMIT=${SUBMIT:-colossus submit}
here=$(cd "$(dirname "$0")" && pwd)
prep=$($SUBMIT "$here/step.sh" prepare)
train=$($SUBMIT --dependency=afterok:"$prep" "$here/step.sh" train)
eval=$($SUBMIT --dependency=afterok:"$train" "$here/step.sh" evaluate)
cleanup=$($SUBMIT --dependency=afternotok:"$train" "$here/step.sh" clean-up)
echo "$prep $train $eval $cleanup"
