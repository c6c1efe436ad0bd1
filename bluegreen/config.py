"""The app's settings: read from `cdk.json` context, validated once, frozen.

Plain Python (no aws_cdk, no boto3 import), so the CDK app, the release tool and the rehearsal read the same settings
and apply the same limits. `app.py` is its only caller at synth time.

**The defaults live here, in `SETTINGS`, and only here** (docs/decisions.md, "One source of defaults"): `cdk.json`
holds only the values a project overrides, so an unchanged key follows the project's defaults when they improve, and
the release tool (which may run without `cdk.json`) applies the same defaults. README.md's settings table is checked
against `SETTINGS` by the tests.

A bad value fails at once with a `ConfigError` that names the key, the value and what is allowed. The value types
(`HealthCheck`, `FleetSize`) validate themselves on construction, so a value built anywhere (the release tool's
flags, the rehearsal's overrides) obeys the same limits as one read from `cdk.json`.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import stat
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bluegreen.instance_types import UnknownInstanceType, UnlistedInstanceType, architecture, check_listed
from bluegreen.regions import UnlistedRegion, check_region_name

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"

# The predefined EC2/on-premises deployment configurations (CodeDeploy guide, "Working with deployment
# configurations"); custom configurations are not created by this stack, so only these names can exist.
SERVER_DEPLOYMENT_CONFIGS = (
    "CodeDeployDefault.OneAtATime",
    "CodeDeployDefault.HalfAtATime",
    "CodeDeployDefault.AllAtOnce",
)
CERTIFICATE_ARN = re.compile(
    r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$"
)
# A standard topic: CloudWatch alarm actions and CodeDeploy triggers publish to standard SNS topics.
SNS_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$")
HEALTH_CHECK_MATCHER = re.compile(r"^[2-4]\d\d(-[2-4]\d\d)?(,[2-4]\d\d(-[2-4]\d\d)?)*$")
HEALTH_CHECK_MATCHER_ALLOWED = "HTTP codes 200..499, e.g. 200, 200,204 or 200-299"
# ELBv2 CreateTargetGroup HealthCheckPath: starts with /, at most 1024 characters.
HEALTH_CHECK_PATH = re.compile(r"^/\S{0,1023}$")
STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
# CodeDeploy CreateDeploymentGroup: deploymentGroupName is 1..100 characters. The stack names its two groups
# `<stack>-blue-green` and `<stack>-bootstrap` (stacks/deployment.py), so the stack name leaves room for the longer
# suffix (docs/decisions.md F30).
DEPLOYMENT_GROUP_NAME_MAX = 100
DEPLOYMENT_GROUP_SUFFIXES = ("-blue-green", "-bootstrap")
STACK_NAME_MAX = DEPLOYMENT_GROUP_NAME_MAX - max(map(len, DEPLOYMENT_GROUP_SUFFIXES))
# An Application Load Balancer needs subnets in at least two availability zones (ELBv2 CreateLoadBalancer, Subnets).
ALB_MIN_AZS = 2
VPC_ID = re.compile(r"^vpc-[0-9a-f]{8,17}$")
SUBNET_ID = re.compile(r"^subnet-[0-9a-f]{8,17}$")
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy, retentionInDays), each with the name
# aws-cdk-lib's `aws_logs.RetentionDays` gives it; the stack looks the member up by that name.
LOG_RETENTION_DAYS: Mapping[int, str] = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
# Lambda's maximum invocation time (Lambda quotas). The whole drain runs in one invocation.
LAMBDA_MAX_TIMEOUT_SECONDS = 900
# Time one drain invocation needs besides waiting out the delay: deregistration, heartbeat, sending the one SSM
# command, and the completion with its throttling retries (the function keeps 20 s for these before its own timeout).
DRAIN_INVOCATION_OVERHEAD_SECONDS = 60
# So the deregistration delay (the drain's upper bound) can be at most this; ELBv2 itself allows 3600 s.
MAX_DEREGISTRATION_DELAY_SECONDS = LAMBDA_MAX_TIMEOUT_SECONDS - DRAIN_INVOCATION_OVERHEAD_SECONDS
# The smallest maximum event age EventBridge (RetryPolicy.MaximumEventAgeInSeconds, 60..86400) and Lambda
# (PutFunctionEventInvokeConfig MaximumEventAgeInSeconds, 60..21600) accept.
MIN_EVENT_AGE_SECONDS = 60
# Lambda waits one minute before it retries a failed asynchronous invocation (Lambda developer guide, "How Lambda
# handles errors and retries with asynchronous invocation").
LAMBDA_ASYNC_RETRY_WAIT_SECONDS = 60
# Room on top of the event-age bound and the drain bound: the drain Lambda completes the hook 10 s before the
# heartbeat would run out, and CompleteLifecycleAction's throttling retries take up to ~13 s.
DRAIN_HEARTBEAT_MARGIN_SECONDS = 30
# Auto Scaling's heartbeat range for a lifecycle hook (PutLifecycleHook.HeartbeatTimeout).
HEARTBEAT_RANGE_SECONDS = (30, 7200)
# How often the drain Lambda reads the status of its one on-instance wait command (GetCommandInvocation), in seconds.
DRAIN_POLL_RANGE_SECONDS = (0.2, 10.0)
# The sample app's drain check (sample-app/app/server.py): its in-flight count, served to loopback peers only.
DEFAULT_DRAIN_IN_FLIGHT_COMMAND = "curl -fsS --max-time 1 http://127.0.0.1:{port}/in-flight"
# The key `drainInFlightCommand` replaced: the old command counted connections, which idle keep-alive connections from
# the load balancer hold open (docs/drain.md); a value written for it would not mean what the new key means.
RENAMED_DRAIN_KEYS: Mapping[str, str] = {"drainConnectionCountCommand": "drainInFlightCommand"}
# CodeDeploy holds a blue/green deployment Ready (replacement installed, no traffic yet) for at most 48 hours between
# the deployment of the revision and the rerouting of traffic (CodeDeploy user guide, limits; docs/decisions.md F80):
# `deploymentReadyOption.waitTimeInMinutes` of 1..2880.
PROMOTION_WAIT_MINUTES_RANGE = (1, 2880)
# The bake window after a release (README, "Release strategies"): 0 = none. The release run holds its lease through it,
# so an upper bound keeps a forgotten setting from pinning the old slot (and the lease) for days.
BAKE_MINUTES_RANGE = (0, 240)
# The broadest range the test listener may admit: 10.0.0.0/8, the largest private block (RFC 1918). A broader range is
# mostly public addresses, and the listener serves a release nobody has promoted yet.
TEST_LISTENER_MIN_PREFIX = 8
# At most this many ranges: each becomes one inbound rule of the load balancer's security group, whose IPv4 inbound
# rules are capped at 60 by default (docs/decisions.md F105); the site's own listeners take up to 2 (ports 80 and 443),
# and the rest is head-room for a raised-then-lowered quota or a rule added by hand, so synth refuses what the deploy
# would fail on.
TEST_LISTENER_MAX_CIDRS = 50
# The ranges together may cover at most every private address (RFC 1918: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16):
# a private network is the widest audience a pre-promotion check needs, and without a bound on the union a range the
# /8 limit refuses could be split into /8s and pass (223 public /8s would open the listener to nearly everyone).
TEST_LISTENER_MAX_ADDRESSES = 2**24 + 2**20 + 2**16
# Ports the stack's own listeners take: a test listener on one of them would collide (DuplicateListener).
RESERVED_LISTENER_PORTS = (80, 443)
IPV4_CIDR = re.compile(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})$")
# Context keys that are not this project's to judge carry a namespace: an `@` in front or a `:` or `/` inside. So do
# CDK's feature flags (`@aws-cdk/...`), the keys the CDK CLI adds (`aws:cdk:enable-path-metadata`), the lookups it
# caches in cdk.context.json (`availability-zones:account=...:region=...`), and a key one sets for another tool or a
# stage (`myteam:costCentre`); see docs/decisions.md F67. Every other key must be a setting.
CONTEXT_NAMESPACE_MARKS = ("@", ":", "/")
# The CDK CLI's one key without a namespace: `cdk acknowledge <notice>` records it in cdk.json (F67).
CDK_PLAIN_CONTEXT_KEYS = frozenset({"acknowledged-issue-numbers"})
# SSM Parameter Store names (PutParameter Name: letters, digits and `_.-/`, at most 2048 characters); a hierarchy
# starts with `/`, like the public AMI parameters under /aws/service/.
SSM_PARAMETER_NAME = re.compile(r"^/?[A-Za-z0-9_.\-]+(/[A-Za-z0-9_.\-]+)*$")
SSM_PARAMETER_NAME_MAX = 2048
AMI_ID = re.compile(r"^ami-([0-9a-f]{8}|[0-9a-f]{17})$")
REGION_NAME = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
# IAM managed policies: an ARN (AWS managed, `iam::aws:`, or customer managed, `iam::<account>:`) or the name of an
# AWS managed policy, with its path if it has one (`service-role/...`). Names: 1..128 of `[\w+=,.@-]`.
MANAGED_POLICY_NAME = re.compile(r"^([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$")
MANAGED_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(aws|\d{12}):policy/([\w+=,.@-]+/)*[\w+=,.@-]{1,128}$")
# The instance role's own managed policy (stacks/fleet.py): listing it again would attach it twice.
INSTANCE_ROLE_BASE_POLICY = "AmazonSSMManagedInstanceCore"
# IAM quota "Managed policies attached to an IAM role": 10 by default, at most 20 when raised (F68); the role already
# has INSTANCE_ROLE_BASE_POLICY.
ROLE_MANAGED_POLICIES_DEFAULT_QUOTA = 10
ROLE_MANAGED_POLICIES_MAX_QUOTA = 20
# EC2 user data is at most 16 KB before base64 encoding (F69); the agent install takes about 2.3 KB of it (5 KB with
# a warm pool).
USER_DATA_MAX_BYTES = 16 * 1024


@dataclass(frozen=True)
class DrainTiming:
    """The drain's time limits, all derived from the deregistration delay in one place (docs/drain.md, "Late events").

    A termination event reaches the drain Lambda at most `event_age_bound_seconds` after Auto Scaling sent it: the
    EventBridge rule retries delivery for up to `rule_max_event_age_seconds`, then Lambda keeps the event in its
    asynchronous queue (throttled, or waiting for its one retry) for up to `function_max_event_age_seconds`; older
    events go to the dead-letter queue. The hook's heartbeat outlives that bound plus the whole drain
    (`drain_bound_seconds`, the deregistration delay) and a margin, so an event that arrives at all finds the
    lifecycle action still waiting: the Lambda deregisters the instance before it can terminate, even when its own
    heartbeat call fails.
    """

    drain_bound_seconds: int
    function_timeout_seconds: int
    rule_max_event_age_seconds: int
    function_max_event_age_seconds: int
    heartbeat_seconds: int

    @property
    def event_age_bound_seconds(self) -> int:
        """The oldest a delivered event can be when the drain Lambda starts on it."""
        return self.rule_max_event_age_seconds + self.function_max_event_age_seconds


def drain_timing(deregistration_delay_seconds: int) -> DrainTiming:
    """The drain's limits for a deregistration delay (0..`MAX_DEREGISTRATION_DELAY_SECONDS`); `heartbeat_seconds` is
    the smallest heartbeat that keeps every deliverable event in time, and the default.
    """
    delay = deregistration_delay_seconds
    if isinstance(delay, bool) or not isinstance(delay, int) or not 0 <= delay <= MAX_DEREGISTRATION_DELAY_SECONDS:
        raise ConfigError(
            f"deregistrationDelaySeconds: {delay!r} is out of range; allowed: 0..{MAX_DEREGISTRATION_DELAY_SECONDS}"
        )
    timeout = delay + DRAIN_INVOCATION_OVERHEAD_SECONDS
    # EventBridge to Lambda is one Invoke call into Lambda's queue; a minute of retries rides out a brief outage.
    rule_age = MIN_EVENT_AGE_SECONDS
    # Long enough for the function's one retry to run: a first attempt that starts late (throttled) and runs to its
    # timeout, then Lambda's one-minute wait before the retry.
    function_age = timeout + LAMBDA_ASYNC_RETRY_WAIT_SECONDS + MIN_EVENT_AGE_SECONDS
    heartbeat = rule_age + function_age + delay + DRAIN_HEARTBEAT_MARGIN_SECONDS
    return DrainTiming(
        drain_bound_seconds=delay,
        function_timeout_seconds=timeout,
        rule_max_event_age_seconds=rule_age,
        function_max_event_age_seconds=function_age,
        heartbeat_seconds=heartbeat,
    )


# Auto Scaling's heartbeat range for a lifecycle hook (PutLifecycleHook.HeartbeatTimeout); the agent-ready launch hook
# ends with ABANDON (the instance is replaced) when the heartbeat runs out before user data completes it.
AGENT_READY_TIMEOUT_RANGE = (30, 7200)


class ConfigError(ValueError):
    """A context value is missing, malformed or out of AWS's range."""


class RegionError(ConfigError):
    """The stack's region (from the environment, the profile or a stage) is not one to synthesize for."""


@dataclass(frozen=True)
class ExistingVpc:
    """An existing VPC to deploy into, described fully so synth needs no lookup (and no credentials)."""

    vpc_id: str
    availability_zones: tuple[str, ...]
    public_subnet_ids: tuple[str, ...]
    private_subnet_ids: tuple[str, ...]


# ELBv2 CreateTargetGroup limits for an HTTP target group of an Application Load Balancer (API reference,
# CreateTargetGroup): interval 5..300 s, timeout 2..120 s and below the interval, thresholds 2..10.
HEALTH_CHECK_INTERVAL_RANGE = (5, 300)
HEALTH_CHECK_TIMEOUT_RANGE = (2, 120)
HEALTH_CHECK_THRESHOLD_RANGE = (2, 10)
# Auto Scaling groups of this stack: an upper bound the validation applies to every fleet size.
FLEET_SIZE_LIMIT = 1000
# The drain Lambda runs once per instance leaving a slot (a retry only after that run has ended), for up to the
# deregistration delay; at worst both slots empty at once, each at its maximum size.
SLOT_COUNT = 2
# A ceiling on the drain's reservation: Lambda keeps 100 of the account's concurrency unreserved and new accounts start
# with reduced concurrency quotas (docs/decisions.md F25), so a reservation must stay small. An event beyond it is
# throttled and retried by Lambda until its maximum age; only then does it land in the dead-letter queue and the hook
# end with CONTINUE, undrained. With a deregistration delay well below the heartbeat, 20 drains at a time empty 20
# instances per delay.
DRAIN_MAX_RESERVED_CONCURRENCY = 20


def drain_reserved_concurrency(fleet_maximum: int) -> int:
    """The drain Lambda's reserved concurrency for slots of at most `fleet_maximum` instances each.

    `min(SLOT_COUNT x fleet_maximum, DRAIN_MAX_RESERVED_CONCURRENCY)`: enough for every instance of both slots to
    drain at once, never more than the ceiling (docs/security.md, "Drain Lambda concurrency").
    """
    if isinstance(fleet_maximum, bool) or not isinstance(fleet_maximum, int) or fleet_maximum < 1:
        raise ConfigError(f"fleetMaxSize: {fleet_maximum!r} must be a whole number >= 1")
    return min(SLOT_COUNT * fleet_maximum, DRAIN_MAX_RESERVED_CONCURRENCY)


# A ceiling on the join Lambda's reservation, small for the same reason (F25). Events beyond it are throttled, and
# Lambda keeps a throttled asynchronous event in its queue and retries it until its maximum age (Lambda developer guide,
# "How Lambda handles errors and retries with asynchronous invocation"): a burst is delayed, never lost.
JOIN_MAX_RESERVED_CONCURRENCY = 10
# CloudFormation calls the deployment-group provider once per resource operation and the stack has two such resources,
# which one stack operation may create, update or delete in parallel: 2 keeps a runaway retry from taking the account's
# concurrency and guarantees both can run.
PROVIDER_RESERVED_CONCURRENCY = 2
# The AWS-side finisher (lambdas/finisher) converges one deployment group: its invocations run one at a time (a
# deployment event and a sweep arriving together would otherwise race for the lease, one of them for nothing).
FINISHER_RESERVED_CONCURRENCY = 1
# How often the finisher's sweep runs (an EventBridge scheduled rule), in minutes: a rate expression takes whole
# minutes, at least 1; a release's lease lives 10 minutes, so an hour is the longest wait worth allowing.
FINISHER_SWEEP_RANGE_MINUTES = (1, 60)
# PutFunctionConcurrency: a reservation must leave at least 100 of the account's concurrency unreserved
# (docs/decisions.md F25); an account whose whole quota is lower (new accounts) cannot reserve any.
LAMBDA_MIN_UNRESERVED_CONCURRENCY = 100


def join_reserved_concurrency(fleet_maximum: int) -> int:
    """The join Lambda's reserved concurrency: one per instance the live slot can launch at once, at most the ceiling.

    An instance of the idle slot is decided at once (a release filling it); only the live slot's instances may keep an
    execution while they wait to be InService, and at most `fleet_maximum` of them launch at a time.
    """
    if isinstance(fleet_maximum, bool) or not isinstance(fleet_maximum, int) or fleet_maximum < 1:
        raise ConfigError(f"fleetMaxSize: {fleet_maximum!r} must be a whole number >= 1")
    return min(fleet_maximum, JOIN_MAX_RESERVED_CONCURRENCY)


def _check_range(key: str, value: int, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(f"{key}: {value!r} is out of range; allowed: {low}..{high}")


@dataclass(frozen=True)
class HealthCheck:
    """The target group's health check (ELBv2 CreateTargetGroup fields); seconds and counts, validated.

    Raises `ConfigError` for a value CreateTargetGroup would reject (for example a healthy threshold of 1, or a
    timeout not below the interval).
    """

    path: str
    port: int
    matcher: str
    interval_seconds: int
    timeout_seconds: int
    healthy_threshold: int
    unhealthy_threshold: int

    def __post_init__(self) -> None:
        _check_range("healthCheckIntervalSeconds", self.interval_seconds, HEALTH_CHECK_INTERVAL_RANGE)
        _check_range("healthCheckTimeoutSeconds", self.timeout_seconds, HEALTH_CHECK_TIMEOUT_RANGE)
        _check_range("healthyThresholdCount", self.healthy_threshold, HEALTH_CHECK_THRESHOLD_RANGE)
        _check_range("unhealthyThresholdCount", self.unhealthy_threshold, HEALTH_CHECK_THRESHOLD_RANGE)
        _check_range("appPort", self.port, (1, 65535))
        if self.timeout_seconds >= self.interval_seconds:
            # ELBv2 CreateTargetGroup rejects a timeout that is not below the interval.
            raise ConfigError(
                f"healthCheckTimeoutSeconds: {self.timeout_seconds} must be less than "
                f"healthCheckIntervalSeconds ({self.interval_seconds})"
            )
        if not isinstance(self.path, str) or not HEALTH_CHECK_PATH.match(self.path):
            raise ConfigError(f"healthCheckPath: {self.path!r} is not valid; allowed: a path starting with /")
        if not isinstance(self.matcher, str) or not HEALTH_CHECK_MATCHER.match(self.matcher):
            raise ConfigError(
                f"healthCheckMatcher: {self.matcher!r} is not valid; allowed: {HEALTH_CHECK_MATCHER_ALLOWED}"
            )


@dataclass(frozen=True)
class FleetSize:
    """The live slot's capacity in instances; the release tool scales the idle slot to at least `desired`.

    Raises `ConfigError` unless 0 <= minimum <= desired <= maximum, 1 <= desired and maximum <= 1000.
    """

    minimum: int
    desired: int
    maximum: int

    def __post_init__(self) -> None:
        for key, value in (("fleetMinSize", self.minimum), ("fleetDesiredSize", self.desired)):
            _check_range(key, value, (0, FLEET_SIZE_LIMIT))
        _check_range("fleetMaxSize", self.maximum, (1, FLEET_SIZE_LIMIT))
        if not (self.minimum <= self.desired <= self.maximum and self.desired >= 1):
            raise ConfigError(
                f"fleet size min={self.minimum} desired={self.desired} max={self.maximum} is not "
                "0 <= min <= desired <= max with desired >= 1"
            )


@dataclass(frozen=True)
class Promotion:
    """The promotion gate: the blue/green deployment stops once the replacement slot is installed (CodeDeploy's
    deploymentReadyOption STOP_DEPLOYMENT, docs/decisions.md F80) and waits `wait_minutes` (1..2880) for
    `deploy.py promote`; unpromoted, CodeDeploy stops it and no traffic ever moved.

    `test_listener_port` (1..65535 but not 80 or 443, or None) adds a second listener that forwards to a preview
    target group holding only the replacement slot while it waits; `test_listener_cidrs` are the IPv4 ranges allowed to
    reach it (none by default: the listener then answers nobody until a range is given). `check_command` is the
    pre-promotion check the release tool runs against it (the `--check-command` default).
    """

    wait_minutes: int
    test_listener_port: int | None = None
    test_listener_cidrs: tuple[str, ...] = ()
    check_command: str | None = None


@dataclass(frozen=True)
class MachineImage:
    """The slots' image when not the default: an SSM parameter that holds an AMI id (resolved by CloudFormation at
    each deployment, no lookup at synth), or one AMI id per region (`amis`, region -> AMI id); docs/decisions.md F69."""

    ssm_parameter: str | None = None
    amis: tuple[tuple[str, str], ...] = ()

    def ami_for(self, region: str) -> str | None:
        """The AMI id for `region` when the image is given per region, else None."""
        return dict(self.amis).get(region)


@dataclass(frozen=True)
class UserDataFragment:
    """A shell fragment from `userDataFile`: its path as given (for messages) and its text, read at synth."""

    path: str
    text: str


@dataclass(frozen=True)
class AppConfig:
    """Everything the stack and the tools need to know, validated."""

    stack_name: str
    existing_vpc: ExistingVpc | None
    max_azs: int
    nat_gateways: int
    app_port: int
    health_check: HealthCheck
    deregistration_delay_seconds: int
    certificate_arn: str | None
    instance_type: str
    fleet: FleetSize
    deployment_config_name: str
    artifact_noncurrent_days: int
    abort_incomplete_upload_days: int
    log_retention_days: int
    alarm_5xx_threshold: int
    drain_command: str
    drain_poll_interval_seconds: float
    drain_heartbeat_seconds: int
    agent_ready_timeout_seconds: int
    lambda_reserved_concurrency: bool
    warm_pool_size: int = 0
    # notificationsTopic: False (none), True (the stack creates one) or an existing topic's ARN.
    notifications_topic: bool | str = False
    # The AWS-side finisher (README, "If the runner dies") and the interval of its sweep, in minutes.
    finisher_enabled: bool = True
    finisher_sweep_minutes: int = 5
    # Minutes the old slot stays running out of traffic after a release, for a fast rollback (0: emptied at once).
    bake_minutes: int = 0
    # The promotion gate (docs/decisions.md F80-F84): off, or the deployment waits this many minutes for `promote`.
    promotion: Promotion | None = None
    allow_unlisted_instance_type: bool = False
    allow_unlisted_region: bool = False
    # None: Amazon Linux 2023 for the instance type's architecture (stacks/fleet.py).
    machine_image: MachineImage | None = None
    instance_role_managed_policies: tuple[str, ...] = ()
    user_data_fragment: UserDataFragment | None = None


@dataclass(frozen=True)
class LambdaReservations:
    """The reserved concurrency of the stack's event-driven functions; `None` leaves a function unreserved."""

    drain: int | None
    join: int | None
    provider: int | None
    # The AWS-side finisher (none when finisherEnabled is false).
    finisher: int | None = None

    @property
    def total(self) -> int:
        """What the stack takes from the account's unreserved concurrency."""
        return sum(value for value in (self.drain, self.join, self.provider, self.finisher) if value is not None)


def lambda_reservations(config: AppConfig) -> LambdaReservations:
    """What the stack reserves for the drain, join, deployment-group and finisher Lambdas (the stack and the pre-flight
    share it).

    With `lambdaReservedConcurrency` false, nothing: `cdk deploy` then succeeds in an account whose concurrency quota
    is below `LAMBDA_MIN_UNRESERVED_CONCURRENCY` plus the reservations (docs/security.md, "Drain Lambda concurrency").
    """
    if not config.lambda_reserved_concurrency:
        return LambdaReservations(drain=None, join=None, provider=None)
    return LambdaReservations(
        drain=drain_reserved_concurrency(config.fleet.maximum),
        join=join_reserved_concurrency(config.fleet.maximum),
        provider=PROVIDER_RESERVED_CONCURRENCY,
        finisher=FINISHER_RESERVED_CONCURRENCY if config.finisher_enabled else None,
    )


def _integer(key: str, value: Any, low: int, high: int) -> int:
    # `cdk deploy -c key=value` passes strings, cdk.json passes numbers: accept both, but nothing else.
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ConfigError(f"context key '{key}': {value!r} is not a whole number; allowed: {low}..{high}")
    try:
        number = int(value)
    except ValueError as exc:
        raise ConfigError(f"context key '{key}': {value!r} is not a whole number; allowed: {low}..{high}") from exc
    if not low <= number <= high:
        raise ConfigError(f"context key '{key}': {number} is out of range; allowed: {low}..{high}")
    return number


def _seconds(key: str, value: Any, low: float, high: float) -> float:
    # A duration that may have a fraction; like `_integer`, a string from `-c key=value` is accepted.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"context key '{key}': {value!r} is not a number of seconds; allowed: {low:g}..{high:g}")
    try:
        number = float(value)
    except ValueError as exc:
        raise ConfigError(
            f"context key '{key}': {value!r} is not a number of seconds; allowed: {low:g}..{high:g}"
        ) from exc
    if not low <= number <= high:
        raise ConfigError(f"context key '{key}': {number:g} is out of range; allowed: {low:g}..{high:g}")
    return number


def _boolean(key: str, value: Any) -> bool:
    # cdk.json passes JSON booleans, `cdk deploy -c key=false` the string "false": accept both, but nothing else.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ConfigError(f"context key '{key}': {value!r} is not a boolean; allowed: true, false")


def _notifications_topic(value: Any) -> bool | str:
    # cdk.json gives true/false or an ARN; `cdk deploy -c notificationsTopic=true` gives the string "true".
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if isinstance(value, str) and SNS_TOPIC_ARN.match(value.strip()):
        return value.strip()
    raise ConfigError(
        f"context key 'notificationsTopic': {value!r} is not valid; allowed: true, false or a standard SNS topic ARN "
        "(arn:aws:sns:REGION:ACCOUNT:NAME)"
    )


def _text(key: str, value: Any, pattern: re.Pattern[str] | None = None, allowed: str = "") -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f"context key '{key}': {value!r} must be a non-empty string{'; allowed: ' + allowed if allowed else ''}"
        )
    if pattern is not None and not pattern.match(value):
        raise ConfigError(f"context key '{key}': {value!r} is not valid; allowed: {allowed}")
    return value


def _optional(value: Any) -> bool:
    return value is None or value == ""


@dataclass(frozen=True)
class Setting:
    """One documented context key."""

    key: str
    default: Any
    description: str


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "stackName",
        "BlueGreenApp",
        f"CloudFormation stack name (letters, digits, hyphens; at most {STACK_NAME_MAX}: the deployment group names).",
    ),
    Setting(
        "stages",
        None,
        "Stages to synthesize instead of the one stack (bluegreen.stages): a list of objects, or an object by stage "
        "name, each with region, optional account and any setting it overrides; one stack per stage, named "
        "<stackName>-<stage>.",
    ),
    Setting(
        "waves",
        None,
        "Default waves of `promote-waves` (bluegreen.stages): a list of waves, each a list of declared stage names; "
        "each stage in at most one wave. Needs stages.",
    ),
    Setting(
        "existingVpc",
        None,
        "Use an existing VPC instead of creating one: an object with vpcId, "
        "availabilityZones (at least two), publicSubnetIds, privateSubnetIds (private subnets need egress).",
    ),
    Setting("maxAzs", 2, "Availability zones of the new VPC (2..6)."),
    Setting("natGateways", 1, "NAT gateways of the new VPC (1..maxAzs); one per AZ survives an AZ outage."),
    Setting(
        "appPort",
        8080,
        "Port the application listens on (1..65535); a deployed stack refuses a change (README, Changing appPort).",
    ),
    Setting("healthCheckPath", "/health", "Health-check path of the target group (starts with /)."),
    Setting("healthCheckMatcher", "200", "HTTP codes that mean healthy, e.g. 200 or 200-299."),
    Setting("healthCheckIntervalSeconds", 5, "Health-check interval (5..300 s; AWS default 30)."),
    Setting("healthCheckTimeoutSeconds", 2, "Health-check timeout (2..120 s, below the interval; AWS default 5)."),
    Setting("healthyThresholdCount", 2, "Consecutive successes to become healthy (2..10; AWS default 5)."),
    Setting("unhealthyThresholdCount", 2, "Consecutive failures to become unhealthy (2..10; AWS default 2)."),
    Setting(
        "deregistrationDelaySeconds",
        30,
        "Target-group deregistration delay (0..840 s; AWS default 300); "
        "also the drain Lambda's upper bound, which must fit in one invocation.",
    ),
    Setting(
        "certificateArn",
        None,
        "ACM certificate ARN in the stack's region: adds an HTTPS listener and redirects HTTP to it.",
    ),
    Setting("instanceType", "t3.micro", "EC2 instance type of both slots; a Graviton type gets the arm64 image."),
    Setting(
        "allowUnlistedInstanceType",
        False,
        "Accept an instanceType the installed botocore's EC2 model does not list (a type newer than it); its name "
        "must still tell the architecture.",
    ),
    Setting(
        "allowUnlistedRegion",
        False,
        "Accept a stack region the installed botocore's endpoint data does not list (a region newer than it).",
    ),
    Setting(
        "machineImage",
        None,
        "The slots' image: an SSM parameter name holding an AMI id, or {region: AMI id}; default: Amazon Linux 2023 "
        "for the instance type's architecture.",
    ),
    Setting(
        "instanceRoleManagedPolicies",
        (),
        "Managed policies added to the instance role: ARNs or AWS managed policy names "
        f"(at most {ROLE_MANAGED_POLICIES_MAX_QUOTA - 1}; IAM's default quota allows "
        f"{ROLE_MANAGED_POLICIES_DEFAULT_QUOTA - 1}).",
    ),
    Setting(
        "userDataFile",
        None,
        "A shell fragment (path relative to cdk.json) run as root after the CodeDeploy agent install, before the "
        "instance may go InService.",
    ),
    Setting("fleetMinSize", 1, "Minimum instances of the live slot (>= 0)."),
    Setting("fleetDesiredSize", 2, "Instances of the live slot after a release (>= fleetMinSize)."),
    Setting("fleetMaxSize", 4, "Maximum instances of the live slot (>= fleetDesiredSize, >= 1)."),
    Setting(
        "deploymentConfigName",
        "CodeDeployDefault.OneAtATime",
        "CodeDeploy deployment configuration: " + ", ".join(SERVER_DEPLOYMENT_CONFIGS) + ".",
    ),
    Setting("artifactNoncurrentVersionDays", 30, "Days before a replaced revision object version expires (1..3650)."),
    Setting("abortIncompleteUploadDays", 1, "Days before an unfinished multipart upload is aborted (1..365)."),
    Setting("logRetentionDays", 30, "Retention of the stack's log groups (a CloudWatch Logs retention value)."),
    Setting(
        "alarm5xxThreshold", 5, "Target 5xx responses per minute that stop a deployment and roll it back (1..100000)."
    ),
    Setting(
        "drainInFlightCommand",
        DEFAULT_DRAIN_IN_FLIGHT_COMMAND,
        "Shell command run as root on a leaving instance, {port} replaced by appPort, that prints the number of "
        "requests in flight (0 = drained); the instance runs it every 0.1 s until 0 (docs/drain.md). Replaces "
        "drainConnectionCountCommand.",
    ),
    Setting(
        "drainPollIntervalSeconds",
        0.5,
        "How often the drain Lambda reads the status of its one on-instance wait (GetCommandInvocation; 0.2..10 s).",
    ),
    Setting(
        "drainHeartbeatTimeoutSeconds",
        None,
        "Termination hook heartbeat (at most 7200 s); default and minimum: the event-age bound plus "
        f"deregistrationDelaySeconds plus {DRAIN_HEARTBEAT_MARGIN_SECONDS} (bluegreen.config.drain_timing; 330 s with "
        "the default delay).",
    ),
    Setting(
        "agentReadyTimeoutSeconds",
        900,
        "Launch hook heartbeat (30..7200 s): how long a new instance may take to boot and start the CodeDeploy "
        "agent before Auto Scaling abandons it and launches a replacement; InService means the agent runs.",
    ),
    Setting(
        "lambdaReservedConcurrency",
        True,
        "Reserve concurrency for the drain, join, deployment-group and finisher Lambdas (min(2 x fleetMaxSize, 20) + "
        f"min(fleetMaxSize, {JOIN_MAX_RESERVED_CONCURRENCY}) + {PROVIDER_RESERVED_CONCURRENCY} + "
        f"{FINISHER_RESERVED_CONCURRENCY} with finisherEnabled: 15 with the defaults, at most 33); false leaves all of "
        "them unreserved, for an account whose Lambda concurrency quota "
        f"is below {LAMBDA_MIN_UNRESERVED_CONCURRENCY} + that sum (new accounts). `scripts/deploy.py preflight` "
        "checks it.",
    ),
    Setting(
        "warmPoolSize",
        0,
        "Stopped, agent-ready instances kept beside each slot (Auto Scaling warm pool, 0..fleetMaxSize; 0 = none): "
        "a release starts them instead of launching and installing. Off by default: see docs/performance.md.",
    ),
    Setting(
        "notificationsTopic",
        False,
        "SNS notifications of deployments (start, success, failure, stop, rollback) and of the rollback alarms: "
        "true creates an encrypted topic (output NotificationsTopicArn) to subscribe e-mail or chat to; an existing "
        "standard topic's ARN uses that topic; false (default) sends none.",
    ),
    Setting(
        "finisherEnabled",
        True,
        "The AWS-side finisher: a Lambda that completes a release whose runner died (switch the group, empty the old "
        "slot, or clean up after a rollback; resume scaling) when the deployment ends or at the next sweep once the "
        "run's lease expired (README, If the runner dies). false: only the next release converges it.",
    ),
    Setting(
        "finisherSweepMinutes",
        5,
        "How often the finisher looks for an unfinished release (1..60 minutes; it acts only when there is something "
        "to converge and the release lease is free).",
    ),
    Setting(
        "bakeMinutes",
        0,
        "Bake window after a release (0..240 minutes; 0 = none): the old slot keeps its instances out of traffic "
        "while the release tool watches the deployment group's alarms; `deploy.py rollback` or an alarm puts traffic "
        "back on it in seconds; the finisher empties it after the deadline if the runner is gone.",
    ),
    Setting(
        "promotionGate",
        False,
        "Stop each blue/green deployment once the replacement slot is installed, before any traffic moves, until "
        "`scripts/deploy.py promote` (or `abort`); CodeDeploy's deploymentReadyOption STOP_DEPLOYMENT.",
    ),
    Setting(
        "promotionWaitMinutes",
        60,
        "With promotionGate: minutes a deployment waits for promote before CodeDeploy stops it (1..2880, CodeDeploy's "
        "48-hour limit).",
    ),
    Setting(
        "testListenerPort",
        None,
        "With promotionGate: a second listener port (not 80 or 443) forwarding to a preview target group that holds "
        "only the replacement slot while the deployment waits; the pre-promotion check runs against it.",
    ),
    Setting(
        "testListenerAllowedCidrs",
        [],
        "IPv4 CIDRs allowed to reach testListenerPort (e.g. the CI runner's egress address/32); none by default, so "
        "the test listener is closed until a range is given.",
    ),
    Setting(
        "promotionCheckCommand",
        None,
        "Shell command the release runs against the test listener while the deployment waits (TEST_URL in its "
        "environment); a non-zero exit stops the deployment with rollback. `--check-command` overrides it.",
    ),
)
DEFAULTS: Mapping[str, Any] = {setting.key: setting.default for setting in SETTINGS}


def _existing_vpc(value: Any) -> ExistingVpc | None:
    if _optional(value):
        return None
    if isinstance(value, str):
        # `-c existingVpc='{...}'` arrives as a JSON string.
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"context key 'existingVpc': {value!r} is not a JSON object") from exc
    if not isinstance(value, Mapping):
        raise ConfigError(
            f"context key 'existingVpc': {value!r} must be an object with vpcId, availabilityZones, "
            "publicSubnetIds, privateSubnetIds"
        )
    vpc_id = _text("existingVpc.vpcId", value.get("vpcId"), VPC_ID, "vpc- followed by 8 or 17 hex digits")

    def id_list(field: str, pattern: re.Pattern[str] | None, allowed: str) -> tuple[str, ...]:
        items = value.get(field)
        if not isinstance(items, list) or not items:
            raise ConfigError(f"context key 'existingVpc.{field}': {items!r} must be a non-empty list")
        return tuple(_text(f"existingVpc.{field}", item, pattern, allowed) for item in items)

    zones = id_list("availabilityZones", None, "availability zone names")
    if len(set(zones)) < ALB_MIN_AZS:
        raise ConfigError(
            f"context key 'existingVpc.availabilityZones': {list(zones)!r} names {len(set(zones))} zone; the load "
            f"balancer needs subnets in at least {ALB_MIN_AZS} different availability zones"
        )
    public = id_list("publicSubnetIds", SUBNET_ID, "subnet ids")
    private = id_list("privateSubnetIds", SUBNET_ID, "subnet ids")
    for field, subnets in (("publicSubnetIds", public), ("privateSubnetIds", private)):
        if len(subnets) != len(zones):
            raise ConfigError(
                f"context key 'existingVpc.{field}': {len(subnets)} subnets for {len(zones)} "
                "availability zones; give one subnet per zone, in the same order"
            )
    return ExistingVpc(vpc_id, zones, public, private)


def _promotion(get: Callable[[str], Any]) -> Promotion | None:
    """The promotion gate's settings, or None when `promotionGate` is off (then its other keys must stay unset)."""
    port_value, cidr_value, command_value = (
        get("testListenerPort"),
        get("testListenerAllowedCidrs"),
        get("promotionCheckCommand"),
    )
    # Checked whatever promotionGate says: a value out of range is wrong before the gate is turned on too.
    wait_minutes = _integer("promotionWaitMinutes", get("promotionWaitMinutes"), *PROMOTION_WAIT_MINUTES_RANGE)
    if not _boolean("promotionGate", get("promotionGate")):
        given = [
            key
            for key, value in (
                ("testListenerPort", port_value),
                ("testListenerAllowedCidrs", cidr_value),
                ("promotionCheckCommand", command_value),
            )
            if not _optional(value) and value != []
        ]
        if given:
            raise ConfigError(
                f"context key '{given[0]}' needs promotionGate true: the test listener and the check serve a "
                "deployment that waits for promotion"
            )
        return None
    port = None if _optional(port_value) else _integer("testListenerPort", port_value, 1, 65535)
    if port in RESERVED_LISTENER_PORTS:
        # 443 too without a certificate: adding certificateArn later would collide with it.
        raise ConfigError(
            f"context key 'testListenerPort': {port} is a port of the site's own listeners; choose another (e.g. 8443)"
        )
    cidrs = _cidrs("testListenerAllowedCidrs", cidr_value)
    if cidrs and port is None:
        raise ConfigError("context key 'testListenerAllowedCidrs' needs testListenerPort: there is no test listener")
    return Promotion(
        wait_minutes=wait_minutes,
        test_listener_port=port,
        test_listener_cidrs=cidrs,
        check_command=None if _optional(command_value) else _text("promotionCheckCommand", command_value),
    )


def _cidrs(key: str, value: Any) -> tuple[str, ...]:
    """The test listener's allowed IPv4 ranges, as given. Refuses a range broader than `/TEST_LISTENER_MIN_PREFIX`,
    more than `TEST_LISTENER_MAX_CIDRS` ranges, and ranges that together hold more than `TEST_LISTENER_MAX_ADDRESSES`
    addresses (so no split of a broad range, up to the whole internet, passes range by range)."""
    # cdk.json gives a list; `-c key=a,b` gives one comma-separated string.
    if _optional(value):
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        raise ConfigError(f"context key '{key}': {value!r} must be a list of IPv4 CIDRs like 203.0.113.7/32")
    cidrs: list[str] = []
    networks: list[ipaddress.IPv4Network] = []
    for item in items:
        match = IPV4_CIDR.match(item.strip()) if isinstance(item, str) else None
        if match is None or any(int(part) > 255 for part in match.groups()[:4]) or int(match.group(5)) > 32:
            raise ConfigError(f"context key '{key}': {item!r} is not an IPv4 CIDR like 203.0.113.7/32")
        network = ipaddress.IPv4Network(item.strip(), strict=False)
        if network.prefixlen < TEST_LISTENER_MIN_PREFIX:
            scope = "the whole internet, and " if network.prefixlen == 0 else ""
            raise ConfigError(
                f"context key '{key}': {item!r} is {scope}broader than /{TEST_LISTENER_MIN_PREFIX}; the test listener "
                "serves a release that is not live yet, so give the ranges that run the check (the broadest private "
                f"block, 10.0.0.0/8, is a /{TEST_LISTENER_MIN_PREFIX})"
            )
        cidrs.append(item.strip())
        networks.append(network)
    _check_cidr_totals(key, networks)
    return tuple(cidrs)


def _check_cidr_totals(key: str, networks: list[ipaddress.IPv4Network]) -> None:
    """Refuse more ranges than `TEST_LISTENER_MAX_CIDRS` (security group rules, docs/decisions.md F105) and ranges whose
    union holds more than `TEST_LISTENER_MAX_ADDRESSES` addresses (all of private space)."""
    distinct = set(networks)
    if len(distinct) > TEST_LISTENER_MAX_CIDRS:
        raise ConfigError(
            f"context key '{key}': {len(distinct)} ranges; at most {TEST_LISTENER_MAX_CIDRS}, since each is one "
            "inbound rule of the load balancer's security group (60 by default, docs/decisions.md F105); merge "
            "neighbouring ranges or give the few that run the check"
        )
    # Fewer than 256 ranges of at most a /8 cannot cover every address; the union bound is the one that matters.
    covered = sum(network.num_addresses for network in ipaddress.collapse_addresses(networks))
    if covered > TEST_LISTENER_MAX_ADDRESSES:
        raise ConfigError(
            f"context key '{key}': the ranges together cover {covered:,} addresses, more than all private address "
            f"space ({TEST_LISTENER_MAX_ADDRESSES:,}: 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16); the test listener "
            "serves a release that is not live yet, so give the ranges that run the check"
        )


def _stack_name(value: Any) -> str:
    name = _text("stackName", value, STACK_NAME, "a letter, then letters, digits or hyphens")
    if len(name) > STACK_NAME_MAX:
        raise ConfigError(
            f"context key 'stackName': {name!r} has {len(name)} characters; allowed: at most {STACK_NAME_MAX}, so "
            f"that the deployment group {name + max(DEPLOYMENT_GROUP_SUFFIXES, key=len)!r} stays within CodeDeploy's "
            f"{DEPLOYMENT_GROUP_NAME_MAX}"
        )
    return name


def _instance_type(value: Any) -> str:
    # The architecture picks the image (stacks/fleet.py); a name that cannot tell it is refused, not guessed.
    name = _text("instanceType", value, INSTANCE_TYPE, "an EC2 instance type like t3.micro")
    try:
        architecture(name)
    except UnknownInstanceType as exc:
        raise ConfigError(f"context key 'instanceType': {exc}") from exc
    return name


def check_region(config: AppConfig, region: str) -> None:
    """Refuse what only the stack's region can tell: a certificate from another region (ACM certificates are
    regional; a load balancer can use only one from its own region, docs/decisions.md F31), or a `machineImage` given
    per region that names no AMI for this one (an AMI id belongs to one region).

    `app.py` calls it once the region is known; `load_config` cannot, as the release tool has no stack region.
    """
    image = config.machine_image
    if image is not None and image.amis and image.ami_for(region) is None:
        raise ConfigError(
            f"context key 'machineImage': no AMI for the stack's region {region} (given for "
            f'{", ".join(name for name, _ in image.amis)}); add "{region}": "ami-..."'
        )
    if config.certificate_arn is None:
        return
    certificate_region = config.certificate_arn.split(":")[3]
    if certificate_region != region:
        raise ConfigError(
            f"context key 'certificateArn': the certificate is in {certificate_region}, the stack in {region}; "
            f"request or import the certificate in {region}"
        )


def check_region_listed(config: AppConfig, region: str, source: str) -> None:
    """Refuse a stack region with blanks, or one the installed botocore does not list unless `allowUnlistedRegion`
    is set (docs/decisions.md F102); `source` names where the region came from (AWS_REGION, a stage, ...) for the
    message. Like `check_instance_type`, only synth calls it."""
    try:
        check_region_name(region, allow_unlisted=config.allow_unlisted_region)
    except UnlistedRegion as exc:
        raise RegionError(f"the stack's region ({source}): {exc}") from exc


def check_instance_type(config: AppConfig) -> None:
    """Refuse an instance type that the installed botocore's EC2 model does not list, suggesting the nearest listed
    name (docs/decisions.md F66), unless `allowUnlistedInstanceType` is set.

    `app.py` calls it at synth, where the setting becomes the launch template; the release tool and the rehearsal,
    which read the settings on every run but never launch from `instanceType`, do not pay for parsing the EC2 model.
    """
    if config.allow_unlisted_instance_type:
        return
    try:
        check_listed(config.instance_type)
    except UnlistedInstanceType as exc:
        raise ConfigError(f"context key 'instanceType': {exc}") from exc


def nearest_setting_hint(key: str, extra: tuple[str, ...] = ()) -> str:
    """`"; did you mean <setting>?"` for the setting (or `extra` name) nearest to `key`, ignoring case; "" if none."""
    by_lower_case = {name.lower(): name for name in (*DEFAULTS, *extra)}
    nearest = difflib.get_close_matches(key.lower(), by_lower_case, n=1)
    return f"; did you mean {by_lower_case[nearest[0]]}?" if nearest else ""


def check_context_keys(context: Mapping[str, Any]) -> None:
    """Refuse every key without a namespace (`CONTEXT_NAMESPACE_MARKS`) that is not a setting, suggesting the nearest
    setting: a typo would otherwise leave the default in place silently.

    Raises `ConfigError` naming all unknown keys at once. Renamed keys pass here; `load_config` names their new keys.
    """
    unknown = [
        key
        for key in context
        if not any(mark in key for mark in CONTEXT_NAMESPACE_MARKS)
        and key not in CDK_PLAIN_CONTEXT_KEYS
        and key not in DEFAULTS
        and key not in RENAMED_DRAIN_KEYS
    ]
    if not unknown:
        return
    problems = [f"context key '{key}' is not a setting{nearest_setting_hint(key)}" for key in unknown]
    raise ConfigError(
        "; ".join(problems) + " (settings: README.md, Configuration; a key for another tool needs a namespace, "
        "like 'mytool:key')"
    )


def load_config(context: Mapping[str, Any], *, project_dir: Path = CDK_JSON.parent) -> AppConfig:
    """Validate context values (falling back to `DEFAULTS`) into an `AppConfig`.

    Keys without a namespace must be settings (`check_context_keys`); namespaced keys (CDK's feature flags, the CLI's
    own, other tools') are not ours to judge. `userDataFile` is read from `project_dir` (cdk.json's), given relative
    to it and staying inside it.
    """
    check_context_keys(context)
    get: Callable[[str], Any] = lambda key: context.get(key, DEFAULTS[key])  # noqa: E731

    interval = _integer("healthCheckIntervalSeconds", get("healthCheckIntervalSeconds"), *HEALTH_CHECK_INTERVAL_RANGE)
    timeout = _integer("healthCheckTimeoutSeconds", get("healthCheckTimeoutSeconds"), *HEALTH_CHECK_TIMEOUT_RANGE)
    if timeout >= interval:
        # ELBv2 CreateTargetGroup rejects a timeout that is not below the interval.
        raise ConfigError(
            f"context key 'healthCheckTimeoutSeconds': {timeout} must be less than "
            f"healthCheckIntervalSeconds ({interval})"
        )
    app_port = _integer("appPort", get("appPort"), 1, 65535)
    path = _text("healthCheckPath", get("healthCheckPath"), HEALTH_CHECK_PATH, "a path starting with /")
    health_check = HealthCheck(
        path=path,
        port=app_port,
        matcher=_text(
            "healthCheckMatcher",
            get("healthCheckMatcher"),
            HEALTH_CHECK_MATCHER,
            HEALTH_CHECK_MATCHER_ALLOWED,
        ),
        interval_seconds=interval,
        timeout_seconds=timeout,
        healthy_threshold=_integer(
            "healthyThresholdCount", get("healthyThresholdCount"), *HEALTH_CHECK_THRESHOLD_RANGE
        ),
        unhealthy_threshold=_integer(
            "unhealthyThresholdCount", get("unhealthyThresholdCount"), *HEALTH_CHECK_THRESHOLD_RANGE
        ),
    )

    max_azs = _integer("maxAzs", get("maxAzs"), 2, 6)
    nat_gateways = _integer("natGateways", get("natGateways"), 1, max_azs)

    minimum = _integer("fleetMinSize", get("fleetMinSize"), 0, FLEET_SIZE_LIMIT)
    maximum = _integer("fleetMaxSize", get("fleetMaxSize"), max(1, minimum), FLEET_SIZE_LIMIT)
    desired = _integer("fleetDesiredSize", get("fleetDesiredSize"), max(1, minimum), maximum)

    certificate = get("certificateArn")
    certificate_arn = (
        None
        if _optional(certificate)
        else _text("certificateArn", certificate, CERTIFICATE_ARN, "arn:aws:acm:<region>:<account>:certificate/<uuid>")
    )

    deployment_config = get("deploymentConfigName")
    if deployment_config not in SERVER_DEPLOYMENT_CONFIGS:
        raise ConfigError(
            f"context key 'deploymentConfigName': {deployment_config!r} is not a known deployment "
            f"configuration; allowed: {', '.join(SERVER_DEPLOYMENT_CONFIGS)}"
        )

    retention = _integer("logRetentionDays", get("logRetentionDays"), 1, 3653)
    if retention not in LOG_RETENTION_DAYS:
        raise ConfigError(
            f"context key 'logRetentionDays': {retention} is not a CloudWatch Logs retention; allowed: "
            + ", ".join(map(str, LOG_RETENTION_DAYS))
        )

    # ELBv2 allows up to 3600 s, but the drain Lambda must wait the delay out within one invocation.
    deregistration_delay = _integer(
        "deregistrationDelaySeconds", get("deregistrationDelaySeconds"), 0, MAX_DEREGISTRATION_DELAY_SECONDS
    )
    timing = drain_timing(deregistration_delay)
    heartbeat = get("drainHeartbeatTimeoutSeconds")
    heartbeat_seconds = (
        timing.heartbeat_seconds
        if _optional(heartbeat)
        else _integer("drainHeartbeatTimeoutSeconds", heartbeat, timing.heartbeat_seconds, HEARTBEAT_RANGE_SECONDS[1])
    )
    for old_key, new_key in RENAMED_DRAIN_KEYS.items():
        if old_key in context:
            raise ConfigError(
                f"context key '{old_key}' was renamed '{new_key}', and its meaning changed: the command must print "
                "the number of requests in flight (0 = drained), not of connections; see docs/drain.md"
            )
    drain_command = _text("drainInFlightCommand", get("drainInFlightCommand"))
    return AppConfig(
        stack_name=_stack_name(get("stackName")),
        existing_vpc=_existing_vpc(get("existingVpc")),
        max_azs=max_azs,
        nat_gateways=nat_gateways,
        app_port=app_port,
        health_check=health_check,
        deregistration_delay_seconds=deregistration_delay,
        certificate_arn=certificate_arn,
        instance_type=_instance_type(get("instanceType")),
        fleet=FleetSize(minimum=minimum, desired=desired, maximum=maximum),
        deployment_config_name=deployment_config,
        artifact_noncurrent_days=_integer(
            "artifactNoncurrentVersionDays", get("artifactNoncurrentVersionDays"), 1, 3650
        ),
        abort_incomplete_upload_days=_integer("abortIncompleteUploadDays", get("abortIncompleteUploadDays"), 1, 365),
        log_retention_days=retention,
        alarm_5xx_threshold=_integer("alarm5xxThreshold", get("alarm5xxThreshold"), 1, 100000),
        drain_command=drain_command,
        drain_poll_interval_seconds=_seconds(
            "drainPollIntervalSeconds", get("drainPollIntervalSeconds"), *DRAIN_POLL_RANGE_SECONDS
        ),
        drain_heartbeat_seconds=heartbeat_seconds,
        agent_ready_timeout_seconds=_integer(
            "agentReadyTimeoutSeconds", get("agentReadyTimeoutSeconds"), *AGENT_READY_TIMEOUT_RANGE
        ),
        lambda_reserved_concurrency=_boolean("lambdaReservedConcurrency", get("lambdaReservedConcurrency")),
        warm_pool_size=_integer("warmPoolSize", get("warmPoolSize"), 0, maximum),
        notifications_topic=_notifications_topic(get("notificationsTopic")),
        finisher_enabled=_boolean("finisherEnabled", get("finisherEnabled")),
        bake_minutes=_integer("bakeMinutes", get("bakeMinutes"), *BAKE_MINUTES_RANGE),
        finisher_sweep_minutes=_integer(
            "finisherSweepMinutes", get("finisherSweepMinutes"), *FINISHER_SWEEP_RANGE_MINUTES
        ),
        promotion=_promotion(get),
        allow_unlisted_instance_type=_boolean("allowUnlistedInstanceType", get("allowUnlistedInstanceType")),
        allow_unlisted_region=_boolean("allowUnlistedRegion", get("allowUnlistedRegion")),
        machine_image=_machine_image(get("machineImage")),
        instance_role_managed_policies=_managed_policies(get("instanceRoleManagedPolicies")),
        user_data_fragment=_user_data_fragment(get("userDataFile"), project_dir),
    )


def load_cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """`cdk.json`'s context (the settings a project overrides and CDK's feature flags).

    Raises `ConfigError` when the file cannot be read or is not JSON.
    """
    try:
        context = json.loads(path.read_text(encoding="utf-8")).get("context", {})
    except (OSError, json.JSONDecodeError, AttributeError) as exc:
        raise ConfigError(f"{path}: cannot be read as cdk.json ({exc})") from exc
    if not isinstance(context, dict):
        raise ConfigError(f"{path}: its context is not an object")
    return context


def load_cdk_json_config(path: Path = CDK_JSON, overrides: Mapping[str, Any] | None = None) -> AppConfig:
    """The configuration as `cdk.json` declares it (for tools that run outside `cdk`, like the rehearsal), with
    `overrides` on top as `cdk ... -c key=value` would set them.

    Raises `ConfigError` for a bad value, or when the file cannot be read or is not JSON.
    """
    return load_config({**load_cdk_json_context(path), **(overrides or {})}, project_dir=path.parent)


def _machine_image(value: Any) -> MachineImage | None:
    # cdk.json gives a string or an object; `-c machineImage='{"eu-west-1": "ami-..."}'` gives the object as JSON text.
    if _optional(value):
        return None
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"context key 'machineImage': {value!r} is not a JSON object") from exc
    if isinstance(value, str):
        if value.startswith("ami-") and not AMI_ID.match(value):
            # A mistyped AMI id is also a valid SSM parameter name: without this it would reach CloudFormation.
            raise ConfigError(
                f"context key 'machineImage': {value!r} is not an AMI id; expected ami- followed by 8 or 17 lowercase "
                'hex digits, given per region: {"<region>": "ami-0123456789abcdef0"}'
            )
        if AMI_ID.match(value):
            raise ConfigError(
                f"context key 'machineImage': {value!r} is an AMI id, which belongs to one region; give it per region, "
                f'{{"<region>": "{value}"}}, or give an SSM parameter name'
            )
        if len(value) > SSM_PARAMETER_NAME_MAX or not SSM_PARAMETER_NAME.match(value):
            raise ConfigError(
                f"context key 'machineImage': {value!r} is not an SSM parameter name (letters, digits, _.-/, at most "
                f"{SSM_PARAMETER_NAME_MAX} characters) nor an object of region -> AMI id"
            )
        return MachineImage(ssm_parameter=value)
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(
            f"context key 'machineImage': {value!r} must be an SSM parameter name or a non-empty object of "
            'region -> AMI id, like {"eu-west-1": "ami-0123456789abcdef0"}'
        )
    for region, ami in value.items():
        _text("machineImage", region, REGION_NAME, "region names like eu-west-1 as keys")
        _text(f"machineImage.{region}", ami, AMI_ID, "ami- followed by 8 or 17 hex digits")
    return MachineImage(amis=tuple(sorted(value.items())))


def _managed_policies(value: Any) -> tuple[str, ...]:
    # cdk.json gives a list; `-c instanceRoleManagedPolicies=A,B` a comma-separated string (or a JSON list).
    if _optional(value):
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.lstrip().startswith("[") else value.split(",")
        except json.JSONDecodeError as exc:
            raise ConfigError(f"context key 'instanceRoleManagedPolicies': {value!r} is not a JSON list") from exc
    if not isinstance(value, list | tuple):
        raise ConfigError(
            f"context key 'instanceRoleManagedPolicies': {value!r} must be a list of policy ARNs or AWS managed policy "
            "names"
        )
    policies = tuple(item.strip() if isinstance(item, str) else item for item in value)
    for policy in policies:
        if not isinstance(policy, str) or not (MANAGED_POLICY_ARN.match(policy) or MANAGED_POLICY_NAME.match(policy)):
            raise ConfigError(
                f"context key 'instanceRoleManagedPolicies': {policy!r} is neither a managed policy ARN "
                "(arn:aws:iam::aws:policy/NAME, arn:aws:iam::ACCOUNT:policy/NAME) nor an AWS managed policy name"
            )
        aws_managed = not policy.startswith("arn:") or ":iam::aws:" in policy
        if aws_managed and policy.rsplit("/", 1)[-1] == INSTANCE_ROLE_BASE_POLICY:
            raise ConfigError(
                f"context key 'instanceRoleManagedPolicies': {policy!r} is attached to the instance role already"
            )
    if len(set(policies)) != len(policies):
        raise ConfigError(f"context key 'instanceRoleManagedPolicies': {list(policies)!r} lists a policy twice")
    if len(policies) > ROLE_MANAGED_POLICIES_MAX_QUOTA - 1:
        raise ConfigError(
            f"context key 'instanceRoleManagedPolicies': {len(policies)} policies; a role holds at most "
            f"{ROLE_MANAGED_POLICIES_MAX_QUOTA} managed policies (IAM quota, {ROLE_MANAGED_POLICIES_DEFAULT_QUOTA} "
            f"unless raised) and already has {INSTANCE_ROLE_BASE_POLICY}"
        )
    return policies


def _user_data_fragment(value: Any, project_dir: Path) -> UserDataFragment | None:
    """The fragment `userDataFile` names: a regular file inside `project_dir` (cdk.json's directory), given relative to
    it. Raises `ConfigError` for an absolute path, a path (or symlink) that leads outside the project, anything but a
    regular file, or more than `USER_DATA_MAX_BYTES` bytes (at most that many + 1 are read, so /dev/zero cannot
    exhaust memory)."""
    if _optional(value):
        return None
    name = _text("userDataFile", value)
    path = _project_file("userDataFile", name, project_dir)
    try:
        # O_NONBLOCK: opening a FIFO must not hang synth before the regular-file check refuses it.
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise ConfigError(f"context key 'userDataFile': {name!r} cannot be read ({exc.strerror}: {path})") from exc
    if not stat.S_ISREG(os.fstat(descriptor).st_mode):
        os.close(descriptor)
        raise ConfigError(f"context key 'userDataFile': {name!r} is not a regular file ({path})")
    with os.fdopen(descriptor, "rb") as reader:
        data = reader.read(USER_DATA_MAX_BYTES + 1)
    if len(data) > USER_DATA_MAX_BYTES:
        raise ConfigError(
            f"context key 'userDataFile': {name!r} has more than {USER_DATA_MAX_BYTES} bytes; EC2 user data holds at "
            f"most {USER_DATA_MAX_BYTES} bytes, the CodeDeploy agent install included"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"context key 'userDataFile': {name!r} is not UTF-8 text") from exc
    if not text.strip() or "\0" in text:
        raise ConfigError(f"context key 'userDataFile': {name!r} is empty or not a shell script")
    return UserDataFragment(path=name, text=text if text.endswith("\n") else text + "\n")


def _project_file(key: str, name: str, project_dir: Path) -> Path:
    """`project_dir / name`, refused unless `name` is relative and the path, symlinks followed, stays inside
    `project_dir`: the file's text goes into the template (cdk.out, CloudFormation), so a path such as /etc/shadow or
    ../secrets must not be read into it by a mistyped setting."""
    if Path(name).is_absolute():
        raise ConfigError(f"context key '{key}': {name!r} is absolute; give a path relative to cdk.json's directory")
    path = project_dir / name
    if not path.resolve().is_relative_to(project_dir.resolve()):
        raise ConfigError(
            f"context key '{key}': {name!r} leads outside the project ({path.resolve()}); keep the file under "
            "cdk.json's directory"
        )
    return path
