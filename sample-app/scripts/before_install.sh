#!/usr/bin/env bash
# BeforeInstall: check the instance can run the app, before CodeDeploy copies the files.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

command -v "$PYTHON" >/dev/null || die "$PYTHON is not installed; the app needs Python 3.9 or later (dnf install python3)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
    || die "$("$PYTHON" --version 2>&1) is too old; the app needs Python 3.9 or later"
if [[ "$SAMPLE_APP_SERVICE_MANAGER" == systemd ]]; then
    command -v systemctl >/dev/null || die "systemctl is missing; set SAMPLE_APP_SERVICE_MANAGER=process to run without systemd"
fi
log "prerequisites present: $("$PYTHON" --version 2>&1), service manager $SAMPLE_APP_SERVICE_MANAGER"
