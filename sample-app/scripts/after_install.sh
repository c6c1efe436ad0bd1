#!/usr/bin/env bash
# AfterInstall: record which revision is installed and register the service (files are in place now).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

[[ -f "$SAMPLE_APP_ROOT/app/server.py" ]] || die "$SAMPLE_APP_ROOT/app/server.py is missing: check the files section of appspec.yml"

# /version serves this file. The digest of the installed code identifies the revision even when the deployment id
# says nothing about the commit. Written to a temporary file and renamed, so a reader never sees half of it.
digest="$(cd "$SAMPLE_APP_ROOT/app" && find . -type f -name '*.py' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)"
"$PYTHON" - "$SAMPLE_APP_ROOT/REVISION" "$digest" <<'PY'
import json
import os
import sys

path, digest = sys.argv[1], sys.argv[2]
revision = {
    "revision": digest,
    "deployment_id": os.environ.get("DEPLOYMENT_ID", "manual"),
    "application": os.environ.get("APPLICATION_NAME", ""),
    "deployment_group": os.environ.get("DEPLOYMENT_GROUP_NAME", ""),
}
with open(path + ".tmp", "w", encoding="utf-8") as handle:
    json.dump(revision, handle, sort_keys=True)
    handle.write("\n")
os.replace(path + ".tmp", path)
PY
chmod 0644 "$SAMPLE_APP_ROOT/REVISION"
mkdir -p "$SAMPLE_APP_RUN_DIR"

if [[ "$SAMPLE_APP_SERVICE_MANAGER" == systemd ]]; then
    install -D -m 0644 "$SAMPLE_APP_ROOT/systemd/$SAMPLE_APP_UNIT" "$SYSTEMD_UNIT_DIR/$SAMPLE_APP_UNIT"
    systemctl daemon-reload
    # Enabled so a reboot brings the app back; started by ApplicationStart, not here.
    systemctl enable "$SAMPLE_APP_UNIT"
fi
log "installed revision $digest (deployment ${DEPLOYMENT_ID:-manual}) in $SAMPLE_APP_ROOT"
