"""The one command a drain sends to the instance: wait there until no request is in flight, or until the bound.

The script runs the configured check (`drainInFlightCommand`, a shell command that prints the number of requests in
flight) every `CHECK_INTERVAL_SECONDS` on the instance itself and ends as soon as `ZERO_CHECKS_TO_DRAIN` checks in a
row print 0, or when the bound has passed. So a drain costs one SSM command however long it lasts, and noticing the
last request's end costs a local check interval instead of an SSM round trip.

Its last line says how it ended, for `parse`:
    drain-wait: drained in_flight=0 checks=12 elapsed_cs=118
    drain-wait: bound in_flight=3 checks=290 elapsed_cs=2903
A check that fails or prints something else than a number ends the script at once with exit code 3 and the reason on
stderr: a broken check must be seen, not waited out.

POSIX sh (the SSM agent runs AWS-RunShellScript commands with `sh`), Linux only (/proc/uptime is its clock, so
there is no `date` process per check and no wall-clock jump can cut the wait short).
"""

from __future__ import annotations

import math
import re

from drain.decision import InstanceWait

CHECK_INTERVAL_SECONDS = 0.1
# Two zero checks in a row (0.1 s apart): one zero can be the instant between a request being accepted on a
# keep-alive connection and the app counting it.
ZERO_CHECKS_TO_DRAIN = 2
CHECK_FAILED_EXIT_CODE = 3
_HEREDOC_END = "DRAIN_IN_FLIGHT_CHECK"
_RESULT = re.compile(r"^drain-wait: (drained|bound) in_flight=(\d+) checks=(\d+) elapsed_cs=(\d+)$")

_TEMPLATE = r"""# drain: wait here until no request is in flight, at most @BOUND_CS@ centiseconds (docs/drain.md).
check_command=$(cat <<'@END@'
@COMMAND@
@END@
)
now_cs() {
    read -r up _ </proc/uptime
    frac=${up#*.}
    echo $(( ${up%.*} * 100 + ${frac#0} ))
}
start=$(now_cs)
zeros=0
checks=0
while :; do
    out=$(eval "$check_command") || {
        code=$?
        echo "drain-wait: the in-flight check failed with exit code $code: $out" >&2
        exit @FAILED@
    }
    n=$(printf '%s\n' "$out" | awk 'NF { last = $0 } END { gsub(/[[:space:]]/, "", last); print last }')
    case $n in
        '' | *[!0-9]*)
            echo "drain-wait: the in-flight check printed '$out', not a number of requests" >&2
            exit @FAILED@
            ;;
    esac
    checks=$((checks + 1))
    elapsed=$(( $(now_cs) - start ))
    if [ "$n" -eq 0 ]; then zeros=$((zeros + 1)); else zeros=0; fi
    if [ "$zeros" -ge @ZEROS@ ]; then
        echo "drain-wait: drained in_flight=0 checks=$checks elapsed_cs=$elapsed"
        exit 0
    fi
    if [ "$elapsed" -ge @BOUND_CS@ ]; then
        echo "drain-wait: bound in_flight=$n checks=$checks elapsed_cs=$elapsed"
        exit 0
    fi
    sleep @INTERVAL@
done
"""


def render(check_command: str, bound_seconds: float) -> str:
    """The shell script that waits for `check_command` to print 0, at most `bound_seconds` on the instance.

    The check is embedded in a quoted here-document, so the script adds no quoting of its own to it; it must not
    contain a line that is exactly the here-document's end marker.
    """
    if any(line.strip() == _HEREDOC_END for line in check_command.splitlines()):
        raise ValueError(f"the in-flight command must not contain a line {_HEREDOC_END!r}")
    bound_cs = max(0, math.ceil(bound_seconds * 100))
    return (
        _TEMPLATE.replace("@COMMAND@", check_command.strip())
        .replace("@END@", _HEREDOC_END)
        .replace("@BOUND_CS@", str(bound_cs))
        .replace("@ZEROS@", str(ZERO_CHECKS_TO_DRAIN))
        .replace("@FAILED@", str(CHECK_FAILED_EXIT_CODE))
        .replace("@INTERVAL@", f"{CHECK_INTERVAL_SECONDS:g}")
    )


def parse(output: str) -> InstanceWait:
    """How the wait ended, from the script's output (its last `drain-wait:` line); `ValueError` if there is none."""
    for line in reversed(output.splitlines()):
        match = _RESULT.match(line.strip())
        if match:
            outcome, in_flight, checks, elapsed_cs = match.groups()
            return InstanceWait(
                drained=outcome == "drained",
                in_flight=int(in_flight),
                checks=int(checks),
                instance_seconds=int(elapsed_cs) / 100,
            )
    raise ValueError(f"no 'drain-wait:' result line in {output[-200:]!r}")
