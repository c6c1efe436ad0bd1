#!/bin/bash
# ApplicationStart: start the installed app in the background, its output away from the hook's pipes.
set -eu
PORT="${REHEARSAL_PORT:-8080}" nohup python3 "${REHEARSAL_ROOT:-}/opt/demo/app/server.py" >/dev/null 2>&1 </dev/null &
sleep 0.5
