#!/usr/bin/env bash
# Runs every test against local moto servers it starts (and stops again if
# it started them): one for IAM, STS, DynamoDB and Secrets Manager, one for
# SES alone (reading sent mail back dumps the server's whole data).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mfa-monitor-target}"
main_port="${MOTO_PORT:-5000}"
ses_port="${MOTO_SES_PORT:-$((main_port + 1))}"

cleanup() {
    bash infra/dev/moto.sh stop "$main_port"
    bash infra/dev/moto.sh stop "$ses_port"
}
trap cleanup EXIT
bash infra/dev/moto.sh start "$main_port"
bash infra/dev/moto.sh start "$ses_port"
export MOTO_URL="http://127.0.0.1:${main_port}"
export MOTO_SES_URL="http://127.0.0.1:${ses_port}"

cargo test --all-targets "$@"
