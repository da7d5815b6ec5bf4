#!/usr/bin/env bash
# The sharded optimizer step (ZeRO-1) against the allreduce step (docs/distributed.md, "The sharded step"):
# XGRAD_DIST_SHARD=1 and =0 alternating, per-rank batch 32 and 64 (ONE=0 skips the one-process baseline).
#   [BATCHES=32] bench/dist_shard.sh XGRAD DATA_DIR [ROUNDS] [EPOCHS] [extra xgrad train flags]
VAR=XGRAD_DIST_SHARD exec "$(dirname "$0")/dist_env.sh" "$@"
