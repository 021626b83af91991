#!/bin/sh
# Compares one `resync-mfa-device` with tokenbatch and with the AWS CLI v2, whole process
# each, against the simulator, and prints wall and CPU medians and their ratio.
#   scripts/bench-single.sh [RUNS]      (TOKENBATCH_BIN=bin/tokenbatch to measure a built binary)
set -eu
cd "$(dirname "$0")/.."
if [ -z "${TOKENBATCH_BIN:-}" ] && [ -x bin/tokenbatch ]; then
	TOKENBATCH_BIN="$PWD/bin/tokenbatch"
fi
export TOKENBATCH_BIN="${TOKENBATCH_BIN:-}"
export TOKENBATCH_BENCH_RUNS="${1:-7}" AWS_EC2_METADATA_DISABLED=true
exec go test -count=1 -run '^$' -bench '^BenchmarkSingleResync$' -benchtime 1x ./commands/
