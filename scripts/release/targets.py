"""What to release to: the artifact bucket, the CodeDeploy application and group, the two slots and the fleet size.

They come from the stack's CloudFormation outputs (`--stack`) or from explicit values; an explicit value wins over
the output of the same name, so a single value can be overridden without giving up the stack.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from bluegreen import outputs
from bluegreen.config import ConfigError, FleetSize, load_cdk_json_context
from bluegreen.stages import Stage, find_stage, load_stages, load_waves
from release.answers import required
from release.errors import TargetsError
from release.retry import is_refused

# Every stack output the release tool reads (with DescribeStacks; the stack exports none). The stack writes the same
# names from `bluegreen.outputs`, and a test holds this tuple against `bluegreen.outputs.ALL` plus the optional
# `bluegreen.outputs.PREVIEW` (present only with a test listener).
OUTPUTS_READ: tuple[str, ...] = (
    outputs.ARTIFACT_BUCKET,
    outputs.APPLICATION,
    outputs.DEPLOYMENT_GROUP,
    outputs.SLOT_A,
    outputs.SLOT_B,
    *outputs.FLEET,
    outputs.TARGET_GROUP_ARN,
    outputs.SITE_URL,
    outputs.BOOTSTRAP_DEPLOYMENT_GROUP,
    outputs.DASHBOARD,
    *outputs.PREVIEW,
)


FLEET_FLAGS_HINT = "Fix --fleet-min/--fleet-desired/--fleet-max (or the stack's fleet settings in cdk.json)."


def fleet_size(minimum: int, desired: int, maximum: int, *, hint: str = FLEET_FLAGS_HINT) -> FleetSize:
    """The shared `FleetSize`, its `ConfigError` turned into a `TargetsError` (exit 2) with `hint`."""
    try:
        return FleetSize(minimum, desired, maximum)
    except ConfigError as exc:
        raise TargetsError(
            f"fleet size min={minimum} desired={desired} max={maximum} is not valid: {exc}", hint=hint
        ) from exc


@dataclass(frozen=True)
class TargetOverrides:
    """Values given explicitly (flags or environment); `None` means "take it from the stack"."""

    stack_name: str | None = None
    bucket: str | None = None
    application: str | None = None
    deployment_group: str | None = None
    slots: tuple[str, str] | None = None
    fleet: FleetSize | None = None
    target_group_arn: str | None = None


@dataclass(frozen=True)
class Targets:
    """Everything the release needs to know about where it goes."""

    bucket: str
    application: str
    deployment_group: str
    slots: tuple[str, str]
    fleet: FleetSize
    target_group_arn: str | None = None
    site_url: str | None = None
    stack_name: str | None = None
    # The in-place group of the first release (release.bootstrap); None for a stack from before it.
    bootstrap_group: str | None = None
    # The release dashboard (stacks/dashboard.py), linked from `status` and the report; None for an older stack.
    dashboard_name: str | None = None
    # The promotion gate's preview target group and test URL (release.gate); None without a test listener.
    preview_target_group_arn: str | None = None
    test_url: str | None = None


def require_region(region: str | None) -> str:
    """The AWS region the tool calls, or `TargetsError` (exit 2) when none is configured.

    botocore does not refuse a missing region for every service: S3 falls back to us-east-1 (its global endpoint)
    while the regional services raise NoRegionError at client creation. A release must never write to a bucket in a
    region it did not choose, so the tool checks the region itself before building any client.
    """
    if not region:
        raise TargetsError(
            "no AWS region is configured (none from --region, AWS_REGION, AWS_DEFAULT_REGION or the profile); "
            "the tool does not guess one",
            hint="Set the stack's region, e.g. `export AWS_REGION=eu-west-1`, or pass --region "
            "(the pipelines set AWS_REGION: docs/pipelines.md).",
        )
    return region


def read_stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs as a key → value mapping (DescribeStacks), or `TargetsError` if it does not exist."""
    try:
        answer = cloudformation.describe_stacks(StackName=stack_name)
    except ClientError as exc:
        if is_refused(exc):
            raise  # the credentials or permissions were refused: exit 8 at the edge, not "check the stack name"
        # DescribeStacks answers a missing stack with a ValidationError "Stack with id X does not exist".
        raise TargetsError(
            f"stack {stack_name!r} cannot be read: {exc.response['Error'].get('Message', exc)}",
            hint=(
                "Deploy it first (`cdk deploy`), or check --stack/STACK_NAME and the region (AWS_REGION); "
                "or give --bucket, --application, --deployment-group and --slots explicitly."
            ),
        ) from exc
    stacks = required(answer, "Stacks", "DescribeStacks")
    if not stacks:
        raise TargetsError(
            f"stack {stack_name!r} was not found", hint="Deploy it first (`cdk deploy`), or fix --stack."
        )
    status = stacks[0].get("StackStatus", "")
    if status.endswith("_IN_PROGRESS") and not status.startswith("UPDATE_COMPLETE"):
        raise TargetsError(
            f"stack {stack_name!r} is {status}; its outputs may be about to change",
            hint="Wait for the stack operation to finish (`cdk deploy` in the same pipeline does), then run again.",
        )
    return {
        str(required(output, "OutputKey", "DescribeStacks")): str(output.get("OutputValue", ""))
        for output in stacks[0].get("Outputs", [])
    }


def _fleet_from_outputs(values: Mapping[str, str]) -> FleetSize | None:
    if not all(key in values for key in outputs.FLEET):
        return None
    try:
        minimum, desired, maximum = (int(values[key]) for key in outputs.FLEET)
    except ValueError as exc:
        raise TargetsError(f"stack outputs {', '.join(outputs.FLEET)} are not whole numbers: {exc}") from exc
    return fleet_size(
        minimum, desired, maximum, hint="Fix the fleet settings in cdk.json and deploy the stack (`cdk deploy`)."
    )


def resolve_targets(
    overrides: TargetOverrides,
    *,
    cloudformation: Any | None,
    default_fleet: FleetSize | None = None,
) -> Targets:
    """Merge stack outputs (when a stack is named) with explicit overrides; every value must end up known.

    The fleet size falls back to `default_fleet` (the settings in cdk.json) when neither the stack nor the command
    line gives one: the idle slot must be scaled to a known size.
    """
    found: dict[str, str] = {}
    if overrides.stack_name:
        if cloudformation is None:
            raise TargetsError("a stack was named but no CloudFormation client was given")
        found = read_stack_outputs(cloudformation, overrides.stack_name)

    def pick(value: str | None, output_key: str, flag: str) -> str:
        chosen = value or found.get(output_key)
        if not chosen:
            where = (
                f"stack {overrides.stack_name!r} has no output {output_key!r}"
                if overrides.stack_name
                else ("no stack was named")
            )
            raise TargetsError(
                f"{flag} is missing ({where})",
                hint=f"Give {flag} (or its environment variable), or --stack NAME of a stack with output {output_key}.",
            )
        return chosen

    bucket = pick(overrides.bucket, outputs.ARTIFACT_BUCKET, "--bucket")
    application = pick(overrides.application, outputs.APPLICATION, "--application")
    group = pick(overrides.deployment_group, outputs.DEPLOYMENT_GROUP, "--deployment-group")
    if overrides.slots is not None:
        slots = overrides.slots
    else:
        slots = (pick(None, outputs.SLOT_A, "--slots"), pick(None, outputs.SLOT_B, "--slots"))
    if slots[0] == slots[1]:
        raise TargetsError(
            f"the two slots are the same Auto Scaling group {slots[0]!r}",
            hint="Give two different groups: --slots SLOT_A,SLOT_B.",
        )
    fleet = overrides.fleet or _fleet_from_outputs(found) or default_fleet
    if fleet is None:
        raise TargetsError(
            "the fleet size is unknown",
            hint="Give --fleet-min/--fleet-desired/--fleet-max, or --stack NAME of a stack with Fleet*Size outputs.",
        )
    return Targets(
        bucket=bucket,
        application=application,
        deployment_group=group,
        slots=slots,
        fleet=fleet,
        target_group_arn=overrides.target_group_arn or found.get(outputs.TARGET_GROUP_ARN),
        site_url=found.get(outputs.SITE_URL),
        stack_name=overrides.stack_name,
        bootstrap_group=found.get(outputs.BOOTSTRAP_DEPLOYMENT_GROUP),
        dashboard_name=found.get(outputs.DASHBOARD),
        preview_target_group_arn=found.get(outputs.PREVIEW_TARGET_GROUP_ARN),
        test_url=found.get(outputs.TEST_URL),
    )


def declared_stages(context: Mapping[str, Any] | None = None) -> tuple[Stage, ...]:
    """Every stage of cdk.json's setting `stages` (or of `context`); `TargetsError` (exit 2) when there are none or
    the setting is invalid."""
    try:
        stages = load_stages(load_cdk_json_context() if context is None else context)
    except ConfigError as exc:
        raise TargetsError(f"cdk.json: {exc}", hint="Fix the stage named above (README, Stages).") from exc
    if not stages:
        raise TargetsError("cdk.json declares no stages", hint="Declare them under `stages` (README, Stages).")
    return stages


def declared_waves(context: Mapping[str, Any] | None = None) -> list[list[str]] | None:
    """The waves of cdk.json's setting `waves` (or of `context`), None when it declares none; `TargetsError` (exit 2)
    when it or the stages are invalid."""
    context = load_cdk_json_context() if context is None else context
    stages = declared_stages(context) if context.get("stages") else ()
    try:
        waves = load_waves(context, stages)
    except ConfigError as exc:
        raise TargetsError(f"cdk.json: {exc}", hint="Fix the wave named above (README, Stages).") from exc
    return [list(wave) for wave in waves] if waves else None


def select_stage(name: str, context: Mapping[str, Any] | None = None) -> Stage:
    """The stage `name` of cdk.json's setting `stages` (or of `context`): its stack name and region are what
    `--stage NAME` releases to. Raises `TargetsError` (exit 2) naming the declared stages, or the setting at fault."""
    try:
        return find_stage(load_stages(load_cdk_json_context() if context is None else context), name)
    except ConfigError as exc:
        raise TargetsError(
            f"--stage {name}: {exc}",
            hint="Declare the stage under `stages` in cdk.json (README, Stages), or name a declared one.",
        ) from exc


def stage_overrides(stage: Stage, overrides: TargetOverrides, region: str | None) -> TargetOverrides:
    """`overrides` aimed at `stage`'s stack. Refuses (`TargetsError`, exit 2) a `--stack` or a `--region` that names
    another stack or region than the stage's: which of the two was meant cannot be told."""
    if overrides.stack_name and overrides.stack_name != stage.stack_name:
        raise TargetsError(
            f"--stage {stage.name} is stack {stage.stack_name!r}, but --stack (or STACK_NAME) names "
            f"{overrides.stack_name!r}",
            hint="Give one of --stage and --stack (unset STACK_NAME when you give --stage).",
        )
    if region and region != stage.region:
        raise TargetsError(
            f"--stage {stage.name} is in {stage.region}, but --region names {region}",
            hint="Drop --region: the stage's region is used.",
        )
    return dataclasses.replace(overrides, stack_name=stage.stack_name)
