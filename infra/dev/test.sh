#!/usr/bin/env bash
# Runs every test against local moto servers it starts (and stops again if
# it started them): one for IAM, STS, DynamoDB and Secrets Manager, one for
# SES alone (reading sent mail back dumps the server's whole data), one for
# Step Functions (tests/sfn.rs turns on its interpreter, its Docker-less
# Lambda and its request recorder, settings global to a server).
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/mfa-monitor-target}"
main_port="${MOTO_PORT:-5000}"
ses_port="${MOTO_SES_PORT:-$((main_port + 1))}"
sfn_port="${MOTO_SFN_PORT:-$((main_port + 2))}"

# The HTML report's tests drive Debian's Chromium headless over WebDriver
# (tests/report_html.rs): installed here when missing, so this one command
# sets up a fresh Debian machine; under CI=true a missing browser fails them.
if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; }; then
    sudo_=""
    [ "$(id -u)" -eq 0 ] || sudo_="sudo"
    $sudo_ apt-get update -qq || { echo "apt-get update failed" >&2; exit 1; }
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq chromium chromium-driver >/dev/null \
        || { echo "apt-get install chromium chromium-driver failed" >&2; exit 1; }
fi
chromium --version 2>/dev/null | head -1

started=()
cleanup() {
    for port in "${started[@]}"; do
        bash infra/dev/moto.sh stop "$port"
    done
}
trap cleanup EXIT
for port in "$main_port" "$ses_port" "$sfn_port"; do
    if [ "$(bash infra/dev/moto.sh start "$port")" = started ]; then
        started+=("$port")
    fi
done
export MOTO_URL="http://127.0.0.1:${main_port}"
export MOTO_SES_URL="http://127.0.0.1:${ses_port}"
export MOTO_SFN_URL="http://127.0.0.1:${sfn_port}"

cargo test --all-targets "$@"
