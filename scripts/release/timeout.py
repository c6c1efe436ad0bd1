"""The release's default timeout: an upper bound of a healthy deployment, from the group, the hooks and the traffic.

The traffic steps come from the one traffic-timing model, `bluegreen.timing.TrafficTiming` (docs/decisions.md F7),
fed with the target group's live settings (ELBv2 DescribeTargetGroups and DescribeTargetGroupAttributes), or with the
ALB's defaults when the target group is unknown or cannot be read.
"""

from __future__ import annotations

import argparse
import math
import re
from typing import Any

from botocore.exceptions import ClientError

from bluegreen.timing import (
    ALB_DEFAULT_DEREGISTRATION_DELAY_SECONDS,
    ALB_DEFAULT_HEALTHY_THRESHOLD,
    ALB_DEFAULT_INTERVAL_SECONDS,
    ALB_DEFAULTS,
    TrafficTiming,
)
from release.answers import required
from release.deployments import GroupInfo
from release.errors import InputError, UnexpectedAnswer

# A duration: a bare number of seconds, or whole hours, minutes and seconds in that order, each at most once and each
# with its unit (`1h30` or `1m30` would leave the reader guessing what the trailing number counts).
_DURATION = re.compile(r"(?P<bare>\d+)|(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
DURATION_FORMS = "seconds (90 or 90s), minutes (30m), hours (1h) or a combination (1h30m)"
# The longest duration any option accepts: 7 days. CodeDeploy's longest wait inside a deployment, the ready wait of a
# gated one, is at most 48 hours (docs/decisions.md F80), so a healthy release with it, its hooks and a slow fleet
# stays well inside a week; a longer figure is a typo. The bound also keeps every deadline computable: a `timedelta`
# of more than 999999999 days (about 10**14 s) raises OverflowError, which came after CreateDeployment.
MAX_DURATION_SECONDS = 7 * 24 * 3600


def parse_duration(raw: str, source: str) -> int:
    """Seconds of a duration written `90`, `90s`, `30m`, `1h` or `1h30m` (any of h, m, s in that order, each number
    with its unit; after a larger unit, minutes and seconds below 60: `1h30`, `1m30`, `30m90s` are refused).

    `source` names where the text came from (`--timeout`, `RELEASE_TIMEOUT`) for the message. Anything else, a
    duration of zero and one longer than `MAX_DURATION_SECONDS` (7 days) is an `InputError` (exit 2) of one line:
    every duration option and environment variable of the tool goes through this one parser, so they all accept and
    refuse the same texts with the same message.
    """
    text = raw.strip().lower()
    match = _DURATION.fullmatch(text)
    given = f"{source} {raw!r}" if source.startswith("-") else f"{source}={raw!r}"
    if not text or match is None or not any(match.groupdict().values()):
        raise InputError(f"{given} is not a duration: write {DURATION_FORMS}", hint="")
    hours, minutes, seconds = (int(match.group(unit) or 0) for unit in ("h", "m", "s"))
    # After a larger unit, a part of 60 or more is a typo or a sum to do by hand (30m90s is 31m30s): refused.
    if (match.group("h") and minutes >= 60) or ((match.group("h") or match.group("m")) and seconds >= 60):
        raise InputError(
            f"{given} is not a duration: after hours or minutes, minutes and seconds are below 60; write "
            f"{DURATION_FORMS}",
            hint="",
        )
    total = int(match.group("bare") or 0) + hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise InputError(f"{given} must be longer than zero: write {DURATION_FORMS}", hint="")
    if total > MAX_DURATION_SECONDS:
        raise InputError(
            f"{given} is longer than the longest duration the tool accepts, 7 days ({MAX_DURATION_SECONDS} s)",
            hint="",
        )
    return total


_GROUPS, _ATTRIBUTES = "DescribeTargetGroups", "DescribeTargetGroupAttributes"


def duration_argument(text: str) -> float:
    """`parse_duration` as an argparse `type=`, for options argparse parses itself (`rehearse --stop-timeout`): the
    same texts and the same words, in argparse's one-line error that names the flag."""
    try:
        return float(parse_duration(text, "-"))
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.message.removeprefix("- ")) from exc


# Allowance for the script-less events DownloadBundle and Install (and agent pick-up), per instance.
AGENT_EVENTS_SECONDS = 120
# Head-room for CodeDeploy's own bookkeeping between events.
TIMEOUT_MARGIN_SECONDS = 300


def read_traffic_timing(elbv2: Any | None, target_group_arn: str | None) -> TrafficTiming:
    """The target group's health-check and deregistration settings, or the ALB defaults when unknown."""
    if elbv2 is None or not target_group_arn:
        return ALB_DEFAULTS
    try:
        groups = required(elbv2.describe_target_groups(TargetGroupArns=[target_group_arn]), "TargetGroups", _GROUPS)
        attributes = required(
            elbv2.describe_target_group_attributes(TargetGroupArn=target_group_arn), "Attributes", _ATTRIBUTES
        )
    except ClientError:
        return ALB_DEFAULTS
    if not groups:
        raise UnexpectedAnswer(f"{_GROUPS} answered no target group for {target_group_arn}")
    group = groups[0]
    delay = next(
        (
            int(a["Value"])
            for a in attributes
            if a.get("Key") == "deregistration_delay.timeout_seconds" and a.get("Value") is not None
        ),
        ALB_DEFAULT_DEREGISTRATION_DELAY_SECONDS,
    )
    return TrafficTiming(
        interval_seconds=int(group.get("HealthCheckIntervalSeconds", ALB_DEFAULT_INTERVAL_SECONDS)),
        healthy_threshold=int(group.get("HealthyThresholdCount", ALB_DEFAULT_HEALTHY_THRESHOLD)),
        deregistration_delay_seconds=delay,
    )


def batches(deployment_config: str, instances: int) -> int:
    """How many instance batches the configuration runs one after the other (worst case for unknown configs)."""
    if deployment_config == "CodeDeployDefault.AllAtOnce":
        return 1
    if deployment_config == "CodeDeployDefault.HalfAtATime":
        return min(2, max(instances, 1))
    return max(instances, 1)


def default_timeout_seconds(
    group: GroupInfo,
    *,
    green_instances: int,
    blue_instances: int,
    green_hook_seconds: int,
    blue_hook_seconds: int,
    traffic: TrafficTiming,
) -> int:
    """An upper bound of a healthy deployment's duration, from the group's settings and the revision's hooks.

    green batches x (hook timeouts + DownloadBundle/Install allowance + AllowTraffic)
    + the ready wait (STOP_DEPLOYMENT only)
    + blue batches x (BeforeBlockTraffic/AfterBlockTraffic timeouts + BlockTraffic incl. deregistration delay)
    + the blue termination wait (TERMINATE only) + a margin.
    """
    green = batches(group.deployment_config, green_instances) * (
        green_hook_seconds + AGENT_EVENTS_SECONDS + traffic.allow_traffic_seconds
    )
    blue = batches(group.deployment_config, blue_instances) * (blue_hook_seconds + traffic.block_traffic_seconds)
    ready = group.ready_wait_minutes * 60 if group.ready_action == "STOP_DEPLOYMENT" else 0
    terminate = group.blue_wait_minutes * 60 if group.blue_action == "TERMINATE" else 0
    return math.ceil(green + ready + blue + terminate + TIMEOUT_MARGIN_SECONDS)


# The release tool's own waits around the deployment, at their defaults (`deploy.py release --help`).
DEFAULT_SCALE_TIMEOUT_SECONDS = 900
DEFAULT_CLEANUP_TIMEOUT_SECONDS = 120
DEFAULT_ROLLBACK_TIMEOUT_SECONDS = 900
# The longest deregistration wait: the drain caps the deregistration delay at 840 s (docs/decisions.md F4), plus
# slack for two health-check intervals at their 300 s maximum is more than enough.
MAX_DEREGISTRATION_WAIT_SECONDS = 840 + 2 * 300


def worst_case_seconds(
    timeout_seconds: float,
    *,
    scale_timeout_seconds: float = DEFAULT_SCALE_TIMEOUT_SECONDS,
    cleanup_timeout_seconds: float = DEFAULT_CLEANUP_TIMEOUT_SECONDS,
    rollback_timeout_seconds: float = DEFAULT_ROLLBACK_TIMEOUT_SECONDS,
) -> int:
    """How long one `release` can run at most, for a deployment timeout of `timeout_seconds`.

    The credentials a pipeline gives the release must outlive this (issue 12 §4): expired credentials mid-release
    leave the deployment unwatched and the slots' processes suspended. The sum of every bounded wait, in order:
    the idle slot's targets deregistering (pre-flight), an idle slot left scaled up emptying, the idle slot filling
    (both `--scale-timeout`), the deployment (`--timeout`), a stopped deployment settling (`--cleanup-timeout`), the
    rollback (the longer of the two rollback bounds), and the idle slot's targets deregistering before it is emptied
    (at most `--cleanup-timeout`), plus ten minutes for the bundle, the upload and the calls between the waits.
    """
    waits = (
        MAX_DEREGISTRATION_WAIT_SECONDS
        + 2 * scale_timeout_seconds
        + timeout_seconds
        + cleanup_timeout_seconds
        + max(rollback_timeout_seconds, cleanup_timeout_seconds)
        + cleanup_timeout_seconds
        + 600
    )
    return math.ceil(waits)
