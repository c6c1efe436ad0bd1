#!/bin/bash
# ApplicationStart: backgrounds the app but leaves it holding the hook's stdout and stderr.
PORT="${REHEARSAL_PORT:-8080}" python3 "${REHEARSAL_ROOT:-}/opt/demo/app/server.py" &
echo started
