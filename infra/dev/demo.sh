#!/usr/bin/env bash
# The one-command local demo: starts moto (IAM, STS), seeds a few IAM users
# in a fresh account, runs the real binary for a baseline pass, removes
# bob's MFA, runs again (one alert for bob), and shows `mfa-monitor status`.
# State goes to a local state file; alerts are printed (no channel is set).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mfa-monitor-target}"
export MOTO_PORT="${MOTO_PORT:-5000}"

if [ "$(bash infra/dev/moto.sh start "$MOTO_PORT")" = started ]; then
    trap 'bash infra/dev/moto.sh stop "$MOTO_PORT"' EXIT
fi

echo "== building mfa-monitor (the first build of the AWS SDK takes a few minutes)"
cargo build --quiet
bin="$CARGO_TARGET_DIR/debug/mfa-monitor"

export AWS_ENDPOINT_URL="http://127.0.0.1:${MOTO_PORT}"
export AWS_REGION=us-east-1
eval "$(python3 infra/dev/seed_iam.py seed)"
export AWS_IAM_ACCOUNTS=self
demo_dir="$(mktemp -d)"
export MFA_STATE_FILE="$demo_dir/mfa-monitor-state.json"
unset ALERT_EMAIL_FROM ALERT_EMAIL_TO MFA_STATE_TABLE

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. first pass over AWS account $DEMO_ACCOUNT: a baseline summary, not one alert per user"
"$bin" run

step "2. a second pass: nothing changed, so nothing is sent and nothing written"
"$bin" run

step "3. bob's MFA device is removed"
python3 infra/dev/seed_iam.py remove-mfa bob

step "4. the next pass alerts once, for bob"
"$bin" run

step "5. what the state file holds: mfa-monitor status"
"$bin" status

step "6. the status report, non-compliant first: mfa-monitor report"
"$bin" report
echo
echo "State file: $MFA_STATE_FILE"
