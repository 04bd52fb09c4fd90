#!/bin/bash
# step.sh - one step of pipeline.sh: prepare, train, evaluate or clean up ($1).
#SBATCH --job-name=step
#SBATCH --nodes=1
#SBATCH --gpus-per-node=1
#SBATCH --time=00:10:00
#SBATCH --output=pipeline_%j.out
echo "step $1"
