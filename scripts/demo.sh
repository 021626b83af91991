#!/usr/bin/env bash
# make demo: the main job end to end on the bundled simulator and sample fleet.
# Starts `tokenbatch sim serve`, writes a fresh manifest of the sample fleet's tokens,
# breaks a few rows on purpose, shows the dry-run plan, runs the valid rows, shows that a
# resynced device signs in again, prints where the reports are, and stops the simulator.
set -euo pipefail
cd "$(dirname "$0")/.."
tb=${TOKENBATCH_BIN:-$PWD/bin/tokenbatch}
fleet=samples/fleet.json
out=${DEMO_OUT:-demo-out}
rm -rf "$out"
mkdir -p "$out"
chmod 700 "$out"

# Only loopback, and none of the user's own AWS configuration.
export AWS_EC2_METADATA_DISABLED=true
out=$(cd "$out" && pwd)
export AWS_CONFIG_FILE=$out/aws-config AWS_SHARED_CREDENTIALS_FILE=$out/aws-credentials
: >"$AWS_CONFIG_FILE"; : >"$AWS_SHARED_CREDENTIALS_FILE"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_IAM AWS_CA_BUNDLE
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "starting the IAM simulator with $fleet"
"$tb" sim serve --fleet "$fleet" --ledger "$out/ledger.jsonl" >"$out/sim.out" 2>"$out/sim.log" &
sim=$!
trap 'kill $sim 2>/dev/null; wait $sim 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  url=$(sed -n 's/^listening on //p' "$out/sim.out" | head -1)
  [ -n "$url" ] && break
  sleep 0.05
done
[ -n "$url" ] || { echo "demo: the simulator did not start; see $out/sim.log" >&2; exit 1; }
echo "simulator at $url (pid $sim)"

step "collecting codes: the manifest the fleet's tokens show now"
collected=$(date +%s)
"$tb" sim manifest --fleet "$fleet" --at "$(date -u -d "@$collected" +%Y-%m-%dT%H:%M:%SZ)" >"$out/tokens.csv"
# Break a few rows on purpose, the way manifests go wrong in practice.
awk -F, -v OFS=, '
  NR == 1 { print; next }
  $1 == "walter" { $1 = "xavier"; print; next }            # a serial of another user
  $1 == "trent"  { $3 = substr($3, 2); print; next }        # a spreadsheet dropped a leading zero
  $1 == "victor" { $3 = sprintf("%06d", ($3 + 1) % 1000000); $4 = sprintf("%06d", ($4 + 1) % 1000000); print; next } # wrong codes
  { print }
  END { print "nobody-here,arn:aws:iam::123456789012:mfa/nobody-here,482913,730582" } # an unknown user
' "$out/tokens.csv" >"$out/manifest.csv"
chmod 600 "$out/tokens.csv" "$out/manifest.csv"
echo "$out/manifest.csv: $(($(wc -l <"$out/manifest.csv") - 1)) rows; grace's token drifted beyond the resync window"

step "the dry run: tokenbatch plan --check-iam (changes nothing)"
set +e
"$tb" plan --manifest "$out/manifest.csv" --endpoint-url "$url" --check-iam
rc=$?
set -e
[ $rc -eq 252 ] || { echo "demo: plan exited $rc, expected 252 for the broken rows" >&2; exit 1; }
echo "(plan exit code 252: the manifest has errors, and nothing would be sent without --skip-invalid)"

step "bob signs in with his token before the resync (expected to fail: his token drifted)"
at=$(date -u -d '+30 seconds' +%Y-%m-%dT%H:%M:%SZ)
bobcode() { "$tb" sim manifest --fleet "$fleet" --at "$1" | awk -F, '$1 == "bob" { print $4 }'; }
signin() {
  AWS_ACCESS_KEY_ID=AKIAIBOBDRIFTEXAMPLE AWS_SECRET_ACCESS_KEY=bobDriftedTokenExampleSecret/EXAMPLEKEY \
    /usr/bin/aws --endpoint-url "$url" sts get-session-token --serial-number arn:aws:iam::123456789012:mfa/bob \
    --token-code "$1" --query 'Credentials.Expiration' --output text
}
[ -x /usr/bin/aws ] || { echo "demo: the AWS CLI v2 (/usr/bin/aws) is missing: run 'make deps'" >&2; exit 1; }
if signin "$(bobcode "$at")"; then
  echo "demo: bob signed in before the resync; the sample fleet should have his token drifted" >&2
  exit 1
fi
echo "as expected, bob could not sign in"

step "the run: tokenbatch run --check-iam --skip-invalid (valid rows only)"
set +e
"$tb" run --manifest "$out/manifest.csv" --endpoint-url "$url" --check-iam --skip-invalid --report-dir "$out/reports"
rc=$?
set -e
[ $rc -eq 1 ] || { echo "demo: run exited $rc, expected 1 (the wrong codes and grace's token fail)" >&2; exit 1; }
echo "(run exit code 1: some device did not succeed; the report says which and why)"

step "bob signs in again after the resync"
# With the token's next code: the resync used the code it showed when the manifest was
# collected, and IAM accepts no code twice.
s=$(($(date +%s) / 30)); next=$((collected / 30 + 1)); [ $s -ge $next ] || s=$next
at=$(date -u -d "@$((s * 30 + 1))" +%Y-%m-%dT%H:%M:%SZ)
signin "$(bobcode "$at")" >/dev/null || { echo "demo: bob could not sign in after the resync" >&2; exit 1; }
echo "bob signed in: session credentials issued"

step "reports"
ls -l "$out/reports"
echo "ledger of state-changing calls seen by the simulator: $out/ledger.jsonl"
