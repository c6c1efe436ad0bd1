# shellcheck shell=bash
# Shared by every hook script of the sample app: strict mode, loud failures, and the one place where paths and the
# service manager are decided. Sourced, never run (so it is not a hook and needs no executable bit).
#
# Convention (see README.md, "Running on an instance and under rehearsal"):
#   on an instance   nothing is set: the app lives in /opt/sample-app and runs as the systemd unit sample-app.service;
#   under rehearsal  `deploy.py rehearse` exports REHEARSAL_ROOT (its sandbox root) and REHEARSAL_PORT: every path is
#                    re-rooted under the sandbox and the app runs as a background process with a pid file.
# Each SAMPLE_APP_* variable below can also be set explicitly and wins over both defaults.
set -euo pipefail

die() {
    printf '%s ERROR in %s (%s): %s\n' "$(date -u +%FT%TZ)" "$(basename "$0")" "${LIFECYCLE_EVENT:-manual run}" "$*" >&2
    exit 1
}
# With `set -e` alone a failing command ends the script silently; say which command failed and where.
trap 'die "command failed with exit code $?: ${BASH_COMMAND} (line ${LINENO})"' ERR

log() {
    printf '%s %s: %s\n' "$(date -u +%FT%TZ)" "${LIFECYCLE_EVENT:-manual run}" "$*"
}

REHEARSAL_ROOT="${REHEARSAL_ROOT:-}"
if [[ -n "$REHEARSAL_ROOT" ]]; then
    [[ "$REHEARSAL_ROOT" == /* && -d "$REHEARSAL_ROOT" ]] || die "REHEARSAL_ROOT='$REHEARSAL_ROOT' is not an existing absolute directory"
    default_manager=process
    # A rehearsal must never be reachable from another machine.
    default_bind=127.0.0.1
else
    default_manager=systemd
    default_bind=0.0.0.0
fi

SAMPLE_APP_ROOT="${SAMPLE_APP_ROOT:-${REHEARSAL_ROOT}/opt/sample-app}"
SAMPLE_APP_SERVICE_MANAGER="${SAMPLE_APP_SERVICE_MANAGER:-$default_manager}"
# Must match appPort in cdk.json (the target group's port); the rehearsal passes the port it probes.
SAMPLE_APP_PORT="${SAMPLE_APP_PORT:-${REHEARSAL_PORT:-8080}}"
SAMPLE_APP_BIND="${SAMPLE_APP_BIND:-$default_bind}"
# Below the unit's TimeoutStopSec (35 s), so systemd never has to SIGKILL a draining app.
SAMPLE_APP_DRAIN_TIMEOUT="${SAMPLE_APP_DRAIN_TIMEOUT:-25}"
SAMPLE_APP_UNIT="sample-app.service"
SYSTEMD_UNIT_DIR="${SYSTEMD_UNIT_DIR:-${REHEARSAL_ROOT}/etc/systemd/system}"
SAMPLE_APP_RUN_DIR="${SAMPLE_APP_RUN_DIR:-${SAMPLE_APP_ROOT}/run}"
SAMPLE_APP_PID_FILE="${SAMPLE_APP_RUN_DIR}/sample-app.pid"
SAMPLE_APP_LOG_FILE="${SAMPLE_APP_RUN_DIR}/sample-app.log"
PYTHON="${PYTHON:-python3}"

case "$SAMPLE_APP_SERVICE_MANAGER" in
    systemd | process) ;;
    *) die "SAMPLE_APP_SERVICE_MANAGER='$SAMPLE_APP_SERVICE_MANAGER' must be 'systemd' or 'process'" ;;
esac
[[ "$SAMPLE_APP_PORT" =~ ^[0-9]+$ ]] || die "SAMPLE_APP_PORT='$SAMPLE_APP_PORT' is not a port number"

export SAMPLE_APP_ROOT SAMPLE_APP_PORT SAMPLE_APP_BIND SAMPLE_APP_DRAIN_TIMEOUT

# The pid of the running app started in process mode, or nothing (a stale pid file is removed).
running_pid() {
    local pid
    [[ -f "$SAMPLE_APP_PID_FILE" ]] || return 0
    pid="$(<"$SAMPLE_APP_PID_FILE")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
        printf '%s\n' "$pid"
    else
        rm -f "$SAMPLE_APP_PID_FILE"
    fi
}

# GET http://127.0.0.1:$SAMPLE_APP_PORT$1 and print the body; fails on anything but HTTP 200. Python rather than curl:
# python3 is the app's own runtime, so it is there wherever the app can run.
http_get() {
    "$PYTHON" - "http://127.0.0.1:${SAMPLE_APP_PORT}$1" <<'PY'
import sys
import urllib.request

with urllib.request.urlopen(sys.argv[1], timeout=2) as response:  # noqa: S310 - loopback URL built by the script
    sys.stdout.write(response.read().decode())
PY
}
