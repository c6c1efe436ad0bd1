"""What to release to: the artifact bucket, the CodeDeploy application and group, the two slots and the fleet size.

They come from the stack's CloudFormation outputs (`--stack`) or from explicit values; an explicit value wins over
the output of the same name, so a single value can be overridden without giving up the stack.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from release.deploy_errors import TargetsError

# Output keys declared by the stack (stacks/, "Outputs"); no exports, so they are read with DescribeStacks.
OUTPUT_BUCKET = "ArtifactBucketName"
OUTPUT_APPLICATION = "ApplicationName"
OUTPUT_GROUP = "DeploymentGroupName"
OUTPUT_SLOT_A = "SlotAName"
OUTPUT_SLOT_B = "SlotBName"
OUTPUT_TARGET_GROUP = "TargetGroupArn"
OUTPUT_SITE_URL = "SiteUrl"
OUTPUT_FLEET = ("FleetMinSize", "FleetDesiredSize", "FleetMaxSize")


@dataclass(frozen=True)
class FleetSize:
    """The live slot's capacity as configured for the stack; the idle slot is scaled to at least `desired`."""

    minimum: int
    desired: int
    maximum: int

    def __post_init__(self) -> None:
        if not 0 <= self.minimum <= self.desired <= self.maximum or self.maximum < 1:
            raise TargetsError(
                f"fleet size min={self.minimum} desired={self.desired} max={self.maximum} is not "
                "0 <= min <= desired <= max (max >= 1)",
                hint="Fix --fleet-min/--fleet-desired/--fleet-max (or the stack's fleet settings in cdk.json).",
            )


@dataclass(frozen=True)
class TargetOverrides:
    """Values given explicitly (flags or environment); `None` means "take it from the stack"."""

    stack_name: str | None = None
    bucket: str | None = None
    application: str | None = None
    deployment_group: str | None = None
    slots: tuple[str, str] | None = None
    fleet: FleetSize | None = None


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


def read_stack_outputs(cloudformation: Any, stack_name: str) -> dict[str, str]:
    """The stack's outputs as a key → value mapping (DescribeStacks), or `TargetsError` if it does not exist."""
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as exc:
        # DescribeStacks answers a missing stack with a ValidationError "Stack with id X does not exist".
        raise TargetsError(
            f"stack {stack_name!r} cannot be read: {exc.response['Error'].get('Message', exc)}",
            hint=(
                "Deploy it first (`cdk deploy`), or check --stack/STACK_NAME and the region (AWS_REGION); "
                "or give --bucket, --application, --deployment-group and --slots explicitly."
            ),
        ) from exc
    status = stacks[0].get("StackStatus", "")
    if status.endswith("_IN_PROGRESS") and not status.startswith("UPDATE_COMPLETE"):
        raise TargetsError(
            f"stack {stack_name!r} is {status}; its outputs may be about to change",
            hint="Wait for the stack operation to finish (`cdk deploy` in the same pipeline does), then run again.",
        )
    return {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}


def _fleet_from_outputs(outputs: Mapping[str, str]) -> FleetSize | None:
    if not all(key in outputs for key in OUTPUT_FLEET):
        return None
    try:
        minimum, desired, maximum = (int(outputs[key]) for key in OUTPUT_FLEET)
    except ValueError as exc:
        raise TargetsError(f"stack outputs {', '.join(OUTPUT_FLEET)} are not whole numbers: {exc}") from exc
    return FleetSize(minimum, desired, maximum)


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
    outputs: dict[str, str] = {}
    if overrides.stack_name:
        if cloudformation is None:
            raise TargetsError("a stack was named but no CloudFormation client was given")
        outputs = read_stack_outputs(cloudformation, overrides.stack_name)

    def pick(value: str | None, output_key: str, flag: str) -> str:
        chosen = value or outputs.get(output_key)
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

    bucket = pick(overrides.bucket, OUTPUT_BUCKET, "--bucket")
    application = pick(overrides.application, OUTPUT_APPLICATION, "--application")
    group = pick(overrides.deployment_group, OUTPUT_GROUP, "--deployment-group")
    if overrides.slots is not None:
        slots = overrides.slots
    else:
        slots = (pick(None, OUTPUT_SLOT_A, "--slots"), pick(None, OUTPUT_SLOT_B, "--slots"))
    if slots[0] == slots[1]:
        raise TargetsError(
            f"the two slots are the same Auto Scaling group {slots[0]!r}",
            hint="Give two different groups: --slots SLOT_A,SLOT_B.",
        )
    fleet = overrides.fleet or _fleet_from_outputs(outputs) or default_fleet
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
        target_group_arn=outputs.get(OUTPUT_TARGET_GROUP),
        site_url=outputs.get(OUTPUT_SITE_URL),
        stack_name=overrides.stack_name,
    )


def check_bucket(s3: Any, bucket: str) -> None:
    """Pre-flight: the artifact bucket exists and is reachable (HeadBucket), before anything is built or scaled."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise TargetsError(
                f"artifact bucket {bucket!r} does not exist",
                hint="Deploy the stack (`cdk deploy`) or fix --bucket/S3_BUCKET; nothing was uploaded or scaled.",
            ) from exc
        raise TargetsError(
            f"artifact bucket {bucket!r} cannot be reached ({code})",
            hint="Check that the pipeline's role may s3:ListBucket on it and that AWS_REGION is the stack's region.",
        ) from exc
