"""The release tool's command line: `scripts/deploy.py` and the `bluegreen-release` console script run `main`.

Parse the command line (flags win over environment variables) into frozen dataclasses, read the environment once
(the CI context included), build the AWS clients once, and hand them to the package's commands. Every expected
failure ends as one message saying what to do next and a documented exit code (`EXIT_CODES`).

Imports neither `aws_cdk` nor anything of the CDK app: the shared settings, output names and fleet size come from the
plain-Python `bluegreen` package.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from bluegreen.config import (
    AppConfig,
    ConfigError,
    FleetSize,
    check_instance_type,
    load_cdk_json_config,
    load_cdk_json_context,
)
from release import bake, gate, promotion, rehearse
from release.bundle import write_bundle
from release.ci import CiContext
from release.errors import ExitCode, InputError, ReleaseError, TargetsError
from release.lease import SKEW_SECONDS, TTL_SECONDS, Lease, default_owner, lease_key
from release.links import console_links
from release.operations import (
    StatusClients,
    deployment_to_follow,
    follow_and_finish,
    nothing_to_finish,
    previous_revision,
    print_status,
    stop_in_flight,
)
from release.orchestrate import Clients, Release, ReleaseOptions
from release.preflight import Preflight, PreflightClients, bootstrap_qualifier
from release.record import ReleaseRecord
from release.report import prepare_report_dir, write_reports
from release.runtime import Runtime, StopSignal, stop_on_signals
from release.targets import (
    OUTPUTS_READ,
    TargetOverrides,
    Targets,
    declared_stages,
    declared_waves,
    fleet_size,
    require_region,
    resolve_targets,
    select_stage,
    stage_overrides,
)
from release.timeout import (
    DEFAULT_CLEANUP_TIMEOUT_SECONDS,
    DEFAULT_SCALE_TIMEOUT_SECONDS,
    parse_duration,
    read_traffic_timing,
)
from release.tree import scan_revision
from release.views import colour_wanted, live_wanted, make_view

DEFAULT_STACK = "BlueGreenApp"
DEFAULT_REPORT_DIR = "release-report"
DEFAULT_BUNDLE_DIR = "build/bundles"

# What each exit code means, once; every command's help lists the codes that command can end with (COMMAND_EXIT_CODES).
EXIT_CODE_MEANINGS: dict[int, str] = {
    ExitCode.RELEASED: "success: released (release, rollback, status --follow), the deployment created (release "
    "--no-wait), or the command done",
    ExitCode.DEPLOYMENT_FAILED: "deployment failed; CodeDeploy rolled back, the failed slot was emptied",
    ExitCode.BAD_INPUT: "bad input or pre-flight failure, including a live slot the deployment group, the target "
    "group and the last successful deployment do not settle: nothing uploaded, nothing scaled",
    ExitCode.TIMED_OUT: "timed out: the deployment was stopped with rollback (or, if StopDeployment kept failing, it "
    "still runs: the message says how to stop it); scaling stays suspended while it or its rollback may still run",
    ExitCode.CANCELLED: "cancelled (SIGINT/SIGTERM/SIGHUP): the deployment was stopped with rollback (or still runs, "
    "as for 3)",
    ExitCode.RELEASE_IN_FLIGHT: "another release holds the deployment group's release lease, or another deployment "
    "is in flight: nothing was touched",
    ExitCode.REHEARSAL_INCOMPLETE: "rehearse only: INCOMPLETE, nothing failed but something could not be reproduced "
    "here (runas when not root); see docs/agent-conformance.md",
    ExitCode.RELEASED_INCOMPLETE: "released, finishing incomplete: the deployment succeeded and traffic is on the new "
    "slot, but re-pointing the group, resuming scaling processes or emptying the old slot failed; the message gives "
    "the repair (the next release also completes it first)",
    ExitCode.AWS_UNAVAILABLE: "AWS could not be reached, refused the credentials or a permission (region, endpoint, "
    "IAM), or answered in a shape the tool does not know",
}
# The deployment's outcomes: whatever follows a deployment (`release`, `rollback`, `status --follow`) can end in these.
_DEPLOYING = tuple(code for code in ExitCode if code != ExitCode.REHEARSAL_INCOMPLETE)
# The exit codes each command can end with. `bundle` calls no AWS API and deploys nothing (tests/release/test_cli.py
# derives its codes from the code it runs); `rehearse` runs locally (release.rehearse).
COMMAND_EXIT_CODES: dict[str, tuple[int, ...]] = {
    "release": _DEPLOYING,
    "rollback": _DEPLOYING,
    "status": _DEPLOYING,
    "bundle": (ExitCode.RELEASED, ExitCode.BAD_INPUT, ExitCode.CANCELLED),
    "stop": (ExitCode.RELEASED, ExitCode.BAD_INPUT, ExitCode.AWS_UNAVAILABLE),
    "promote": (ExitCode.RELEASED, ExitCode.BAD_INPUT, ExitCode.AWS_UNAVAILABLE),
    "promote-revision": _DEPLOYING,
    "promote-waves": _DEPLOYING,
    "abort": (ExitCode.RELEASED, ExitCode.BAD_INPUT, ExitCode.AWS_UNAVAILABLE),
    "preflight": (ExitCode.RELEASED, ExitCode.BAD_INPUT, ExitCode.AWS_UNAVAILABLE),
    "rehearse": tuple(rehearse.EXIT_CODE_MEANINGS),
}

# Where a command's code means something else than in a release: `bundle` deploys nothing, so its cancel stops nothing.
_COMMAND_MEANINGS: dict[str, dict[int, str]] = {
    "bundle": {
        ExitCode.CANCELLED: "cancelled (SIGINT/SIGTERM/SIGHUP): the partial zip was removed, nothing was written to "
        "--bundle-dir"
    },
}


def exit_codes_text(codes: Sequence[int] = tuple(ExitCode), meanings: Mapping[int, str] = EXIT_CODE_MEANINGS) -> str:
    """The `exit codes:` block of a help text, listing `codes` with their `meanings`, wrapped at 116 columns."""
    lines = ["exit codes:"]
    for code in sorted(codes):
        wrapped = textwrap.wrap(meanings[code], width=112)
        lines.append(f"  {int(code)}  {wrapped[0]}")
        lines.extend(f"     {line}" for line in wrapped[1:])
    return "\n".join(lines) + "\n"


EXIT_CODES = exit_codes_text()

ENVIRONMENT = """\
environment variables (a flag wins over its variable):
  STACK_NAME             --stack            APP_DIR            --app-dir
  RELEASE_STAGE          --stage (a stage of cdk.json's `stages`: its stack and region)
  S3_BUCKET              --bucket           RELEASE_TIMEOUT    --timeout
  APPLICATION_NAME       --application      SCALE_TIMEOUT      --scale-timeout
  DEPLOYMENT_GROUP_NAME  --deployment-group CLEANUP_TIMEOUT    --cleanup-timeout
  SLOTS                  --slots A,B        RELEASE_DESCRIPTION --description
  REPORT_DIR             --report-dir       FILE_EXISTS_BEHAVIOR --file-exists-behavior
  IGNORE_APPLICATION_STOP_FAILURES (true/false)   --ignore-application-stop-failures
  TARGET_GROUP_ARN       --target-group (the live slot is checked against it; needed with explicit --slots)
  FLEET_MIN_SIZE / FLEET_DESIRED_SIZE / FLEET_MAX_SIZE   --fleet-min / --fleet-desired / --fleet-max
  Durations (flags and variables alike): 90 or 90s (seconds), 30m, 1h, 1h30m.
  PROMOTION_CHECK_COMMAND  release --check-command   PROMOTE_WAIT  promote --wait
  AWS_PROFILE, AWS_REGION (or AWS_DEFAULT_REGION), AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> (for example
  AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_CODEDEPLOY): the AWS SDK's standard configuration, honoured as is. With no
  region from --region, these variables or the profile, the tool stops (exit 2) instead of guessing one.
  AWS_RETRY_MODE (--retry-mode), AWS_MAX_ATTEMPTS (--max-attempts): SDK retries of each call.
  Release description (commit/branch/build): BITBUCKET_COMMIT/BITBUCKET_BRANCH/BITBUCKET_BUILD_NUMBER,
  GITHUB_SHA/GITHUB_REF_NAME/GITHUB_RUN_ID, or RELEASE_COMMIT/RELEASE_BRANCH/RELEASE_BUILD.
  GITHUB_STEP_SUMMARY, GITHUB_ACTIONS: when set, a step summary and annotations are written.
  CI (set and not false/0: plain lines even on a terminal), NO_COLOR (no colour in the live table).

targets: --stack NAME reads the stack's outputs ({outputs}); explicit
values override single outputs. With no stack and not all of --bucket/--application/--deployment-group/--slots given,
the stack {stack} is read.
""".format(outputs=", ".join(OUTPUTS_READ), stack=DEFAULT_STACK)


@dataclass(frozen=True)
class AwsSettings:
    """How to reach AWS: profile, region and the SDK's retry behaviour."""

    profile: str | None
    region: str | None
    retry_mode: str
    max_attempts: int


@dataclass(frozen=True)
class ReleaseArgs:
    """The `release` / `rollback` options."""

    app_dir: Path | None
    bundle_dir: Path
    report_dir: Path
    description: str | None
    timeout_seconds: float | None
    scale_timeout_seconds: float
    cleanup_timeout_seconds: float
    key_prefix: str | None
    # --live/--plain, or False when CI (or TERM=dumb) says plain; None: a terminal decides (release.views).
    live_view: bool | None
    # CreateDeployment's ignoreApplicationStopFailures and fileExistsBehavior (None: not sent, CodeDeploy's default).
    ignore_application_stop_failures: bool = False
    file_exists_behavior: str | None = None
    # False with --no-wait: create the deployment and exit 0 without following it.
    wait: bool = True
    # False when NO_COLOR is set (no-color.org): the live table draws without colour.
    colour: bool = True


@dataclass(frozen=True)
class GateArgs:
    """The promotion gate's options: how long `promote` waits for a Ready deployment, and the pre-promotion check."""

    wait_seconds: float = 0.0
    check_command: str | None = None
    check_timeout_seconds: float = gate.DEFAULT_CHECK_TIMEOUT_SECONDS


@dataclass(frozen=True)
class StageArgs:
    """`--stage NAME` (the stage released to), `promote-revision --from-stage/--from-deployment/--from-profile`, and
    `status --all-stages`."""

    stage: str | None = None
    from_stage: str | None = None
    from_deployment: str | None = None
    from_profile: str | None = None
    all_stages: bool = False
    # `promote-waves --wave A,B --wave C`: the stages of each wave, in order.
    waves: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invocation:
    """Everything the command line and the environment asked for."""

    command: str
    aws: AwsSettings
    targets: TargetOverrides
    release: ReleaseArgs
    last: int
    ci: CiContext
    # `preflight -c KEY=VALUE`: settings on top of cdk.json's context, as `cdk deploy -c` would set them.
    context: tuple[tuple[str, str], ...] = ()
    # `status --json`: the status as JSON for scripts instead of the one-screen text.
    json_output: bool = False
    # `status --follow [--deployment-id ID]`: follow a deployment to its end and finish it, as release would.
    follow: bool = False
    deployment_id: str | None = None
    # The promotion gate (release.gate): `promote --wait`, and `release --check-command/--check-timeout`.
    promotion: GateArgs = dataclasses.field(default_factory=GateArgs)
    # Stages (bluegreen.stages, release.promotion): `promote-revision --from-stage`, `status --all-stages`.
    stages: StageArgs = dataclasses.field(default_factory=StageArgs)


# ----------------------------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line error: the bad argument and where help is, instead of the whole usage (exit 2)."""

    def error(self, message: str) -> NoReturn:
        self.exit(int(ExitCode.BAD_INPUT), f"{self.prog}: {message} (`{self.prog} --help` lists the options)\n")


def _add_aws(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS")
    group.add_argument("--profile", help="named AWS profile (env AWS_PROFILE)")
    group.add_argument("--region", help="AWS region (env AWS_REGION / AWS_DEFAULT_REGION)")
    group.add_argument(
        "--retry-mode",
        choices=("adaptive", "standard"),
        help="SDK retry mode (env AWS_RETRY_MODE; default adaptive: client-side rate limiting)",
    )
    group.add_argument("--max-attempts", help="SDK attempts per call (env AWS_MAX_ATTEMPTS; default 10)")


def _add_targets(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("targets")
    group.add_argument("--stack", help=f"stack to read outputs from (env STACK_NAME; default {DEFAULT_STACK})")
    group.add_argument(
        "--stage",
        help="a stage of cdk.json's `stages` (env RELEASE_STAGE): its stack (<stackName>-<stage>) in its region",
    )
    group.add_argument("--bucket", help="artifact bucket (env S3_BUCKET)")
    group.add_argument("--application", help="CodeDeploy application (env APPLICATION_NAME)")
    group.add_argument("--deployment-group", help="CodeDeploy deployment group (env DEPLOYMENT_GROUP_NAME)")
    group.add_argument("--slots", help="the two Auto Scaling groups, SLOT_A,SLOT_B (env SLOTS)")
    group.add_argument(
        "--target-group",
        help="target group ARN (env TARGET_GROUP_ARN; default the stack's TargetGroupArn output): which slot serves",
    )
    group.add_argument("--fleet-min", help="fleet minimum (env FLEET_MIN_SIZE)")
    group.add_argument("--fleet-desired", help="fleet desired size (env FLEET_DESIRED_SIZE)")
    group.add_argument("--fleet-max", help="fleet maximum (env FLEET_MAX_SIZE)")


# Why the flag exists, in the help: the three events it covers run the PREVIOUS revision's scripts (F70).
IGNORE_STOP_HELP = (
    "let the deployment go on past a failing ApplicationStop, BeforeBlockTraffic or AfterBlockTraffic script "
    "(CreateDeployment ignoreApplicationStopFailures; env IGNORE_APPLICATION_STOP_FAILURES=true). Those events run "
    "the scripts of the revision an instance got LAST, not this one (docs/decisions.md F70): the live slot's "
    "instances run BeforeBlockTraffic/AfterBlockTraffic from the previous release, and an idle-slot instance runs "
    "ApplicationStop only if it already holds a revision of this group (freshly launched ones run none). One broken "
    "script there fails every release, including the one that fixes it: use this for that release."
)
FILE_EXISTS_HELP = (
    "what Install does with a file at a destination that the last successful deployment did not put there: "
    "DISALLOW fails the deployment, OVERWRITE replaces the file, RETAIN keeps it (CreateDeployment "
    "fileExistsBehavior; env FILE_EXISTS_BEHAVIOR). Default: not sent, so CodeDeploy's default DISALLOW applies. "
    "An appspec.yml file_exists_behavior wins over this option (docs/decisions.md F71)."
)
NO_WAIT_HELP = (
    "create the deployment, print its id and exit 0 without following it. This run's release lease is released on "
    "exit, but the deployment in flight keeps every other release and rollback out (exit 5, nothing touched). "
    "Scaling processes stay suspended on both slots, as a running deployment needs, and nothing switches the group "
    "or empties a slot until one of these finishes it exactly as release would: `status --follow` (follows it to "
    "its end, then finishes), the next release or rollback (finishes a previous deployment first), or an AWS-side "
    "finisher if the stack has one. A first release (through the stack's bootstrap group) is followed anyway."
)


def _add_view(group: argparse._ArgumentGroup) -> None:
    view = group.add_mutually_exclusive_group()
    view.add_argument(
        "--live",
        dest="live_view",
        action="store_true",
        default=None,
        help="redraw a live table (default when stdout is a terminal and CI is not set; NO_COLOR drops its colour)",
    )
    view.add_argument(
        "--plain",
        dest="live_view",
        action="store_false",
        help="timestamped lines, no control characters, a progress line at least every 30 s (default when CI is set, "
        "e.g. CI=true, when TERM=dumb, or when stdout is not a terminal)",
    )


def _add_release(parser: argparse.ArgumentParser, *, app_dir: bool) -> None:
    group = parser.add_argument_group("release")
    if app_dir:
        group.add_argument("--app-dir", help="revision directory holding appspec.yml (env APP_DIR)")
        group.add_argument("--key-prefix", help="S3 key prefix of revisions (default revisions/<application>)")
    group.add_argument(
        "--report-dir", help=f"summary JSON and timeline SVG (env REPORT_DIR; default {DEFAULT_REPORT_DIR})"
    )
    group.add_argument("--description", help="deployment description (env RELEASE_DESCRIPTION; default from CI vars)")
    group.add_argument(
        "--timeout",
        metavar="DURATION",
        help="deployment timeout, e.g. 1800, 30m or 1h30m (env RELEASE_TIMEOUT; default: "
        "derived from the group's settings, the hooks' timeouts and the target group's timing)",
    )
    group.add_argument(
        "--scale-timeout",
        metavar="DURATION",
        help="how long to wait for the idle slot to fill (every instance InService, i.e. its CodeDeploy agent "
        "running: launch, boot, user data and agent start) or to empty (env SCALE_TIMEOUT; default 15m)",
    )
    group.add_argument(
        "--cleanup-timeout",
        metavar="DURATION",
        help="how long to wait for a stopped deployment's rollback before exiting (env CLEANUP_TIMEOUT; default 2m)",
    )
    group.add_argument("--ignore-application-stop-failures", action="store_true", default=None, help=IGNORE_STOP_HELP)
    group.add_argument("--file-exists-behavior", metavar="DISALLOW|OVERWRITE|RETAIN", help=FILE_EXISTS_HELP)
    group.add_argument("--no-wait", action="store_true", help=NO_WAIT_HELP)
    _add_view(group)


def _add_follow(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("follow")
    group.add_argument(
        "--follow",
        action="store_true",
        help="follow the deployment in flight (or --deployment-id) to its end with release's view, then finish it as "
        "release would (switch the group and empty the old slot, or after a failure empty the failed slot; resume "
        "scaling), and exit with release's exit codes. It never stops the deployment: Ctrl-C or --timeout end the "
        "watch (4 or 3) and the deployment runs on",
    )
    group.add_argument(
        "--deployment-id",
        help="with --follow: the deployment to follow (default: the one in flight, else the group's latest)",
    )
    group.add_argument(
        "--timeout",
        metavar="DURATION",
        help="with --follow: stop watching after this long (env RELEASE_TIMEOUT; default: until the end)",
    )
    group.add_argument(
        "--report-dir",
        help=f"with --follow: summary JSON and timeline SVG (env REPORT_DIR; default {DEFAULT_REPORT_DIR})",
    )
    _add_view(group)


def _command(
    commands: argparse._SubParsersAction[_Parser],
    name: str,
    summary: str,
    *,
    description: str | None = None,
    aws: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand whose help ends with the environment variables (when it calls AWS) and its own exit codes."""
    codes = exit_codes_text(COMMAND_EXIT_CODES[name], {**EXIT_CODE_MEANINGS, **_COMMAND_MEANINGS.get(name, {})})
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=(ENVIRONMENT + "\n" + codes) if aws else codes,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line, documenting every flag, environment variable and exit code."""
    parser = _Parser(
        description="Zero-downtime EC2 blue/green releases on AWS CodeDeploy with two Auto Scaling group slots.",
        epilog=ENVIRONMENT + "\n" + EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    release = _command(
        commands,
        "release",
        "bundle, validate, upload and release a revision onto the idle slot",
        description="Bundle → validate → upload → fill the idle slot → deploy → follow → switch (or roll back).",
    )
    _add_targets(release)
    _add_release(release, app_dir=True)
    _add_aws(release)
    bundle = _command(commands, "bundle", "build and validate the bundle only; print its path and hash", aws=False)
    bundle.add_argument("--app-dir", help="revision directory holding appspec.yml (env APP_DIR)")
    bundle.add_argument("--bundle-dir", help=f"where the bundle is written (default {DEFAULT_BUNDLE_DIR})")
    status = _command(
        commands, "status", "live slot, bake window, deployment in flight, last releases; --follow follows one"
    )
    _add_targets(status)
    status.add_argument("--last", help="how many recent deployments to list (default 5)")
    status.add_argument("--json", action="store_true", help="print the status as JSON (stable keys) for scripts")
    _add_follow(status)
    _add_aws(status)
    rollback = _command(
        commands,
        "rollback",
        "inside a bake window (bakeMinutes): put traffic back on the old slot in seconds; otherwise release the "
        "previous successful revision again (onto the idle slot)",
    )
    _add_targets(rollback)
    _add_release(rollback, app_dir=False)
    _add_aws(rollback)
    stop = _command(commands, "stop", "stop the deployment in flight, with automatic rollback")
    _add_targets(stop)
    _add_aws(stop)
    preflight = _command(
        commands,
        "preflight",
        "check the account can take `cdk deploy`: Lambda concurrency and the CDK bootstrap (make deploy runs it)",
        description="Read-only checks before `cdk deploy`, for the stack cdk.json (and any -c) configures: the "
        "account's Lambda concurrency holds what the stack reserves plus the 100 Lambda keeps unreserved, and the "
        "region is CDK-bootstrapped. Exit 2 with the fix when either would fail the deploy.",
    )
    preflight.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting on top of cdk.json's context, as `cdk deploy -c KEY=VALUE` (repeatable)",
    )
    _add_aws(preflight)
    rehearse_parser = commands.add_parser(
        "rehearse",
        help="rehearse the revision's hooks locally (no AWS)",
        # The rehearsal deploys nothing: its codes mean what they mean for a local run, not for a deployment.
        epilog=rehearse.ENVIRONMENT
        + "\n"
        + exit_codes_text(COMMAND_EXIT_CODES["rehearse"], rehearse.EXIT_CODE_MEANINGS),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_gate_commands(commands)
    _add_stage_commands(commands, status, preflight)
    _add_check(release)
    rehearse.configure_parser(rehearse_parser)
    return parser


FILE_EXISTS_BEHAVIORS = ("DISALLOW", "OVERWRITE", "RETAIN")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off", "")


@dataclass(frozen=True)
class _Given:
    """The parsed flags and the environment, read together: a flag wins over its variable."""

    args: argparse.Namespace
    env: Mapping[str, str]

    def value(self, flag: str, variable: str | None = None) -> tuple[Any, str]:
        """The flag's value, else the variable's, with the name of the one that gave it (for messages)."""
        given = getattr(self.args, flag, None)
        if given is not None:
            return given, "--" + flag.replace("_", "-")
        if variable and self.env.get(variable) is not None:
            return self.env[variable], variable
        return None, "--" + flag.replace("_", "-")

    def text(self, flag: str, variable: str | None = None) -> Any:
        return self.value(flag, variable)[0]

    def duration(self, flag: str, variable: str | None) -> float | None:
        """A duration option through the one duration parser (`release.timeout.parse_duration`)."""
        raw, source = self.value(flag, variable)
        return None if raw is None or raw == "" else float(parse_duration(str(raw), source))

    def whole(self, flag: str, variable: str | None, *, minimum: int = 0) -> int | None:
        """A whole number of at least `minimum`, or None when not given."""
        raw, source = self.value(flag, variable)
        if raw is None or raw == "":
            return None
        text = str(raw).strip()
        if not text.isdigit() or int(text) < minimum:
            given = f"{source} {raw!r}" if source.startswith("-") else f"{source}={raw!r}"
            raise InputError(f"{given} is not a whole number of at least {minimum}", hint="")
        return int(text)

    def switch(self, flag: str, variable: str) -> bool:
        """A yes/no option: the flag sets it; the variable takes true/false (1/0, yes/no, on/off)."""
        raw, source = self.value(flag, variable)
        if raw is None or isinstance(raw, bool):
            return bool(raw)
        text = str(raw).strip().lower()
        if text not in _TRUE + _FALSE:
            raise InputError(f"{source}={raw!r} is not true or false", hint="")
        return text in _TRUE

    def choice(self, flag: str, variable: str, choices: tuple[str, ...]) -> str | None:
        """One of `choices` (case-insensitive), or None when not given."""
        raw, source = self.value(flag, variable)
        if raw is None or raw == "":
            return None
        if str(raw).strip().upper() not in choices:
            given = f"{source} {raw!r}" if source.startswith("-") else f"{source}={raw!r}"
            raise InputError(f"{given} is not one of {', '.join(choices)}", hint="")
        return str(raw).strip().upper()


def _add_gate_commands(commands: argparse._SubParsersAction[_Parser]) -> None:
    """`promote` and `abort`: act on the group's deployment that waits for promotion (setting promotionGate)."""
    promote = _command(
        commands,
        "promote",
        "continue the deployment that waits for promotion: CodeDeploy reroutes traffic to the new slot",
        description="ContinueDeployment (READY_WAIT) on the group's deployment in status Ready, found from AWS: it "
        "works from any machine, also after the run that started the release is gone. Exit 2 when nothing waits.",
    )
    _add_targets(promote)
    promote.add_argument(
        "--wait",
        metavar="DURATION",
        help="how long to wait for a deployment to become Ready before refusing (env PROMOTE_WAIT; default 0)",
    )
    _add_aws(promote)
    abort = _command(
        commands,
        "abort",
        "stop the deployment that waits for promotion, with rollback: traffic never leaves the live slot",
        description="StopDeployment (autoRollbackEnabled) on the group's deployment in status Ready, found from AWS. "
        "Exit 2 when nothing waits (`stop` stops a deployment in any state).",
    )
    _add_targets(abort)
    _add_aws(abort)


def _add_stage_commands(
    commands: argparse._SubParsersAction[_Parser],
    status: argparse.ArgumentParser,
    preflight: argparse.ArgumentParser,
) -> None:
    """`promote-revision` and `promote-waves` (release.promotion), `status --all-stages`, `preflight --stage`."""
    preflight.add_argument(
        "--stage",
        help="check the account and region of this stage of cdk.json's `stages`, with its settings (env RELEASE_STAGE)",
    )
    promote = _command(
        commands,
        "promote-revision",
        "release into this stage the revision an earlier stage released successfully (no rebuild)",
        description="Find the earlier stage's last successful deployment (or --from-deployment) from AWS, copy its "
        "revision to this stage's bucket under the same key if the buckets differ (server-side in one region, through "
        "the tool across regions or accounts), then release it as `release` does. Exit 2, nothing copied or "
        "released, when that revision did not succeed in the earlier stage.",
    )
    _add_targets(promote)
    group = promote.add_argument_group("promotion")
    group.add_argument("--from-stage", required=True, help="the earlier stage (cdk.json `stages`) to take it from")
    group.add_argument(
        "--from-deployment", help="a succeeded deployment of the earlier stage (default: its last successful one)"
    )
    group.add_argument(
        "--from-profile",
        help="AWS profile that reads the earlier stage when it is in another account (default: --profile)",
    )
    _add_release(promote, app_dir=False)
    _add_aws(promote)
    waves = _command(
        commands,
        "promote-waves",
        "promote-revision into several stages (regions) in waves, stopping at the first that does not release",
        description="Waves in order, the stages of a wave one after the other, each exactly as promote-revision "
        "--stage STAGE (its report under --report-dir/STAGE). The first stage that does not release stops the rest of "
        "its wave and every later wave; the summary (and --report-dir/waves-summary.json) covers every stage. Exit: "
        "0 when all released, else the code of the stage that stopped the waves.",
    )
    group = waves.add_argument_group("waves")
    group.add_argument("--from-stage", required=True, help="the earlier stage (cdk.json `stages`) to take it from")
    group.add_argument(
        "--wave",
        action="append",
        metavar="STAGE[,STAGE...]",
        help="one wave: stages of cdk.json's `stages`, comma-separated (repeat for each wave, in order; default: "
        "cdk.json's `waves`)",
    )
    group.add_argument("--from-deployment", help="a succeeded deployment of the earlier stage (default: its last)")
    group.add_argument("--from-profile", help="AWS profile that reads the earlier stage in another account")
    _add_release(waves, app_dir=False)
    _add_aws(waves)
    status.add_argument(
        "--all-stages",
        action="store_true",
        help="one line per stage of cdk.json's `stages`: the revision live there and since when",
    )


def _stage_name(given: _Given) -> str | None:
    # Only commands with targets take a stage: RELEASE_STAGE set for a whole CI job must not reach `bundle`.
    return (given.text("stage", "RELEASE_STAGE") or None) if hasattr(given.args, "stage") else None


def _stage_args(given: _Given) -> StageArgs:
    return StageArgs(
        stage=_stage_name(given),
        from_stage=given.text("from_stage"),
        from_deployment=given.text("from_deployment"),
        from_profile=given.text("from_profile"),
        all_stages=bool(given.text("all_stages")),
        waves=tuple(given.text("wave") or ()),
    )


def _staged(given: _Given, targets: TargetOverrides, aws: AwsSettings) -> tuple[TargetOverrides, AwsSettings]:
    """With `--stage NAME`: the stage's stack and region instead of --stack/STACK_NAME and the default region."""
    name = _stage_name(given)
    if not name:
        return targets, aws
    stage = select_stage(name)
    explicit = dataclasses.replace(targets, stack_name=given.text("stack", "STACK_NAME"))
    return stage_overrides(stage, explicit, given.text("region")), dataclasses.replace(aws, region=stage.region)


def _add_check(release: argparse.ArgumentParser) -> None:
    group = release.add_argument_group("promotion gate")
    group.add_argument(
        "--check-command",
        help="pre-promotion check: a shell command run while the deployment waits for promotion, against the test "
        "listener (its URL in TEST_URL); non-zero stops the deployment with rollback (env PROMOTION_CHECK_COMMAND; "
        "default: setting promotionCheckCommand)",
    )
    group.add_argument(
        "--check-timeout",
        metavar="DURATION",
        help=f"how long the check may run (default {gate.DEFAULT_CHECK_TIMEOUT_SECONDS:.0f}s)",
    )


def _gate_args(given: _Given) -> GateArgs:
    """`promote --wait` and `release --check-command/--check-timeout`, through the one duration parser."""
    command = given.text("check_command", "PROMOTION_CHECK_COMMAND")
    if given.args.command == "release" and not command:
        command = _default_check_command()
    return GateArgs(
        wait_seconds=given.duration("wait", "PROMOTE_WAIT") or 0.0,
        check_command=command or None,
        check_timeout_seconds=given.duration("check_timeout", None) or gate.DEFAULT_CHECK_TIMEOUT_SECONDS,
    )


def _slots(raw: str | None) -> tuple[str, str] | None:
    if not raw:
        return None
    names = [name.strip() for name in raw.split(",") if name.strip()]
    if len(names) != 2:
        raise InputError(
            f"--slots/SLOTS={raw!r} must name exactly two Auto Scaling groups",
            hint="Write --slots SLOT_A,SLOT_B (the stack's SlotAName and SlotBName outputs).",
        )
    return names[0], names[1]


def _target_overrides(given: _Given) -> TargetOverrides:
    fleet_values = [
        given.whole(flag, variable)
        for flag, variable in (
            ("fleet_min", "FLEET_MIN_SIZE"),
            ("fleet_desired", "FLEET_DESIRED_SIZE"),
            ("fleet_max", "FLEET_MAX_SIZE"),
        )
    ]
    known = [value for value in fleet_values if value is not None]
    if known and len(known) != len(fleet_values):
        raise InputError(
            "the fleet size needs all three of --fleet-min, --fleet-desired and --fleet-max",
            hint="Give all three (or their FLEET_*_SIZE variables), or none to use the stack's outputs.",
        )
    explicit = TargetOverrides(
        stack_name=given.text("stack", "STACK_NAME"),
        bucket=given.text("bucket", "S3_BUCKET"),
        application=given.text("application", "APPLICATION_NAME"),
        deployment_group=given.text("deployment_group", "DEPLOYMENT_GROUP_NAME"),
        slots=_slots(given.text("slots", "SLOTS")),
        fleet=fleet_size(*known) if known else None,
        target_group_arn=given.text("target_group", "TARGET_GROUP_ARN"),
    )
    complete = all((explicit.bucket, explicit.application, explicit.deployment_group, explicit.slots))
    if not explicit.stack_name and not complete:
        explicit = dataclasses.replace(explicit, stack_name=DEFAULT_STACK)
    return explicit


def _release_args(given: _Given) -> ReleaseArgs:
    app_dir = given.text("app_dir", "APP_DIR")
    scale_timeout = given.duration("scale_timeout", "SCALE_TIMEOUT")
    cleanup_timeout = given.duration("cleanup_timeout", "CLEANUP_TIMEOUT")
    return ReleaseArgs(
        app_dir=Path(app_dir) if app_dir else None,
        bundle_dir=Path(given.text("bundle_dir") or DEFAULT_BUNDLE_DIR),
        report_dir=Path(given.text("report_dir", "REPORT_DIR") or DEFAULT_REPORT_DIR),
        description=given.text("description", "RELEASE_DESCRIPTION"),
        timeout_seconds=given.duration("timeout", "RELEASE_TIMEOUT"),
        scale_timeout_seconds=scale_timeout or float(DEFAULT_SCALE_TIMEOUT_SECONDS),
        cleanup_timeout_seconds=cleanup_timeout or float(DEFAULT_CLEANUP_TIMEOUT_SECONDS),
        key_prefix=given.text("key_prefix"),
        live_view=live_wanted(given.text("live_view"), given.env),
        colour=colour_wanted(given.env),
        ignore_application_stop_failures=given.switch(
            "ignore_application_stop_failures", "IGNORE_APPLICATION_STOP_FAILURES"
        ),
        file_exists_behavior=given.choice("file_exists_behavior", "FILE_EXISTS_BEHAVIOR", FILE_EXISTS_BEHAVIORS),
        wait=not given.text("no_wait"),
    )


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def invocation_from(args: argparse.Namespace, env: Mapping[str, str]) -> Invocation:
    """Merge flags and environment (flags win) into an `Invocation`; bad values raise `InputError` (exit 2)."""
    given = _Given(args, env)
    retry_mode = given.text("retry_mode", "AWS_RETRY_MODE") or "adaptive"
    if retry_mode not in ("adaptive", "standard", "legacy"):
        raise InputError(f"AWS_RETRY_MODE={retry_mode!r} is not a retry mode", hint="Use adaptive or standard.")
    # A status only follows a deployment when asked to; its --timeout then bounds the watch, not a deployment.
    follow = bool(given.text("follow"))
    if not follow and given.text("deployment_id"):
        raise InputError("--deployment-id is only used with --follow", hint="Add --follow, or drop --deployment-id.")
    if args.command == "status" and not follow and getattr(args, "timeout", None):
        raise InputError("--timeout is only used with --follow", hint="Add --follow, or drop --timeout.")
    if follow and given.text("json"):
        raise InputError(
            "--json is not used with --follow (the follow view is text)",
            hint="Drop --json; `status --json` gives the status as JSON once the deployment has ended.",
        )
    targets, aws = _staged(
        given,
        _target_overrides(given),
        AwsSettings(
            profile=given.text("profile"),
            # botocore reads AWS_DEFAULT_REGION; AWS_REGION (what CI actions export) is honoured here as well.
            region=given.text("region", "AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            retry_mode=retry_mode,
            max_attempts=given.whole("max_attempts", "AWS_MAX_ATTEMPTS", minimum=1) or 10,
        ),
    )
    return Invocation(
        command=args.command,
        aws=aws,
        targets=targets,
        release=_release_args(given),
        last=_or(given.whole("last", None), 5),
        json_output=bool(given.text("json")),
        ci=CiContext.from_env(env),
        context=tuple(_context_pair(item) for item in given.text("context") or ()),
        follow=follow,
        deployment_id=given.text("deployment_id"),
        promotion=_gate_args(given),
        stages=_stage_args(given),
    )


def _context_pair(item: str) -> tuple[str, str]:
    key, separator, value = item.partition("=")
    if not separator or not key:
        raise InputError(f"-c {item!r} is not KEY=VALUE", hint="Write -c lambdaReservedConcurrency=false, as for cdk.")
    return key, value


# ----------------------------------------------------------------------------------------------------------------------
# AWS
# ----------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AwsClients:
    """Every client a command may need, built once in `main`."""

    s3: Any
    autoscaling: Any
    codedeploy: Any
    cloudformation: Any
    elbv2: Any
    lambda_: Any = None
    ssm: Any = None
    cloudwatch: Any = None


def build_clients(settings: AwsSettings) -> AwsClients:
    """Clients from one boto3 Session (profile, region), with SDK retries set.

    Endpoint overrides need no code: botocore itself reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (and the
    `endpoint_url` profile settings), which is how the tests and local stand-ins point the tool elsewhere.
    """
    session = boto3.Session(profile_name=settings.profile, region_name=settings.region)
    # Without a region botocore would send S3 (and STS) to us-east-1 and refuse the rest: stop before either.
    require_region(session.region_name)
    config = Config(
        retries={"mode": settings.retry_mode, "max_attempts": settings.max_attempts},
        user_agent_extra="cdk-ec2-blue-green-release",
    )
    return AwsClients(
        s3=session.client("s3", config=config),
        autoscaling=session.client("autoscaling", config=config),
        codedeploy=session.client("codedeploy", config=config),
        cloudformation=session.client("cloudformation", config=config),
        elbv2=session.client("elbv2", config=config),
        lambda_=session.client("lambda", config=config),
        ssm=session.client("ssm", config=config),
        cloudwatch=session.client("cloudwatch", config=config),
    )


def _default_fleet() -> FleetSize | None:
    """The fleet size cdk.json configures (used when neither the stack nor the flags give one)."""
    try:
        return load_cdk_json_config().fleet
    except ConfigError:
        # Not fatal here: without a fleet size from the stack or the flags, `resolve_targets` says what to give.
        return None


def _default_check_command() -> str | None:
    """The pre-promotion check cdk.json configures (setting promotionCheckCommand), if any."""
    try:
        promotion = load_cdk_json_config().promotion
    except ConfigError:
        return None  # a broken cdk.json is reported by the commands that need it, not by the release tool
    return promotion.check_command if promotion else None


def _default_bake_minutes() -> int:
    """The bake window cdk.json configures (setting bakeMinutes); 0 (none) when cdk.json cannot be read."""
    try:
        return load_cdk_json_config().bake_minutes
    except ConfigError:
        return 0


def _targets(invocation: Invocation, clients: AwsClients) -> Targets:
    return resolve_targets(invocation.targets, cloudformation=clients.cloudformation, default_fleet=_default_fleet())


# ----------------------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------------------


def _cmd_bundle(invocation: Invocation) -> int:
    app_dir = invocation.release.app_dir
    if app_dir is None:
        raise InputError("--app-dir is missing", hint="Give --app-dir DIR (or APP_DIR), the folder with appspec.yml.")
    # SIGINT/SIGTERM/SIGHUP only ask to stop, as in a release: the writer notices it after the scan and between
    # chunks, removes its temporary file and ends with exit 4 (Cancelled), never half a zip or a traceback.
    stop = StopSignal()
    with stop_on_signals(stop):
        # The release's own steps (scan, then the zip writer), so the file is the object a release would upload.
        tree = scan_revision(app_dir)
        # What the agent accepts but may surprise (docs/agent-conformance.md): said, never refused.
        for warning in tree.appspec.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        bundle = write_bundle(tree, invocation.release.bundle_dir, stop=stop)
    print(
        f"bundle  {bundle.path}\ncontent {bundle.content_sha256} (the S3 key's name)\nsha256  {bundle.sha256}\n"
        f"size    {bundle.size} bytes\nfiles   {bundle.file_count}"
    )
    return int(ExitCode.RELEASED)


def _preflight_settings(invocation: Invocation) -> tuple[AppConfig, str]:
    """The settings `preflight` checks the account against (the stage's with --stage) and the bootstrap qualifier,
    validated offline as synth validates them, the instance type included (docs/decisions.md F66): a typo is exit 2
    before any client is built or AWS is called."""
    overrides = dict(invocation.context)
    try:
        context = {**load_cdk_json_context(), **overrides}
        config = load_cdk_json_config(overrides=overrides)
        qualifier = bootstrap_qualifier(context)
        if invocation.stages.stage:
            # The stage's own settings (its fleet sizes the Lambda reservations); its region came with --stage.
            config = select_stage(invocation.stages.stage, context).config
        check_instance_type(config)
    except ConfigError as exc:
        raise InputError(f"cdk.json or -c: {exc}", hint="Fix the setting named above (README, Configuration).") from exc
    return config, qualifier


def _cmd_preflight(config: AppConfig, qualifier: str, clients: AwsClients) -> int:
    checks = PreflightClients(lambda_=clients.lambda_, cloudformation=clients.cloudformation, ssm=clients.ssm)
    Preflight(checks, config, qualifier=qualifier).run(sys.stdout)
    return int(ExitCode.RELEASED)


def _release(invocation: Invocation, clients: AwsClients, targets: Targets, runtime: Runtime) -> Release:
    """The release command object with the options and the view the command line asked for."""
    args = invocation.release
    options = ReleaseOptions(
        app_dir=args.app_dir,
        ci=invocation.ci,
        description=args.description,
        timeout_seconds=args.timeout_seconds,
        scale_timeout_seconds=args.scale_timeout_seconds,
        cleanup_timeout_seconds=args.cleanup_timeout_seconds,
        key_prefix=args.key_prefix,
        ignore_application_stop_failures=args.ignore_application_stop_failures,
        file_exists_behavior=args.file_exists_behavior,
        wait=args.wait,
        check_command=invocation.promotion.check_command,
        check_timeout_seconds=invocation.promotion.check_timeout_seconds,
        bake_minutes=_default_bake_minutes() if invocation.command == "release" else 0,
    )
    view = make_view(sys.stdout, runtime.now, live=args.live_view, colour=args.colour)
    # The run's notes (`promote`, `stop` hints) name the tool as the user ran it, like its errors (`_at_the_edge`).
    view.wording = _as_run()
    return Release(
        Clients(
            s3=clients.s3,
            autoscaling=clients.autoscaling,
            codedeploy=clients.codedeploy,
            elbv2=clients.elbv2,
            cloudwatch=clients.cloudwatch,
        ),
        targets,
        options,
        runtime,
        view,
        # The report's title and the lease's holder say what runs: `status --follow` finishes like a release.
        command="status --follow" if invocation.follow else invocation.command,
    )


def _report(invocation: Invocation, clients: AwsClients, targets: Targets, record: ReleaseRecord) -> int:
    """Write the report (text, JSON, GitHub step summary) with the console links; return the run's exit code."""
    links = console_links(_region(clients), targets, record.deployment_id, rollback_id=record.rollback_id)
    invoked = invoked_command(sys.argv[0], sys.executable, Path.cwd())
    if record.error is not None:
        _at_the_edge(record.error, invoked, _region(clients))
    write_reports(record, invocation.release.report_dir, invocation.ci, sys.stdout, links=links)
    # --no-wait left it running (a first release is followed anyway: nothing switched means not followed).
    if record.exit_code == ExitCode.RELEASED and record.deployment_id and record.live_after is None:
        print(
            f"deployment {record.deployment_id} started, not followed (--no-wait); "
            f"`{invoked} status --follow --deployment-id {record.deployment_id}` follows and finishes it"
        )
    return record.exit_code


def _cmd_release(invocation: Invocation, clients: AwsClients, runtime: Runtime) -> int:
    args = invocation.release
    if invocation.command == "release" and args.app_dir is None:
        raise InputError("--app-dir is missing", hint="Give --app-dir DIR (or APP_DIR), the folder with appspec.yml.")
    if not args.wait and invocation.promotion.check_command:
        # The check runs while the run follows the deployment at Ready; a run that exits at once would skip it.
        raise InputError(
            f"--no-wait cannot run the pre-promotion check ({invocation.promotion.check_command}, from "
            "--check-command, PROMOTION_CHECK_COMMAND or cdk.json's promotionCheckCommand)",
            hint="Drop --no-wait so the release runs the check at the gate, or remove the check to release unchecked.",
        )
    targets = _targets(invocation, clients)
    revision: dict[str, Any] | None = None
    if invocation.command == "rollback":
        with stop_on_signals(runtime.stop):
            fast = fast_rollback(clients, targets, runtime)
        if fast is not None:
            return fast
        revision, source = previous_revision(clients.codedeploy, targets, bake.Site.of(clients, targets).read())
        print(f"rolling back to the revision of deployment {source}: {revision.get('s3Location', {}).get('key')}")
    if invocation.promotion.check_command and not (targets.preview_target_group_arn and targets.test_url):
        raise InputError(
            "a pre-promotion check was given but the stack has no test listener (outputs PreviewTargetGroupArn, "
            "TestUrl)",
            hint="Set promotionGate and testListenerPort in cdk.json and deploy the stack, or drop --check-command "
            "(and promotionCheckCommand).",
        )
    release = _release(invocation, clients, targets, runtime)
    with stop_on_signals(runtime.stop):
        record = release.run(revision)
    return _report(invocation, clients, targets, record)


def fast_rollback(clients: AwsClients, targets: Targets, runtime: Runtime) -> int | None:
    """`rollback` inside a bake window (release.bake): traffic back on the old slot in seconds; None when no window
    is open (then `rollback` releases the previous revision again, as outside a window)."""
    site = bake.Site.of(clients, targets)
    owner = default_owner()
    lease = Lease(
        clients.s3,
        targets.bucket,
        lease_key(targets.application, targets.deployment_group),
        release_id=uuid.uuid4().hex[:12],
        command="rollback",
        runtime=runtime,
        owner=owner,
    )
    timing = read_traffic_timing(clients.elbv2, targets.target_group_arn)

    def say(line: str) -> None:
        print(line, flush=True)

    requester = bake.Requester(
        site, runtime, say, timing, lease=lease, owner=f"rollback by {owner}", wait_seconds=TTL_SECONDS + SKEW_SECONDS
    )
    try:
        answer = requester.request()
    except ReleaseError as exc:
        print(exc.describe())
        return int(exc.exit_code)
    if answer.outcome is None:
        say(f"{answer.message}: releasing the previous revision again")
        return None
    for note in answer.outcome.notes:
        say(note)
    say(f"rolled back inside the bake window: {answer.message}")
    return int(ExitCode.RELEASED)


def _cmd_follow(invocation: Invocation, clients: AwsClients, runtime: Runtime) -> int:
    """`status --follow`: follow the deployment to its end with release's view, finish it, report as release does."""
    targets = _targets(invocation, clients)
    deployment_id = deployment_to_follow(clients.codedeploy, targets, invocation.deployment_id)
    done = nothing_to_finish(clients.codedeploy, clients.autoscaling, targets, deployment_id)
    if done is not None:
        print(done)
        return int(ExitCode.RELEASED)
    release = _release(invocation, clients, targets, runtime)
    release.view.note(f"following deployment {deployment_id} of {targets.application}/{targets.deployment_group}")
    with stop_on_signals(runtime.stop):
        record = follow_and_finish(release, deployment_id, timeout=invocation.release.timeout_seconds)
    return _report(invocation, clients, targets, record)


def _at_the_edge(error: ReleaseError, invoked: str, region: str | None) -> None:
    """Word a run's error for the user who ran it: the tool's command as they ran it (`as_invoked`), and for exit 8
    the region the clients called (the first thing to check when AWS cannot be reached)."""
    error.message = as_invoked(error.message, invoked)
    error.hint = as_invoked(error.hint, invoked)
    if error.exit_code == ExitCode.AWS_UNAVAILABLE and region:
        error.hint = f"{error.hint} The tool called region {region}.".lstrip()


def _region(clients: AwsClients) -> str | None:
    """The region the clients call (for console links); None when a stand-in client has none."""
    meta = getattr(clients.autoscaling, "meta", None)
    return getattr(meta, "region_name", None)


def run(invocation: Invocation, *, clients: AwsClients | None = None, runtime: Runtime | None = None) -> int:
    """Run one command; `clients` and `runtime` are injectable for tests."""
    if invocation.command == "bundle":
        return _cmd_bundle(invocation)
    if invocation.command == "preflight":
        config, qualifier = _preflight_settings(invocation)
        return _cmd_preflight(config, qualifier, clients or build_clients(invocation.aws))
    deploying = {
        "release": _cmd_release,
        "rollback": _cmd_release,
        "promote-revision": _cmd_promote_revision,
        "promote-waves": _cmd_promote_waves,
    }
    check_stages_offline(invocation)
    if invocation.command in deploying or invocation.follow:
        # Before anything is read or touched: an unwritable report directory is bad input, not a late crash.
        prepare_report_dir(invocation.release.report_dir)
    if invocation.command == "promote-waves" or (invocation.command == "status" and invocation.stages.all_stages):
        # Each stage declares its region: no default region (AWS_REGION) is needed, clients are built per stage.
        every_stage = _cmd_promote_waves if invocation.command == "promote-waves" else _cmd_stage_statuses
        return every_stage(invocation, clients, runtime or Runtime.system())
    clients = clients or build_clients(invocation.aws)
    runtime = runtime or Runtime.system()
    if invocation.command in deploying:
        return deploying[invocation.command](invocation, clients, runtime)
    if invocation.command == "status":
        return _cmd_status(invocation, clients, runtime)
    return _cmd_on_group(invocation, clients, runtime)


def _cmd_on_group(invocation: Invocation, clients: AwsClients, runtime: Runtime) -> int:
    """`promote`, `abort` (the gate) or `stop` on the stack's deployment group."""
    targets = _targets(invocation, clients)
    if invocation.command in ("promote", "abort"):
        return _cmd_gate(invocation, clients, targets, runtime)
    return stop_in_flight(clients.codedeploy, targets, sys.stdout, region=_region(clients))


def _cmd_status(invocation: Invocation, clients: AwsClients, runtime: Runtime) -> int:
    """`status`: one screen (or JSON) of what is live; with --follow, follow a deployment and finish it."""
    if invocation.follow:
        return _cmd_follow(invocation, clients, runtime)
    return print_status(
        StatusClients(clients.codedeploy, clients.autoscaling, clients.s3, clients.elbv2),
        _targets(invocation, clients),
        sys.stdout,
        last=invocation.last,
        as_json=invocation.json_output,
        region=_region(clients),
        wording=_as_run(),
    )


def _stage_clients(invocation: Invocation, clients: AwsClients | None, region: str, profile: str | None) -> AwsClients:
    """Clients for another stage: the command's own when it has some for the same region and profile, else new ones."""
    settings = dataclasses.replace(invocation.aws, region=region, profile=profile)
    return clients if clients is not None and settings == invocation.aws else build_clients(settings)


def check_stages_offline(invocation: Invocation) -> None:
    """Refuse, before any client is built or AWS called, what the stage flags make contradictory or unknown: `status
    --all-stages` with --follow or --stage, or without declared stages; `promote-revision` from the stage it releases
    to, or from an undeclared stage; `promote-waves` naming an undeclared stage (--from-stage or a wave's). Raises
    `InputError`/`TargetsError` (exit 2)."""
    args = invocation.stages
    if invocation.command == "status" and args.all_stages:
        if invocation.follow:
            raise InputError(
                "status --all-stages cannot --follow: --follow follows one stage's deployment",
                hint="Give --stage NAME --follow for that stage, or drop --follow.",
            )
        if args.stage:
            raise InputError(
                f"status --all-stages reads every stage, but --stage (or RELEASE_STAGE) names {args.stage}",
                hint="Give one of --all-stages and --stage (unset RELEASE_STAGE for --all-stages).",
            )
        declared_stages()
    if invocation.command in ("promote-revision", "promote-waves") and args.from_stage:
        declared_stages()
        try:
            select_stage(args.from_stage)
        except TargetsError as exc:
            raise TargetsError(f"--from-{exc.message.removeprefix('--')}", hint=exc.hint) from exc
        if invocation.command == "promote-revision" and args.stage == args.from_stage:
            raise InputError(
                f"--from-stage {args.from_stage} is the stage released to", hint="Name the later stage with --stage."
            )


def _cmd_promote_revision(invocation: Invocation, clients: AwsClients, runtime: Runtime) -> int:
    """`promote-revision`: the earlier stage's succeeded revision, copied to this stage's bucket, released here."""
    args = invocation.stages
    if not args.stage:
        raise InputError(
            "promote-revision needs the stage to release to",
            hint="Give --stage NAME (or RELEASE_STAGE), a stage of cdk.json's `stages`.",
        )
    source_stage = select_stage(str(args.from_stage))
    targets = _targets(invocation, clients)
    if targets.stack_name == source_stage.stack_name:
        raise InputError(
            f"--from-stage {source_stage.name} is the stage released to", hint="Name the later stage with --stage."
        )
    source = _stage_clients(invocation, clients, source_stage.region, args.from_profile or invocation.aws.profile)
    source_targets = resolve_targets(
        TargetOverrides(stack_name=source_stage.stack_name),
        cloudformation=source.cloudformation,
        default_fleet=source_stage.config.fleet,
    )
    released = promotion.released_revision(
        source.codedeploy, source_targets, source_stage.name, args.from_deployment, s3=source.s3
    )
    copier = promotion.RevisionCopier(source.s3, clients.s3, same_credentials_and_region=source is clients)
    copied = copier.copy(released, targets.bucket)
    print(
        f"promoting {released.key} from stage {source_stage.name} (deployment {released.deployment_id}); "
        f"copy: {copied.how}"
    )
    release = _release(invocation, clients, targets, runtime)
    with stop_on_signals(runtime.stop):
        record = release.run(copied.revision.to_codedeploy())
    return _report(invocation, clients, targets, record)


def _cmd_promote_waves(invocation: Invocation, clients: AwsClients | None, runtime: Runtime) -> int:
    """`promote-waves`: promote-revision into each stage of each wave in order; stop at the first that does not
    release; report every stage."""
    waves = _waves(invocation.stages)
    # Every stage is checked before anything is copied or released.
    stages = {name: select_stage(name) for wave in waves for name in wave}
    if invocation.stages.from_stage in stages:
        raise InputError(f"--from-stage {invocation.stages.from_stage} is also in a wave", hint="Drop it from --wave.")
    report_dir = invocation.release.report_dir

    def release_stage(name: str) -> int:
        stage = stages[name]
        print(f"--- stage {name} ({stage.stack_name}, {stage.region})")
        staged = dataclasses.replace(
            invocation,
            aws=dataclasses.replace(invocation.aws, region=stage.region),
            targets=stage_overrides(stage, TargetOverrides(), None),
            release=dataclasses.replace(invocation.release, report_dir=report_dir / name),
            stages=dataclasses.replace(invocation.stages, stage=name),
        )
        try:
            reader = _stage_clients(invocation, clients, stage.region, invocation.aws.profile)
            return _cmd_promote_revision(staged, reader, runtime)
        except ReleaseError as exc:
            print(exc.describe(), file=sys.stderr)
            return int(exc.exit_code)
        except (ClientError, BotoCoreError) as exc:
            print(f"stage {name}: AWS call failed: {exc}", file=sys.stderr)
            return int(ExitCode.AWS_UNAVAILABLE)

    outcomes = promotion.run_waves(waves, release_stage)
    promotion.write_waves_report(outcomes, sys.stdout, report_dir / "waves-summary.json")
    return promotion.waves_exit_code(outcomes)


def _waves(args: StageArgs) -> list[list[str]]:
    """`--wave` as given, else cdk.json's `waves`; `InputError` (exit 2) when neither names any."""
    if args.waves:
        return promotion.parse_waves(list(args.waves))
    declared = declared_waves()
    if declared is None:
        raise InputError(
            "promote-waves needs its waves",
            hint='Give --wave STAGE[,STAGE...] per wave, or declare them in cdk.json: "waves": [["a"], ["b", "c"]].',
        )
    return declared


def _cmd_stage_statuses(invocation: Invocation, clients: AwsClients | None, _runtime: Runtime) -> int:
    """`status --all-stages`: per stage of cdk.json, the revision live there and since when, each read in its stage's
    region. Exit 0 when at least one stage could be read, 8 (AWS unavailable) when none could."""
    statuses = []
    for stage in declared_stages():
        reader = _stage_clients(invocation, clients, stage.region, invocation.aws.profile)
        statuses.append(
            promotion.stage_status(
                stage, cloudformation=reader.cloudformation, codedeploy=reader.codedeploy, s3=reader.s3
            )
        )
    promotion.write_stage_statuses(statuses, sys.stdout, as_json=invocation.json_output)
    if not any(status.read for status in statuses):
        print(
            "No stage could be read.\nWhat to do: check the credentials (`aws sts get-caller-identity`) and that "
            "they may read each stage's stack in its account and region.",
            file=sys.stderr,
        )
        return int(ExitCode.AWS_UNAVAILABLE)
    return int(ExitCode.RELEASED)


def _cmd_gate(invocation: Invocation, clients: AwsClients, targets: Targets, runtime: Runtime) -> int:
    """`promote` or `abort` the group's deployment that waits for promotion (release.gate)."""
    if invocation.command == "promote":
        wait = invocation.promotion.wait_seconds
        return gate.promote(clients.codedeploy, clients.s3, targets, sys.stdout, runtime=runtime, wait_seconds=wait)
    return gate.abort(clients.codedeploy, targets, sys.stdout, runtime=runtime)


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clients: AwsClients | None = None,
    runtime: Runtime | None = None,
) -> int:
    """Parse `argv` (default: sys.argv), run the command, and return its exit code.

    `env` (default: the process environment) is read here and nowhere below: into the `Invocation` and its
    `CiContext`. `clients` and `runtime` are injectable for tests. Every message printed here names the tool as the
    user ran it (`as_invoked`).
    """
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    invoked = invoked_command(sys.argv[0], sys.executable, Path.cwd())
    if args.command == "rehearse":
        return rehearse.run_from_args(args)
    region = None
    try:
        invocation = invocation_from(args, env)
        region = invocation.aws.region
        return run(invocation, clients=clients, runtime=runtime)
    except ReleaseError as exc:
        print(as_invoked(exc.describe(), invoked), file=sys.stderr)
        return int(exc.exit_code)
    except (NoCredentialsError, NoRegionError) as exc:
        print(
            f"{exc}\nWhat to do: set AWS credentials (OIDC role, AWS_PROFILE) and AWS_REGION; see docs/pipelines.md.",
            file=sys.stderr,
        )
        return int(ExitCode.BAD_INPUT)
    except (ClientError, BotoCoreError) as exc:
        hint = as_invoked(_aws_hint(args.command, region), invoked)
        print(f"AWS call failed: {exc}\nWhat to do: {hint}", file=sys.stderr)
        return int(ExitCode.AWS_UNAVAILABLE)


# How hints, help and the README write the tool's command; `as_invoked` rewrites it into the one the user ran.
DOCUMENTED_COMMAND = "python scripts/deploy.py"
CONSOLE_SCRIPT = "bluegreen-release"


def invoked_command(argv0: str, executable: str, cwd: Path) -> str:
    """The command that runs this tool again, as the user ran it: `bluegreen-release` for the console script, else
    the interpreter and the script (`.venv/bin/python scripts/deploy.py` from the project's venv).

    A bare `python` may not be the interpreter that has the tool installed (ModuleNotFoundError outside the venv), so
    the interpreter is named by its path: relative to `cwd` when it lies below it, absolute otherwise.
    """
    script = Path(argv0)
    if script.name == CONSOLE_SCRIPT:
        return CONSOLE_SCRIPT
    interpreter = Path(executable)
    if interpreter.is_absolute() and interpreter.is_relative_to(cwd):
        interpreter = interpreter.relative_to(cwd)
    if script.is_absolute() and script.is_relative_to(cwd):
        script = script.relative_to(cwd)
    shown = script.as_posix() if script.name == "deploy.py" else "scripts/deploy.py"
    return f"{interpreter.as_posix()} {shown}"


def as_invoked(text: str, invoked: str) -> str:
    """`text` with every `python scripts/deploy.py` written as `invoked` (see `invoked_command`)."""
    return text.replace(DOCUMENTED_COMMAND, invoked)


def _as_run() -> Callable[[str], str]:
    """`as_invoked` for this process: how a run's notes and hints name the tool (as the user ran it)."""
    invoked = invoked_command(sys.argv[0], sys.executable, Path.cwd())
    return lambda text: as_invoked(text, invoked)


def _aws_hint(command: str, region: str | None) -> str:
    """What helps when AWS could not be reached or refused: commands that show who and where the tool is.

    `region` is the one the clients were built with (--region, --stage, AWS_REGION/AWS_DEFAULT_REGION), or None
    when it came from the profile (or the command ended before the clients were built).
    """
    where = (
        f"the tool called region {region}"
        if region
        else "`aws configure list` shows the region and profile the tool used"
    )
    hint = (
        f"`aws sts get-caller-identity` shows the credentials' account and role; {where}: a wrong region shows as an "
        "endpoint that cannot be reached. For AccessDenied, give the role the action named above (docs/pipelines.md "
        "lists what each command needs)."
    )
    if command != "status":
        hint += " Once AWS answers, `python scripts/deploy.py status` shows what the tool can see."
    return hint
