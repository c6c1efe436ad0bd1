#!/usr/bin/env bash
# ApplicationStart: (re)start the app on the installed revision. Running it twice leaves one app running.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$SAMPLE_APP_SERVICE_MANAGER" == systemd ]]; then
    # restart, not start: a second run (or a redeploy onto a running instance) picks up the new files.
    systemctl restart "$SAMPLE_APP_UNIT"
    systemctl is-active --quiet "$SAMPLE_APP_UNIT" || die "$SAMPLE_APP_UNIT is not active; see: journalctl -u $SAMPLE_APP_UNIT"
    log "$SAMPLE_APP_UNIT started"
    exit 0
fi

mkdir -p "$SAMPLE_APP_RUN_DIR"
pid="$(running_pid)"
if [[ -n "$pid" ]]; then
    log "the app is already running (pid $pid): restarting it on the installed revision"
    "$(dirname "${BASH_SOURCE[0]}")/application_stop.sh"
fi
# Output goes to a log file, not to this script's stdout/stderr: the CodeDeploy agent waits until the script's
# output pipes close, so a background process holding them would hang the event until its timeout.
SAMPLE_APP_PID_FILE="$SAMPLE_APP_PID_FILE" nohup "$PYTHON" "$SAMPLE_APP_ROOT/app/server.py" \
    >>"$SAMPLE_APP_LOG_FILE" 2>&1 </dev/null &
pid=$!
# The app writes its own pid file once it listens; wait for it, or for the process to die (a bad port, a crash).
for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || die "the app exited at start; last lines of $SAMPLE_APP_LOG_FILE:
$(tail -n 20 "$SAMPLE_APP_LOG_FILE")"
    [[ -s "$SAMPLE_APP_PID_FILE" ]] && break
    sleep 0.1
done
[[ -s "$SAMPLE_APP_PID_FILE" ]] || die "the app (pid $pid) did not start listening within 5 s; see $SAMPLE_APP_LOG_FILE"
log "the app started (pid $pid) on ${SAMPLE_APP_BIND}:${SAMPLE_APP_PORT}"
