#!/usr/bin/env bash
# ValidateService: wait until the app says it is healthy and serves the revision just installed.
# Fails the deployment (and so rolls it back) before the target group would ever send it traffic.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# Below the event's timeout in appspec.yml (60 s), so this script fails with its own message first.
wait_seconds="${SAMPLE_APP_VALIDATE_SECONDS:-45}"
deadline=$((SECONDS + wait_seconds))
until http_get /health >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "GET /health on port $SAMPLE_APP_PORT did not answer 200 within ${wait_seconds} s"
    sleep 0.5
done

expected="$("$PYTHON" -c 'import json, sys; print(json.load(open(sys.argv[1]))["revision"])' "$SAMPLE_APP_ROOT/REVISION")"
version="$(http_get /version)" || die "GET /version failed"
[[ "$version" == *"\"revision\": \"$expected\""* ]] || die "GET /version says $version, expected revision $expected"
log "healthy, serving revision $expected"
