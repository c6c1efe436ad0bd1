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
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

from bluegreen.config import ConfigError, FleetSize, load_cdk_json_config, load_cdk_json_context
from release import rehearse
from release.bundle import build_bundle
from release.ci import CiContext
from release.errors import ExitCode, InputError, ReleaseError
from release.links import console_links
from release.operations import previous_revision, print_status, stop_in_flight
from release.orchestrate import Clients, Release, ReleaseOptions
from release.preflight import Preflight, PreflightClients, bootstrap_qualifier
from release.report import write_reports
from release.runtime import Runtime, stop_on_signals
from release.targets import OUTPUTS_READ, TargetOverrides, Targets, fleet_size, resolve_targets
from release.views import colour_wanted, live_wanted, make_view

DEFAULT_STACK = "BlueGreenApp"
DEFAULT_REPORT_DIR = "release-report"
DEFAULT_BUNDLE_DIR = "build/bundles"

EXIT_CODES = """\
exit codes:
  0  released (or: command done)
  1  deployment failed; CodeDeploy rolled back, the failed slot was emptied
  2  bad input or pre-flight failure, including a live slot the deployment group, the target group and
     the last successful deployment do not settle: nothing uploaded, nothing scaled
  3  timed out: the deployment was stopped with rollback (or, if StopDeployment kept failing, it still runs:
     the message says how to stop it)
  4  cancelled (SIGINT/SIGTERM/SIGHUP): the deployment was stopped with rollback (or still runs, as for 3)
  5  another release holds the deployment group's release lease, or another deployment is in flight: nothing
     was touched
  6  rehearse only: INCOMPLETE, nothing failed but something could not be reproduced here (runas when not root);
     see docs/agent-conformance.md
  7  released, finishing incomplete: the deployment succeeded and traffic is on the new slot, but re-pointing
     the group, resuming scaling processes or emptying the old slot failed; the message gives the repair (the
     next release also completes it first)
  8  AWS could not be reached or refused the credentials or a permission (region, endpoint, IAM)
"""

ENVIRONMENT = """\
environment variables (a flag wins over its variable):
  STACK_NAME             --stack            APP_DIR            --app-dir
  S3_BUCKET              --bucket           RELEASE_TIMEOUT    --timeout (seconds)
  APPLICATION_NAME       --application      SCALE_TIMEOUT      --scale-timeout (seconds)
  DEPLOYMENT_GROUP_NAME  --deployment-group RELEASE_DESCRIPTION --description
  SLOTS                  --slots A,B        REPORT_DIR         --report-dir
  TARGET_GROUP_ARN       --target-group (the live slot is checked against it; needed with explicit --slots)
  FLEET_MIN_SIZE / FLEET_DESIRED_SIZE / FLEET_MAX_SIZE   --fleet-min / --fleet-desired / --fleet-max
  AWS_PROFILE, AWS_REGION (or AWS_DEFAULT_REGION), AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_<SERVICE> (for example
  AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_CODEDEPLOY): the AWS SDK's standard configuration, honoured as is.
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
    # False when NO_COLOR is set (no-color.org): the live table draws without colour.
    colour: bool = True


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


# ----------------------------------------------------------------------------------------------------------------------
# Parsing
# ----------------------------------------------------------------------------------------------------------------------


def _add_aws(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("AWS")
    group.add_argument("--profile", help="named AWS profile (env AWS_PROFILE)")
    group.add_argument("--region", help="AWS region (env AWS_REGION / AWS_DEFAULT_REGION)")
    group.add_argument(
        "--retry-mode",
        choices=("adaptive", "standard"),
        help="SDK retry mode (env AWS_RETRY_MODE; default adaptive: client-side rate limiting)",
    )
    group.add_argument("--max-attempts", type=int, help="SDK attempts per call (env AWS_MAX_ATTEMPTS; default 10)")


def _add_targets(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("targets")
    group.add_argument("--stack", help=f"stack to read outputs from (env STACK_NAME; default {DEFAULT_STACK})")
    group.add_argument("--bucket", help="artifact bucket (env S3_BUCKET)")
    group.add_argument("--application", help="CodeDeploy application (env APPLICATION_NAME)")
    group.add_argument("--deployment-group", help="CodeDeploy deployment group (env DEPLOYMENT_GROUP_NAME)")
    group.add_argument("--slots", help="the two Auto Scaling groups, SLOT_A,SLOT_B (env SLOTS)")
    group.add_argument(
        "--target-group",
        help="target group ARN (env TARGET_GROUP_ARN; default the stack's TargetGroupArn output): which slot serves",
    )
    group.add_argument("--fleet-min", type=int, help="fleet minimum (env FLEET_MIN_SIZE)")
    group.add_argument("--fleet-desired", type=int, help="fleet desired size (env FLEET_DESIRED_SIZE)")
    group.add_argument("--fleet-max", type=int, help="fleet maximum (env FLEET_MAX_SIZE)")


def _add_release(parser: argparse.ArgumentParser, *, app_dir: bool) -> None:
    group = parser.add_argument_group("release")
    if app_dir:
        group.add_argument("--app-dir", help="revision directory holding appspec.yml (env APP_DIR)")
        group.add_argument("--key-prefix", help="S3 key prefix of revisions (default revisions/<application>)")
    group.add_argument("--bundle-dir", help=f"where bundles are written (default {DEFAULT_BUNDLE_DIR})")
    group.add_argument(
        "--report-dir", help=f"summary JSON and timeline SVG (env REPORT_DIR; default {DEFAULT_REPORT_DIR})"
    )
    group.add_argument("--description", help="deployment description (env RELEASE_DESCRIPTION; default from CI vars)")
    group.add_argument(
        "--timeout",
        type=float,
        help="deployment timeout in seconds (env RELEASE_TIMEOUT; default: "
        "derived from the group's settings, the hooks' timeouts and the target group's timing)",
    )
    group.add_argument(
        "--scale-timeout",
        type=float,
        help="seconds to wait for the idle slot to fill (every instance InService, i.e. its CodeDeploy agent "
        "running: launch, boot, user data and agent start) or to empty (env SCALE_TIMEOUT; default 900)",
    )
    group.add_argument(
        "--cleanup-timeout",
        type=float,
        help="seconds to wait for a stopped deployment's rollback before exiting (default 120)",
    )
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


def _command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    *,
    description: str | None = None,
    aws: bool = True,
) -> argparse.ArgumentParser:
    """A subcommand whose help ends with the environment variables (when it calls AWS) and the exit codes."""
    return commands.add_parser(
        name,
        help=summary,
        description=description,
        epilog=(ENVIRONMENT + "\n" + EXIT_CODES) if aws else EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def build_parser() -> argparse.ArgumentParser:
    """The command line, documenting every flag, environment variable and exit code."""
    parser = argparse.ArgumentParser(
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
    status = _command(commands, "status", "live slot, deployment in flight, last releases")
    _add_targets(status)
    status.add_argument("--last", type=int, default=5, help="how many recent deployments to list (default 5)")
    status.add_argument("--json", action="store_true", help="print the status as JSON (stable keys) for scripts")
    _add_aws(status)
    rollback = _command(commands, "rollback", "release the previous successful revision again (onto the idle slot)")
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
    rehearse_parser = commands.add_parser("rehearse", help="rehearse the revision's hooks locally (no AWS)")
    rehearse.configure_parser(rehearse_parser)
    return parser


def _number(raw: Any, name: str, kind: type[int] | type[float]) -> Any:
    if raw is None or raw == "":
        return None
    try:
        value = kind(raw)
    except ValueError as exc:
        raise InputError(f"{name}={raw!r} is not a number", hint=f"Set {name} to a number or unset it.") from exc
    if not math.isfinite(value):
        # float("nan") and float("inf") parse, but a deadline of nan never passes: refuse them like text.
        raise InputError(f"{name}={raw!r} is not a finite number", hint=f"Set {name} to a number of seconds.")
    return value


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


def invocation_from(args: argparse.Namespace, env: Mapping[str, str]) -> Invocation:
    """Merge flags and environment (flags win) into an `Invocation`; bad values raise `InputError` (exit 2)."""

    def pick(flag: str, variable: str | None) -> Any:
        value = getattr(args, flag, None)
        return value if value is not None else (env.get(variable) if variable else None)

    fleet_values = [
        _number(pick(flag, variable), variable, int)
        for flag, variable in (
            ("fleet_min", "FLEET_MIN_SIZE"),
            ("fleet_desired", "FLEET_DESIRED_SIZE"),
            ("fleet_max", "FLEET_MAX_SIZE"),
        )
    ]
    if any(value is not None for value in fleet_values) and not all(value is not None for value in fleet_values):
        raise InputError(
            "the fleet size needs all three of --fleet-min, --fleet-desired and --fleet-max",
            hint="Give all three (or their FLEET_*_SIZE variables), or none to use the stack's outputs.",
        )
    fleet = fleet_size(*fleet_values) if all(value is not None for value in fleet_values) else None
    explicit = TargetOverrides(
        stack_name=pick("stack", "STACK_NAME"),
        bucket=pick("bucket", "S3_BUCKET"),
        application=pick("application", "APPLICATION_NAME"),
        deployment_group=pick("deployment_group", "DEPLOYMENT_GROUP_NAME"),
        slots=_slots(pick("slots", "SLOTS")),
        fleet=fleet,
        target_group_arn=pick("target_group", "TARGET_GROUP_ARN"),
    )
    complete = all((explicit.bucket, explicit.application, explicit.deployment_group, explicit.slots))
    if not explicit.stack_name and not complete:
        explicit = dataclasses.replace(explicit, stack_name=DEFAULT_STACK)
    max_attempts = _number(pick("max_attempts", "AWS_MAX_ATTEMPTS"), "AWS_MAX_ATTEMPTS", int) or 10
    retry_mode = pick("retry_mode", "AWS_RETRY_MODE") or "adaptive"
    if retry_mode not in ("adaptive", "standard", "legacy"):
        raise InputError(f"AWS_RETRY_MODE={retry_mode!r} is not a retry mode", hint="Use adaptive or standard.")
    app_dir = pick("app_dir", "APP_DIR")
    timeout = _number(pick("timeout", "RELEASE_TIMEOUT"), "RELEASE_TIMEOUT", float)
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise InputError(f"--timeout {timeout} must be a positive number of seconds", hint="e.g. --timeout 1800.")
    return Invocation(
        command=args.command,
        aws=AwsSettings(
            profile=pick("profile", None),
            # botocore reads AWS_DEFAULT_REGION; AWS_REGION (what CI actions export) is honoured here as well.
            region=pick("region", "AWS_REGION") or env.get("AWS_DEFAULT_REGION"),
            retry_mode=retry_mode,
            max_attempts=max_attempts,
        ),
        targets=explicit,
        release=ReleaseArgs(
            app_dir=Path(app_dir) if app_dir else None,
            bundle_dir=Path(pick("bundle_dir", None) or DEFAULT_BUNDLE_DIR),
            report_dir=Path(pick("report_dir", "REPORT_DIR") or DEFAULT_REPORT_DIR),
            description=pick("description", "RELEASE_DESCRIPTION"),
            timeout_seconds=timeout,
            scale_timeout_seconds=_number(pick("scale_timeout", "SCALE_TIMEOUT"), "SCALE_TIMEOUT", float) or 900.0,
            cleanup_timeout_seconds=getattr(args, "cleanup_timeout", None) or 120.0,
            key_prefix=getattr(args, "key_prefix", None),
            live_view=live_wanted(getattr(args, "live_view", None), env),
            colour=colour_wanted(env),
        ),
        last=getattr(args, "last", 5),
        json_output=bool(getattr(args, "json", False)),
        ci=CiContext.from_env(env),
        context=tuple(_context_pair(item) for item in getattr(args, "context", None) or ()),
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


def build_clients(settings: AwsSettings) -> AwsClients:
    """Clients from one boto3 Session (profile, region), with SDK retries set.

    Endpoint overrides need no code: botocore itself reads AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> (and the
    `endpoint_url` profile settings), which is how the tests and local stand-ins point the tool elsewhere.
    """
    session = boto3.Session(profile_name=settings.profile, region_name=settings.region)
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
    )


def _default_fleet() -> FleetSize | None:
    """The fleet size cdk.json configures (used when neither the stack nor the flags give one)."""
    try:
        return load_cdk_json_config().fleet
    except ConfigError:
        # Not fatal here: without a fleet size from the stack or the flags, `resolve_targets` says what to give.
        return None


def _targets(invocation: Invocation, clients: AwsClients) -> Targets:
    return resolve_targets(invocation.targets, cloudformation=clients.cloudformation, default_fleet=_default_fleet())


# ----------------------------------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------------------------------


def _cmd_bundle(invocation: Invocation) -> int:
    app_dir = invocation.release.app_dir
    if app_dir is None:
        raise InputError("--app-dir is missing", hint="Give --app-dir DIR (or APP_DIR), the folder with appspec.yml.")
    bundle = build_bundle(app_dir, invocation.release.bundle_dir)
    # What the agent accepts but may surprise (docs/agent-conformance.md): said, never refused.
    for warning in bundle.appspec.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"bundle  {bundle.path}\nsha256  {bundle.sha256}\nsize    {bundle.size} bytes\nfiles   {bundle.file_count}")
    return int(ExitCode.RELEASED)


def _cmd_preflight(invocation: Invocation, clients: AwsClients) -> int:
    overrides = dict(invocation.context)
    try:
        config = load_cdk_json_config(overrides=overrides)
        qualifier = bootstrap_qualifier({**load_cdk_json_context(), **overrides})
    except ConfigError as exc:
        raise InputError(f"cdk.json or -c: {exc}", hint="Fix the setting named above (README, Configuration).") from exc
    checks = PreflightClients(lambda_=clients.lambda_, cloudformation=clients.cloudformation, ssm=clients.ssm)
    Preflight(checks, config, qualifier=qualifier).run(sys.stdout)
    return int(ExitCode.RELEASED)


def _cmd_release(invocation: Invocation, clients: AwsClients, runtime: Runtime) -> int:
    args = invocation.release
    if invocation.command == "release" and args.app_dir is None:
        raise InputError("--app-dir is missing", hint="Give --app-dir DIR (or APP_DIR), the folder with appspec.yml.")
    targets = _targets(invocation, clients)
    revision: dict[str, Any] | None = None
    if invocation.command == "rollback":
        revision, source = previous_revision(clients.codedeploy, targets)
        print(f"rolling back to the revision of deployment {source}: {revision.get('s3Location', {}).get('key')}")
    options = ReleaseOptions(
        app_dir=args.app_dir,
        out_dir=args.bundle_dir,
        ci=invocation.ci,
        description=args.description,
        timeout_seconds=args.timeout_seconds,
        scale_timeout_seconds=args.scale_timeout_seconds,
        cleanup_timeout_seconds=args.cleanup_timeout_seconds,
        key_prefix=args.key_prefix,
    )
    view = make_view(sys.stdout, runtime.now, live=args.live_view, colour=args.colour)
    release = Release(
        Clients(s3=clients.s3, autoscaling=clients.autoscaling, codedeploy=clients.codedeploy, elbv2=clients.elbv2),
        targets,
        options,
        runtime,
        view,
        command=invocation.command,
    )
    with stop_on_signals(runtime.stop):
        record = release.run(revision)
    links = console_links(_region(clients), targets, record.deployment_id)
    write_reports(record, args.report_dir, invocation.ci, sys.stdout, links=links)
    return record.exit_code


def _region(clients: AwsClients) -> str | None:
    """The region the clients call (for console links); None when a stand-in client has none."""
    meta = getattr(clients.autoscaling, "meta", None)
    return getattr(meta, "region_name", None)


def run(invocation: Invocation, *, clients: AwsClients | None = None, runtime: Runtime | None = None) -> int:
    """Run one command; `clients` and `runtime` are injectable for tests."""
    if invocation.command == "bundle":
        return _cmd_bundle(invocation)
    clients = clients or build_clients(invocation.aws)
    if invocation.command in ("release", "rollback"):
        return _cmd_release(invocation, clients, runtime or Runtime.system())
    if invocation.command == "preflight":
        return _cmd_preflight(invocation, clients)
    targets = _targets(invocation, clients)
    if invocation.command == "status":
        return print_status(
            clients.codedeploy,
            clients.autoscaling,
            targets,
            sys.stdout,
            last=invocation.last,
            elbv2=clients.elbv2,
            as_json=invocation.json_output,
            region=_region(clients),
        )
    return stop_in_flight(clients.codedeploy, targets, sys.stdout)


def main(
    argv: Sequence[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    clients: AwsClients | None = None,
    runtime: Runtime | None = None,
) -> int:
    """Parse `argv` (default: sys.argv), run the command, and return its exit code.

    `env` (default: the process environment) is read here and nowhere below: into the `Invocation` and its
    `CiContext`. `clients` and `runtime` are injectable for tests.
    """
    env = os.environ if env is None else env
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "rehearse":
        return rehearse.run_from_args(args)
    try:
        invocation = invocation_from(args, env)
        return run(invocation, clients=clients, runtime=runtime)
    except ReleaseError as exc:
        print(exc.describe(), file=sys.stderr)
        return int(exc.exit_code)
    except (NoCredentialsError, NoRegionError) as exc:
        print(
            f"{exc}\nWhat to do: set AWS credentials (OIDC role, AWS_PROFILE) and AWS_REGION; see docs/pipelines.md.",
            file=sys.stderr,
        )
        return int(ExitCode.BAD_INPUT)
    except (ClientError, BotoCoreError) as exc:
        print(f"AWS call failed: {exc}\nWhat to do: {_aws_hint(args.command, env)}", file=sys.stderr)
        return int(ExitCode.AWS_UNAVAILABLE)


def _aws_hint(command: str, env: Mapping[str, str]) -> str:
    """What helps when AWS could not be reached or refused: commands that show who and where the tool is."""
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "(none set)"
    hint = (
        f"`aws sts get-caller-identity` shows the credentials' account and role, and `aws configure list` the region "
        f"({region}) and profile; a wrong region shows as an endpoint that cannot be reached. For AccessDenied, give "
        "the role the action named above (docs/pipelines.md lists what each command needs)."
    )
    if command != "status":
        hint += " Once AWS answers, `python scripts/deploy.py status` shows what the tool can see."
    return hint
