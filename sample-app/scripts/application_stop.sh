#!/usr/bin/env bash
# ApplicationStop: stop the running app gracefully (SIGTERM, then it drains).
# CodeDeploy runs this event with the scripts of the *previous* revision on the instance; on a fresh replacement
# instance there is none, so in this project's blue/green releases it only runs on in-place redeploys. It must
# succeed when nothing is installed or running.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

if [[ "$SAMPLE_APP_SERVICE_MANAGER" == systemd ]]; then
    if systemctl list-unit-files --no-legend "$SAMPLE_APP_UNIT" | grep -q "^$SAMPLE_APP_UNIT"; then
        log "stopping $SAMPLE_APP_UNIT (it drains in-flight requests for up to ${SAMPLE_APP_DRAIN_TIMEOUT} s)"
        systemctl stop "$SAMPLE_APP_UNIT"
    else
        log "$SAMPLE_APP_UNIT is not installed: nothing to stop"
    fi
    exit 0
fi

pid="$(running_pid)"
if [[ -z "$pid" ]]; then
    log "the app is not running: nothing to stop"
    exit 0
fi
log "sending SIGTERM to the app (pid $pid) and waiting for it to drain"
kill -TERM "$pid"
deadline=$((SECONDS + ${SAMPLE_APP_DRAIN_TIMEOUT%.*} + 5))
while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < deadline)) || die "the app (pid $pid) did not exit within $((${SAMPLE_APP_DRAIN_TIMEOUT%.*} + 5)) s of SIGTERM"
    sleep 0.2
done
rm -f "$SAMPLE_APP_PID_FILE"
log "the app stopped"
