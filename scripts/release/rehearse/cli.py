"""The `deploy.py rehearse` command line: its options, turning them into `RehearsalOptions`, and running it."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from bluegreen.config import ConfigError, HealthCheck, load_cdk_json_config
from release.errors import ExitCode, InputError
from release.rehearse.lifecycle import rehearse
from release.rehearse.model import DEFAULT_STOP_TIMEOUT_SECONDS, HealthCheckSettings, RehearsalOptions
from release.rehearse.report import format_report
from release.timeout import duration_argument

HELP = """\
Rehearse a revision on this machine the way the CodeDeploy agent runs it on a new (green) instance: validate the
appspec, copy the bundle, run BeforeInstall .. ValidateService with the agent's environment variables and timeouts,
probe the app like the target group's health check (settings from cdk.json), then send SIGTERM while requests are in
flight and check that none is lost. No AWS account or agent is needed.

Safety: the rehearsal writes only inside a new temporary sandbox directory (and the --report-dir you name). The
revision directory is only read. Every install destination is re-rooted under the sandbox and anything leaving it
('..' or a symlink pointing out) is refused. The hook scripts themselves run as your user with REHEARSAL_ROOT set and
must honour it (see sample-app/README.md); every process they start is terminated at the end, also on Ctrl-C.
"""

ENVIRONMENT = """\
Environment given to hook scripts, as the agent gives it: PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:
/bin (the agent's, not yours), LANG=C.UTF-8, no HOME, LIFECYCLE_EVENT, DEPLOYMENT_ID (d-REHEARSAL), APPLICATION_NAME,
DEPLOYMENT_GROUP_NAME, DEPLOYMENT_GROUP_ID, BUNDLE_BUCKET, BUNDLE_KEY; stdin closed, umask 022, own process group;
`runas: USER` runs `su USER -c SCRIPT`. The rehearsal adds REHEARSAL_ROOT (sandbox root standing for /),
REHEARSAL_PORT (the port probed), REHEARSAL_ID and TMPDIR (inside the sandbox). See docs/agent-conformance.md.
"""

# What each exit code means for a rehearsal: nothing is deployed, so none of them speaks of CodeDeploy or slots.
EXIT_CODE_MEANINGS: dict[int, str] = {
    ExitCode.RELEASED: "PASSED: the revision went through the whole lifecycle on this machine",
    ExitCode.DEPLOYMENT_FAILED: "FAILED: a hook failed or timed out, Install could not be planned, the app never "
    "became healthy, a request was lost or the app did not stop after SIGTERM",
    ExitCode.BAD_INPUT: "bad input: the appspec is invalid, a file of the revision cannot be read, the port is in "
    "use or an option is wrong; nothing ran",
    ExitCode.CANCELLED: "CANCELLED: interrupted (SIGINT/SIGTERM); every process the rehearsal started was "
    "terminated and the sandbox removed (unless --keep-sandbox)",
    ExitCode.REHEARSAL_INCOMPLETE: "INCOMPLETE: nothing failed, but something could not be reproduced here (a "
    "`runas` user, when not running as root); see docs/agent-conformance.md",
}


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the rehearsal's options to `parser` (the `rehearse` subcommand of scripts/deploy.py)."""
    if parser.description is None:
        parser.description = HELP
    if parser.epilog is None:
        parser.epilog = ENVIRONMENT
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--app-dir", type=Path, required=True, help="the revision folder (holds appspec.yml)")
    parser.add_argument(
        "--report-dir", type=Path, help="write rehearsal.json, rehearsal-timeline.svg and scripts.log there"
    )
    parser.add_argument("--keep-sandbox", action="store_true", help="keep the sandbox directory for inspection")
    group = parser.add_argument_group("health check (defaults: the target group's settings in cdk.json)")
    group.add_argument("--health-check-path", help="path probed, e.g. /health")
    group.add_argument("--health-check-port", type=int, help="port probed; exported to hooks as REHEARSAL_PORT")
    group.add_argument("--health-check-matcher", help="HTTP codes meaning healthy, e.g. 200 or 200-299")
    group.add_argument("--health-check-interval", type=int, help="seconds between probes (5..300)")
    group.add_argument("--health-check-timeout", type=int, help="seconds a probe may take (2..120, below the interval)")
    group.add_argument("--healthy-threshold", type=int, help="consecutive successes needed to be healthy (2..10)")
    group.add_argument(
        "--healthy-within",
        type=duration_argument,
        default=120.0,
        help="give up on AllowTraffic after this long (90, 90s, 2m, ...; default 2m)",
    )
    # "Drain" names the instance's connection drain (the drain Lambda); the app's own stop here is the "shutdown".
    # --drain-path and --drain-requests are the deprecated spellings of the shutdown flags, still accepted.
    shutdown = parser.add_argument_group("shutdown (SIGTERM while requests are in flight)")
    shutdown.add_argument(
        "--shutdown-path",
        "--drain-path",
        dest="shutdown_path",
        help="path of the requests in flight at SIGTERM (default: the health-check path), "
        "e.g. '/slow?ms=2000' for the sample app (--drain-path: deprecated alias)",
    )
    shutdown.add_argument(
        "--shutdown-requests",
        "--drain-requests",
        dest="shutdown_requests",
        type=int,
        default=8,
        help="concurrent requests in flight (1..64, 8; --drain-requests: deprecated alias)",
    )
    shutdown.add_argument(
        "--stop-timeout",
        type=duration_argument,
        default=DEFAULT_STOP_TIMEOUT_SECONDS,
        help="how long the app may take to exit after SIGTERM before SIGKILL (90, 90s, 2m, ...; systemd's default: 90)",
    )
    lifecycle = parser.add_argument_group("lifecycle")
    lifecycle.add_argument("--application-name", default="rehearsal", help="APPLICATION_NAME given to hooks")
    lifecycle.add_argument("--deployment-group-name", default="rehearsal", help="DEPLOYMENT_GROUP_NAME given to hooks")
    lifecycle.add_argument(
        "--strict",
        action="store_true",
        help="treat the appspec's warnings (what the agent accepts but probably was not meant) as errors",
    )
    lifecycle.add_argument(
        "--run-application-stop",
        action="store_true",
        help="also run ApplicationStop (as on an in-place redeploy; a fresh replacement instance has none to run)",
    )
    parser.set_defaults(run=run_from_args)


# The flag that sets each field of `bluegreen.config.HealthCheck`, by the settings key its `ConfigError` names.
HEALTH_CHECK_FLAGS = {
    "healthCheckIntervalSeconds": "--health-check-interval",
    "healthCheckTimeoutSeconds": "--health-check-timeout",
    "healthyThresholdCount": "--healthy-threshold",
    "healthCheckMatcher": "--health-check-matcher",
    "healthCheckPath": "--health-check-path",
    "appPort": "--health-check-port",
}


def health_check_from_args(namespace: argparse.Namespace, base: HealthCheck) -> HealthCheck:
    """`base` (the target group's settings in cdk.json) with the flags given, validated like the target group.

    The shared `HealthCheck` applies ELBv2's limits (a healthy threshold of 2..10, a timeout below the interval, ...);
    its `ConfigError` becomes an `InputError` (exit 2) naming the flag.
    """

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    try:
        return HealthCheck(
            path=pick(namespace.health_check_path, base.path),
            port=pick(namespace.health_check_port, base.port),
            matcher=pick(namespace.health_check_matcher, base.matcher),
            interval_seconds=pick(namespace.health_check_interval, base.interval_seconds),
            timeout_seconds=pick(namespace.health_check_timeout, base.timeout_seconds),
            healthy_threshold=pick(namespace.healthy_threshold, base.healthy_threshold),
            unhealthy_threshold=base.unhealthy_threshold,
        )
    except ConfigError as exc:
        message = str(exc)
        for key, flag in HEALTH_CHECK_FLAGS.items():
            message = message.replace(key, flag)
        raise InputError(
            f"{message} (the target group would refuse this health check)",
            hint="Give health-check flags within the target group's limits (see --help and README, Configuration).",
        ) from exc


def options_from_args(namespace: argparse.Namespace) -> RehearsalOptions:
    """Turn parsed arguments into `RehearsalOptions`, filling health-check defaults from cdk.json.

    Raises `InputError` for cdk.json problems and out-of-range values.
    """
    try:
        config = load_cdk_json_config()
    except ConfigError as exc:
        raise InputError(f"cdk.json: {exc}", hint="Fix cdk.json (see README, Configuration).") from exc
    check = health_check_from_args(namespace, config.health_check)
    return RehearsalOptions(
        app_dir=namespace.app_dir,
        health_check=HealthCheckSettings.of(check),
        report_dir=namespace.report_dir,
        keep_sandbox=namespace.keep_sandbox,
        application_name=namespace.application_name,
        deployment_group_name=namespace.deployment_group_name,
        healthy_within_seconds=namespace.healthy_within,
        shutdown_path=namespace.shutdown_path,
        shutdown_requests=namespace.shutdown_requests,
        stop_timeout_seconds=namespace.stop_timeout,
        run_application_stop=namespace.run_application_stop,
        strict=namespace.strict,
    )


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """Treat SIGTERM (a CI runner cancelling the job) and SIGHUP (a closed terminal) like Ctrl-C, so cleanup runs.

    Main thread only (Python delivers signals there).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = {signum: signal.signal(signum, interrupt) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def run_from_args(namespace: argparse.Namespace) -> int:
    """Run the rehearsal the parsed arguments describe, print progress and the report; return the exit code."""
    try:
        options = options_from_args(namespace)
    except InputError as exc:
        print(exc.describe(), file=sys.stderr)
        return int(exc.exit_code)
    with _sigterm_interrupts():
        result = rehearse(options, out=sys.stdout)
    sys.stdout.write("\n" + format_report(result))
    return result.exit_code
