"""`deploy.py rehearse`: run a revision's lifecycle on this machine the way the CodeDeploy agent would on a fresh
replacement (green) instance, with no agent and no AWS account, then probe it like the target group and shut it down
like an instance termination.

What happens, in order (each step is a lifecycle event in the report and the timeline):

1. The appspec is validated by `release.appspec.load_appspec`, the validator `bundle` and `release` use.
2. DownloadBundle: the files that would be bundled (`.deployignore` honoured) are copied into
   `<sandbox>/deployment-root/<deployment group id>/d-REHEARSAL/deployment-archive`, the agent's own layout; hooks run
   from there, never from the revision directory, which the rehearsal only reads.
3. The hooks run in CodeDeploy's order for a replacement instance (`GREEN_EVENT_ORDER`). ApplicationStop is skipped
   unless asked for: the agent runs the *previous* revision's ApplicationStop scripts, and a fresh replacement
   instance has none. Install plans every copy and permission change first, as the agent does
   (`release.install_plan`, against what the sandbox holds at that moment), fails on an impossible plan before
   copying anything, then executes the plan under the sandbox root (every destination is re-rooted under it). Each
   script runs as the agent runs it: the agent's environment (its fixed system PATH, no HOME, LIFECYCLE_EVENT,
   DEPLOYMENT_ID, APPLICATION_NAME, DEPLOYMENT_GROUP_NAME, DEPLOYMENT_GROUP_ID, BUNDLE_BUCKET/BUNDLE_KEY), stdin
   closed, umask 022, its own process group, `runas` through `su USER -c`; at its timeout its group gets SIGTERM (a
   script that ignores it is reported as a risk: the agent would wait for it forever), and its output is captured
   like the agent's `logs/scripts.log` (`2024-01-01 12:00:00 [stdout]line`). As with the agent, an event lasts until
   the script has exited *and* its stdout/stderr are closed: a background process that keeps them open fails it.
4. AllowTraffic: the app is probed exactly as the target group would (path, port, matcher, per-probe timeout, interval,
   healthy threshold from cdk.json via `bluegreen.config`, overridable): it passes after `healthy_threshold`
   consecutive successes (the load balancer puts a new target in service after one, F85); the report says when the
   first passing probe came, which is what AllowTraffic costs, and names as a risk every probe that failed after it.
5. BeforeBlockTraffic/AfterBlockTraffic scripts, if any, run as they would when this instance later turns blue.
6. Shutdown: a bounded wave of concurrent requests (loopback only) is put in flight, then every process the revision
   started gets SIGTERM, as systemd does at instance shutdown; every request in flight must complete, and the
   processes must exit within the stop timeout (then SIGKILL, as systemd does).

Conventions for hook scripts (the sample app in `sample-app/` follows them): besides the agent's variables the
rehearsal exports REHEARSAL_ROOT (the sandbox root that stands for `/`: re-root every path under it), REHEARSAL_PORT
(the port it will probe), REHEARSAL_ID (a token marking every process of this rehearsal), and TMPDIR inside the
sandbox. Scripts run with the sandbox root as working directory.

Verdicts: PASSED (exit 0), FAILED (1), bad input (2, also a revision file that cannot be read, refused as `bundle`
refuses it), CANCELLED (4, interrupted), and INCOMPLETE (6) when nothing failed but
something could not be reproduced here (a `runas` user while not running as root). docs/agent-conformance.md lists
what is reproduced, from which agent source file, and what is deliberately not.

Safety: nothing is written outside the sandbox (a new temporary directory, removed at the end unless kept) except the
report files asked for with `--report-dir`; no install destination or permission object may leave the sandbox
(`..` or a symlink pointing out is refused); every process started is found again by process group and by the
REHEARSAL_ID token (and, on Linux, as the child subreaper that adopts whatever a hook daemonizes) and is terminated
and reaped at the end, also on errors, SIGINT and SIGTERM.
"""

from release.rehearse.cli import ENVIRONMENT, EXIT_CODE_MEANINGS, configure_parser, options_from_args, run_from_args
from release.rehearse.lifecycle import rehearse
from release.rehearse.model import (
    DEPLOYMENT_ID,
    EventResult,
    HealthCheckSettings,
    HealthResult,
    Probe,
    RehearsalOptions,
    RehearsalResult,
    ShutdownResult,
)
from release.rehearse.report import format_report

__all__ = [
    "DEPLOYMENT_ID",
    "ENVIRONMENT",
    "EXIT_CODE_MEANINGS",
    "EventResult",
    "HealthCheckSettings",
    "HealthResult",
    "Probe",
    "RehearsalOptions",
    "RehearsalResult",
    "ShutdownResult",
    "configure_parser",
    "format_report",
    "options_from_args",
    "rehearse",
    "run_from_args",
]
