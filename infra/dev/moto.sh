#!/usr/bin/env bash
# Starts or stops a local moto server (the AWS emulator the tests and the
# demo use).
#   moto.sh start [PORT]   start on 127.0.0.1:PORT (default $MOTO_PORT or 5000)
#                          unless something already answers there; prints
#                          `started` on stdout only when it started one, so
#                          a caller stops only the server it started
#   moto.sh stop [PORT]    stop the server this script started on PORT
# Installs `moto[server]` with pip when it is missing.
set -euo pipefail

cmd="${1:-}"
port="${2:-${MOTO_PORT:-5000}}"
pidfile="${TMPDIR:-/tmp}/mfa-monitor-moto-${port}.pid"
url="http://127.0.0.1:${port}"

answering() { curl -fsS -o /dev/null --max-time 2 "$url/moto-api/" 2>/dev/null; }

case "$cmd" in
start)
    if answering; then
        echo "moto already answering at $url" >&2
        exit 0
    fi
    # `python3 -m moto.server` rather than the `moto_server` script: a
    # script pip just installed may not be on PATH yet (pyenv shims).
    if ! python3 -c 'import moto.server, flask' >/dev/null 2>&1; then
        echo "installing moto[server] with pip" >&2
        python3 -m pip install --quiet 'moto[server]' >&2
    fi
    log="${TMPDIR:-/tmp}/mfa-monitor-moto-${port}.log"
    # AWS managed policies (AdministratorAccess) exist only when loaded.
    # moto_server.py is moto's server with DynamoDB requests one at a time
    # (moto's transaction rollback can erase a concurrent write; see there).
    # MOTO_PORT: the port moto's Step Functions interpreter calls back on
    # (an exported MOTO_PORT of the caller's would send it to another
    # server). The request recorder (tests/common/sfn.rs turns it on) writes
    # beside the log, not into the caller's directory.
    recording="${TMPDIR:-/tmp}/mfa-monitor-moto-${port}.recording"
    : >"$recording"
    MOTO_PORT="$port" MOTO_RECORDER_FILEPATH="$recording" MOTO_IAM_LOAD_MANAGED_POLICIES=true \
        nohup python3 "$(dirname "$0")/moto_server.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 60); do
        if answering; then
            echo "moto started at $url (log: $log)" >&2
            echo started
            exit 0
        fi
        sleep 0.5
    done
    echo "moto did not answer at $url within 30 s; see $log" >&2
    exit 1
    ;;
stop)
    if [ -f "$pidfile" ]; then
        kill "$(cat "$pidfile")" 2>/dev/null || true
        rm -f "$pidfile"
        echo "moto on port $port stopped" >&2
    fi
    ;;
*)
    echo "usage: $0 start|stop [PORT]" >&2
    exit 2
    ;;
esac
