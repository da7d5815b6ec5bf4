#!/usr/bin/env bash
# The collectives through MPI-3 shared memory against MPI's messages (docs/distributed.md, "Shared memory"):
# XGRAD_DIST_SHM=1 and =0 alternating (VALUES="1 sums 0" adds the hybrid), per-rank batch 32 and 64.
#   [VALUES="1 sums 0"] [BATCHES=32] bench/dist_shm.sh XGRAD DATA_DIR [ROUNDS] [EPOCHS] [extra xgrad train flags]
VAR=XGRAD_DIST_SHM exec "$(dirname "$0")/dist_env.sh" "$@"
