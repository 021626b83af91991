#!/usr/bin/env bash
# make bench: every benchmark of the project, side by side in one run, each figure printed.
# Targets are asserted by the benchmarks themselves (they fail when one is missed), never
# by unit tests: these machines are shared and noisy. Needs bin/tokenbatch (make build),
# the AWS CLI v2, swtpm, and a pcscd with vpcd (run through scripts/with-pcscd.sh).
set -uo pipefail
cd "$(dirname "$0")/.."
export AWS_EC2_METADATA_DISABLED=true TOKENBATCH_REQUIRE_TOOLS=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
fail=0
bench() {
  local title=$1; shift
  printf '\n== %s\n$ %s\n' "$title" "$*"
  "$@" 2>&1 | tee -a "$log" | grep -vE '^(goos|goarch|pkg|cpu):'
  [ "${PIPESTATUS[0]}" -eq 0 ] || { echo "FAILED: $title"; fail=1; }
}

bench "simulator: ResyncMFADevice requests/s on loopback with SigV4 verification (target >= 5,000)" \
  go test -run '^$' -bench '^BenchmarkResync' -benchtime 20000x ./iamsim/
bench "batch: (a) CPU per device vs the AWS CLI v2 loop (target ratio >= 500); (b) throttled at a 50/s limit (target >= 0.95, 0 failed)" \
  go test -run '^$' -bench '^BenchmarkBatch$' -benchtime 1x -timeout 20m ./commands/
bench "plan: 1,000,000-row manifest planned offline (target <= 3 s, <= 256 MiB peak RSS)" \
  go test -run '^$' -bench '^BenchmarkPlan1M$' -benchtime 1x ./plan/
bench "single device: tokenbatch resync-mfa-device vs aws iam resync-mfa-device, whole process" \
  scripts/bench-single.sh 7
bench "YubiKey: both codes for 30 credentials on a virtual key, beside ykman for one code" \
  go test -run '^$' -bench . -benchtime 2s ./yubikey/
bench "TPM: per-code cost on swtpm" \
  go test -run '^$' -bench . -benchtime 2s ./tpmtoken/

echo
[ $fail -eq 0 ] && echo "all benchmarks ran" || echo "some benchmark failed or missed its target"
exit $fail
