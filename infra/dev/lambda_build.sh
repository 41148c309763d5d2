#!/usr/bin/env bash
# Builds the Lambda release binary as `sam build` does (cargo lambda build
# --release --arm64) and runs it once, under qemu user emulation, against a
# local Lambda Runtime API and moto (infra/dev/lambda_smoke.py). Installs
# what it needs: cargo-lambda and zig from PyPI, the aarch64 Rust target,
# and Debian's qemu-user with the arm64 C library.
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_TARGET_DIR="${CARGO_LAMBDA_TARGET_DIR:-$HOME/.cache/mfa-lambda-target}"

command -v cargo-lambda >/dev/null || python3 -m pip install --quiet cargo-lambda ziglang
python3 -c 'import ziglang' 2>/dev/null || python3 -m pip install --quiet ziglang
rustup target list --installed | grep -q '^aarch64-unknown-linux-gnu$' \
    || rustup target add aarch64-unknown-linux-gnu
if ! command -v qemu-aarch64 >/dev/null || [ ! -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ]; then
    apt_get() { if [ "$(id -u)" = 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
    apt_get install -y -q qemu-user libc6-arm64-cross >/dev/null \
        || { apt_get update -q >/dev/null && apt_get install -y -q qemu-user libc6-arm64-cross >/dev/null; }
fi

echo "--- cargo lambda build --release --arm64"
start=$(date +%s)
cargo lambda build --release --arm64 --bin mfa-monitor
bootstrap="$CARGO_TARGET_DIR/lambda/mfa-monitor/bootstrap"
echo "built in $(( $(date +%s) - start )) s: $bootstrap, $(( $(stat -c %s "$bootstrap") / 1024 )) KiB"

echo "--- one scheduled pass through a local Runtime API (qemu-aarch64)"
moto_port="${MOTO_PORT:-5000}"
started=""
if [ "$(bash infra/dev/moto.sh start "$moto_port")" = started ]; then started=yes; fi
trap '[ -n "$started" ] && bash infra/dev/moto.sh stop "$moto_port"' EXIT
MOTO_URL="http://127.0.0.1:$moto_port" python3 infra/dev/lambda_smoke.py invoke "$bootstrap" \
    --runner "qemu-aarch64 -L /usr/aarch64-linux-gnu"
