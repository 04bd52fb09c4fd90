#!/bin/bash
# sweep.sh - a hyper-parameter sweep as training teams write it for Slurm: an array job of 8
# learning rates, at most 2 running at once. Runs unchanged under `sbatch sweep.sh` and
# `colossus submit sweep.sh` (tests/integration/submit_array.sh).
#SBATCH --job-name=sweep
#SBATCH --array=0-7%2
#SBATCH --nodes=1
#SBATCH --gpus-per-node=1
#SBATCH --time=00:10:00
#SBATCH --output=sweep_%A_%a.out
LRS=(0.1 0.05 0.02 0.01 0.005 0.002 0.001 0.0005)
echo "task $SLURM_ARRAY_TASK_ID of array $SLURM_ARRAY_JOB_ID: lr=${LRS[$SLURM_ARRAY_TASK_ID]}"
