#!/usr/bin/env python3
"""Real-account integration kit: deploy a throwaway copy of the stack, exercise it, destroy it, report.

    AWS_REGION=eu-west-1 make integ          # = python integ/kit.py run
    python integ/kit.py destroy              # clean up after an interrupted run

`run`: deploy the integration app (integ/integ_blue_green.py: the stack as `BlueGreenInteg` plus its assertion
stack) with the pinned `cdk` → read the deploy-time assertions → release the sample revision twice with the release
tool (the second release's measured phases against its release-time model: belief U8) → release a revision whose
ValidateService hook exits 1 and check the rollback left traffic on the old slot → scale the live slot out (the new
instance must get traffic) and in (the drain must complete the hook) → once the drained instance has left its slot,
try to register it with the target group (belief U7) → destroy both stacks and the resources they retain, also when
a step failed → print the kit checks (K-*) and, for every unverified belief of docs/decisions.md, whether the run
confirmed it, refuted it or did not reach it.

Exit codes: 0 every kit check passed; 1 a kit check failed; 2 pre-flight refused (nothing was deployed).
Beliefs never change the exit code: the design is meant to be safe either way (docs/decisions.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

import boto3  # noqa: E402
from botocore.exceptions import ClientError, WaiterError  # noqa: E402
from release.report import SUMMARY_FILE  # noqa: E402

from bluegreen import outputs  # noqa: E402
from bluegreen.config import AppConfig, load_config  # noqa: E402
from bluegreen.timing import ModelRow  # noqa: E402
from integ import beliefs  # noqa: E402
from integ.settings import ASSERTION_STACK_NAME, OVERRIDES, STACK_NAME  # noqa: E402

SAMPLE_APP = ROOT / "sample-app"
TEST_APP = ROOT / "integ" / "integ_blue_green.py"
# The failing revision's ValidateService script: prints the agent's DEPLOYMENT_GROUP_ID (belief U4; the agent sends
# the last 2 KB of a failed script's output back as the event's logTail) and fails the deployment.
FAILING_HOOK = """#!/usr/bin/env bash
echo "KIT-DEPLOYMENT_GROUP_ID=${DEPLOYMENT_GROUP_ID:-unset}"
echo "integration kit: this revision fails on purpose" >&2
exit 1
"""
POLL_SECONDS = 3.0
# How long the kit waits for a drained instance to leave its slot (terminated) before U7 is not reached.
GONE_TIMEOUT_SECONDS = 900.0
RETAINED = frozenset({"Retain", "RetainExceptOnCreate"})


class KitError(Exception):
    """A step could not go on; the kit records it, destroys what it made and reports."""


@dataclass
class Check:
    """A kit check (K-*): passed, failed, or not run."""

    check_id: str
    passed: bool | None
    detail: str


@dataclass
class Report:
    """Everything the kit prints at the end."""

    checks: dict[str, Check] = field(default_factory=dict)
    findings: dict[str, beliefs.Finding] = field(default_factory=dict)

    def record(self, check_id: str, passed: bool, detail: str) -> None:
        """Record a kit check and print it as it happens."""
        self.checks[check_id] = Check(check_id, passed, detail)
        print(f"[kit] {check_id}: {'PASS' if passed else 'FAIL'} {detail}", flush=True)

    def render(self) -> str:
        """The kit checks, then the belief table."""
        lines = ["Kit checks:"]
        for check in self.checks.values():
            status = {True: "PASS", False: "FAIL", None: "SKIPPED"}[check.passed]
            lines.append(f"  {check.check_id:<24} {status:<8} {check.detail}")
        return "\n".join([*lines, beliefs.render(self.findings)])

    @property
    def ok(self) -> bool:
        """True when every recorded kit check passed (and at least one ran)."""
        return bool(self.checks) and all(check.passed for check in self.checks.values())


def write_failing_revision(source: Path, destination: Path) -> Path:
    """A copy of the sample revision whose ValidateService hook exits 1 (same appspec, so it validates)."""
    shutil.copytree(source, destination)
    hook = destination / "scripts" / "validate_service.sh"
    hook.write_text(FAILING_HOOK, encoding="utf-8")
    hook.chmod(0o755)
    return destination


def retained_resources(template: Mapping[str, Any], physical_ids: Mapping[str, str]) -> list[tuple[str, str]]:
    """(type, physical id) of the template's resources that CloudFormation keeps when the stack is deleted."""
    kept = []
    for logical_id, resource in template.get("Resources", {}).items():
        if resource.get("DeletionPolicy") in RETAINED and logical_id in physical_ids:
            kept.append((resource["Type"], physical_ids[logical_id]))
    return kept


def assertion_failed(value: str) -> bool:
    """An integ-tests-alpha `AssertionResults*` output: JSON with "status" ("pass"/"fail"), or a bare message."""
    try:
        result = json.loads(value)
    except json.JSONDecodeError:
        return "fail" in value.lower()
    return not isinstance(result, dict) or result.get("status") != "pass"


def traffic_stayed_on(live_slot: str, healthy_by_slot: Mapping[str, int]) -> tuple[bool, str]:
    """After a failed release: healthy targets only in the slot that was live before it, and at least one."""
    elsewhere = {slot: count for slot, count in healthy_by_slot.items() if slot != live_slot and count}
    live = healthy_by_slot.get(live_slot, 0)
    return live > 0 and not elsewhere, f"healthy targets by slot: {dict(healthy_by_slot)} (live before: {live_slot})"


def register_target_once(elbv2: Any, target_group_arn: str, instance_id: str) -> str | None:
    """RegisterTargets for `instance_id` (U7): the error code it answered, or None when it was accepted, in which case
    the target is deregistered again at once so no dead target stays in the group.
    """
    targets = {"TargetGroupArn": target_group_arn, "Targets": [{"Id": instance_id}]}
    try:
        elbv2.register_targets(**targets)
    except ClientError as exc:
        return str(exc.response.get("Error", {}).get("Code", "")) or "unknown"
    elbv2.deregister_targets(**targets)
    return None


def timed_release(summary_file: Path, overrides: Mapping[str, Any]) -> beliefs.TimedRelease | None:
    """A release's release-summary.json (release.report.summary_json) as U8 reads it, with the settings the stack
    overrides; None, said on the console, when the file is missing or is not such a summary (a field of the wrong
    type, a count or duration that is not a finite number of seconds at least 0)."""
    try:
        data = json.loads(summary_file.read_text(encoding="utf-8"))
        return beliefs.TimedRelease(
            exit_code=_whole(data["exitCode"]),
            first_release=_flag(data["slots"]["firstRelease"]),
            phases=tuple(
                ModelRow(
                    _text(row["phase"]),
                    _whole(row["modelledSeconds"]),
                    None if row["measuredSeconds"] is None else _seconds(row["measuredSeconds"]),
                    _text(row["measured"]),
                )
                for row in data["model"]
            ),
            overrides=overrides,
        )
    # A belief never stops the run: U8 is not reached. RecursionError: JSON nested deeper than the parser goes.
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        print(f"[kit] U8: no release summary read from {summary_file}: {exc!r}"[:500], flush=True)
        return None


def _whole(value: object) -> int:
    """A whole number of at least 0 (the summary's exit code, modelled seconds); ValueError for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"not a whole number >= 0: {value!r}")
    return value


def _seconds(value: object) -> float:
    """A finite number of seconds, at least 0; ValueError for NaN, infinities, negatives, booleans and text."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"not a duration in seconds: {value!r}")
    return float(value)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"not true or false: {value!r}")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"not text: {value!r}")
    return value


def caller_role(event: Mapping[str, Any]) -> str | None:
    """The name of the role whose session made a CloudTrail event (`userIdentity.sessionContext.sessionIssuer`)."""
    identity = json.loads(event.get("CloudTrailEvent", "{}")).get("userIdentity", {})
    issuer = identity.get("sessionContext", {}).get("sessionIssuer", {})
    name = issuer.get("userName") if issuer.get("type") == "Role" else None
    return str(name) if name else None


class Kit:
    """One run against one account and region; holds the AWS clients and what it has seen."""

    def __init__(self, session: Any, *, region: str, profile: str | None, workdir: Path) -> None:
        self.region = region
        self.profile = profile
        self.workdir = workdir
        self.config: AppConfig = load_config(OVERRIDES)
        client: Callable[[str], Any] = session.client
        self.cfn, self.codedeploy, self.autoscaling = (
            client("cloudformation"),
            client("codedeploy"),
            client("autoscaling"),
        )
        self.elbv2, self.s3, self.logs = client("elbv2"), client("s3"), client("logs")
        self.lambda_, self.sts, self.ssm = client("lambda"), client("sts"), client("ssm")
        self.cloudtrail = client("cloudtrail")
        self.started = time.time()
        self.last_release = self.started
        self.report = Report()
        self.out: dict[str, str] = {}
        # (slot, instance id) of the instance the scale-in drained, for U7.
        self.drained: tuple[str, str] | None = None

    # ---- the steps -------------------------------------------------------------------------------------------
    def run(self) -> int:
        """All steps; destroy in every case; print the report."""
        try:
            self.preflight()
        except KitError as exc:
            print(f"[kit] pre-flight refused: {exc}", file=sys.stderr)
            return 2
        try:
            self.deploy()
            self.release_twice()
            self.failing_release()
            self.scale_out_and_in()
            self.register_gone()
            self.service_role_calls()
        except KitError as exc:
            self.report.record("K-STOPPED", False, str(exc))
        finally:
            self.destroy()
            print(self.report.render(), flush=True)
        return 0 if self.report.ok else 1

    def preflight(self) -> None:
        """Credentials, a bootstrapped environment, no stack of that name, enough Lambda concurrency (F25)."""
        account = self.sts.get_caller_identity()["Account"]
        try:
            self.ssm.get_parameter(Name="/cdk-bootstrap/hnb659fds/version")
        except self.ssm.exceptions.ParameterNotFound as exc:
            raise KitError(f"account {account} is not bootstrapped in {self.region}: run `cdk bootstrap`") from exc
        for name in (STACK_NAME, ASSERTION_STACK_NAME):
            if self.stack_exists(name):
                raise KitError(f"stack {name} exists: delete it (`python integ/kit.py destroy`) or use another region")
        limit = self.lambda_.get_account_settings()["AccountLimit"]["ConcurrentExecutions"]
        if limit < 110:
            # Reserving concurrency must leave 100 unreserved (docs/decisions.md F25): a new account's low quota can
            # make the stack's reserved concurrency fail at deploy time.
            print(f"[kit] warning: account Lambda concurrency is {limit}; reserved concurrency may fail", flush=True)
        print(f"[kit] account {account}, region {self.region}: pre-flight passed", flush=True)

    def deploy(self) -> None:
        """`cdk deploy` of the integration app (test stack, then assertion stack); K-ASSERTIONS from its outputs."""
        self.run_command(
            [
                "cdk",
                "deploy",
                "--app",
                f"{sys.executable} -m integ.integ_blue_green",  # -m: the checkout (cwd) is importable
                "--all",
                "--require-approval",
                "never",
                "--no-notices",
                "--progress",
                "events",
            ],
            "K-DEPLOY",
        )
        self.out = self.stack_outputs(STACK_NAME)
        results = {
            key: value
            for key, value in self.stack_outputs(ASSERTION_STACK_NAME).items()
            if key.startswith("AssertionResults")
        }
        failed = [key for key, value in results.items() if assertion_failed(value)]
        self.report.record(
            "K-ASSERTIONS",
            bool(results) and not failed,
            f"{len(results)} assertion(s) (GetDeploymentGroup BLUE_GREEN/DISCOVER_EXISTING, hooks)"
            + (f"; failed: {failed}" if failed else ""),
        )

    def release_twice(self) -> None:
        """Two releases of the sample; the first also observes U1 and U3, the second (an ordinary blue/green release
        from a live slot to the idle one) U8."""
        original = self.live_slots()
        original_instances = sum(len(self.slot(name)["Instances"]) for name in original)
        started = time.time()
        polls = self.poll_during(lambda: self.release(SAMPLE_APP, "K-RELEASE-1", expect=0), started)
        self.report.findings["U3-asg-list"] = beliefs.asg_list(original, polls)
        first = self.deployments_since(started, creator="user")  # newest first: the release's own is the oldest
        self.report.findings["U1-first-release"] = beliefs.first_release(
            beliefs.FirstRelease(
                original_instances=original_instances,
                deployment_type=first[-1]["deploymentStyle"]["deploymentType"] if first else None,
                status=first[-1]["status"] if first else None,
                error_code=first[-1].get("errorInformation", {}).get("code") if first else None,
            )
        )
        self.release(SAMPLE_APP, "K-RELEASE-2", expect=0)
        self.report.findings["U8-release-model"] = beliefs.release_model_holds(
            timed_release(self.report_dir("K-RELEASE-2") / SUMMARY_FILE, OVERRIDES)
        )

    def failing_release(self) -> None:
        """A revision whose hook exits 1: the tool exits 1 and traffic stays on the old slot (K-ROLLBACK); U4."""
        live = self.live_slots()[0]
        started = time.time()
        revision = write_failing_revision(SAMPLE_APP, self.workdir / "failing-revision")
        self.release(revision, "K-FAILING-RELEASE", expect=1)
        self.last_release = time.time()
        passed, detail = traffic_stayed_on(live, self.healthy_by_slot())
        self.report.record("K-ROLLBACK", passed, detail)
        failed = self.deployments_since(started, creator="user")
        tails = [tail for deployment in failed for tail in self.log_tails(deployment["deploymentId"])]
        group_id = self.codedeploy.get_deployment_group(**self.group_key())["deploymentGroupInfo"]["deploymentGroupId"]
        self.report.findings["U4-agent-group-id"] = beliefs.agent_group_id(tails, group_id)

    def scale_out_and_in(self) -> None:
        """Live slot +1 (K-SCALE-OUT-TRAFFIC, U2), then back (K-DRAIN, U5) while requests flow."""
        live = self.live_slots()[0]
        desired = self.slot(live)["DesiredCapacity"]
        before = {instance["InstanceId"] for instance in self.slot(live)["Instances"]}
        started = time.time()
        self.autoscaling.set_desired_capacity(
            AutoScalingGroupName=live, DesiredCapacity=desired + 1, HonorCooldown=False
        )
        new = self.wait_for(lambda: self.new_in_service(live, before), 900, "a new InService instance")
        healthy = self.wait_for(lambda: new in self.healthy_targets() or None, 600, "the new instance to be healthy")
        self.report.record("K-SCALE-OUT-TRAFFIC", bool(healthy), f"{new} healthy in the target group")
        launch = self.deployments_since(started, creator="autoscaling")
        events = self.instance_events(launch[0]["deploymentId"], new) if launch else None
        self.report.findings["U2-launch-registers"] = beliefs.launch_registers(
            beliefs.LaunchDeployment(events) if events is not None else None
        )
        with self.traffic() as served:
            self.autoscaling.set_desired_capacity(
                AutoScalingGroupName=live, DesiredCapacity=desired, HonorCooldown=False
            )
            wait = self.terminating_wait(live, self.config.drain_heartbeat_seconds + 120)
        heartbeat = self.config.drain_heartbeat_seconds
        self.report.record(
            "K-DRAIN",
            wait is not None and wait < heartbeat,
            f"Terminating:Wait lasted {wait if wait is None else round(wait)} s (heartbeat {heartbeat} s)",
        )
        self.report.findings["U5-ss-keepalive"] = beliefs.ss_keepalive(
            beliefs.DrainObservation(wait, served[0]) if wait is not None else None,
            delay_seconds=self.config.deregistration_delay_seconds,
            poll_seconds=self.config.drain_poll_interval_seconds,
        )

    def register_gone(self) -> None:
        """U7: RegisterTargets for the drained instance once Auto Scaling has removed it from its slot (terminated)."""
        observed: beliefs.GoneRegistration | None = None
        if self.drained is not None:
            slot, instance_id = self.drained
            deadline = time.time() + GONE_TIMEOUT_SECONDS
            try:
                while time.time() < deadline:
                    if instance_id not in {instance["InstanceId"] for instance in self.slot(slot)["Instances"]}:
                        code = register_target_once(self.elbv2, self.out[outputs.TARGET_GROUP_ARN], instance_id)
                        observed = beliefs.GoneRegistration(code)
                        break
                    time.sleep(POLL_SECONDS)
            except ClientError as exc:  # a belief never stops the run: say so, leave U7 not reached
                print(f"[kit] U7 check stopped: {exc}", flush=True)
        self.report.findings["U7-register-gone"] = beliefs.register_gone(observed)

    def service_role_calls(self) -> None:
        """U6: the CodeDeploy service role's CloudTrail events since the run started (docs/decisions.md F33)."""
        role_arn = self.codedeploy.get_deployment_group(**self.group_key())["deploymentGroupInfo"]["serviceRoleArn"]
        role_name = role_arn.rsplit("/", 1)[-1]
        names: list[str] = []
        for source in ("autoscaling.amazonaws.com", "ec2.amazonaws.com"):
            pages = self.cloudtrail.get_paginator("lookup_events").paginate(
                LookupAttributes=[{"AttributeKey": "EventSource", "AttributeValue": source}],
                StartTime=self.started,
            )
            for page in pages:
                names += [event["EventName"] for event in page["Events"] if caller_role(event) == role_name]
        self.report.findings["U6-service-role-launch"] = beliefs.service_role_launch(
            beliefs.ServiceRoleCalls(tuple(names), time.time() - self.last_release)
        )

    def destroy(self) -> None:
        """Delete the assertion stack, then the test stack, then what they retain (buckets, log groups)."""
        kept: list[tuple[str, str]] = []
        try:
            for name in (ASSERTION_STACK_NAME, STACK_NAME):
                if self.stack_exists(name):
                    kept += self.retained(name)
                    self.cfn.delete_stack(StackName=name)
                    waiter = self.cfn.get_waiter("stack_delete_complete")
                    waiter.wait(StackName=name, WaiterConfig={"Delay": 15, "MaxAttempts": 200})
        except (ClientError, WaiterError) as exc:
            self.report.record("K-DESTROY", False, f"{exc}; finish with `python integ/kit.py destroy`")
            return
        for resource_type, physical_id in kept:
            try:
                if resource_type == "AWS::S3::Bucket":
                    self.delete_bucket(physical_id)
                elif resource_type == "AWS::Logs::LogGroup":
                    self.logs.delete_log_group(logGroupName=physical_id)
            except ClientError as exc:  # already gone, or not ours to delete: say so, go on
                print(f"[kit] could not delete retained {resource_type} {physical_id}: {exc}", flush=True)
        self.report.record("K-DESTROY", True, f"stacks deleted; {len(kept)} retained resource(s) handled")

    def retained(self, stack: str) -> list[tuple[str, str]]:
        """(type, physical id) of what CloudFormation will keep when `stack` is deleted."""
        template = self.cfn.get_template(StackName=stack, TemplateStage="Processed")["TemplateBody"]
        resources = self.cfn.describe_stack_resources(StackName=stack)["StackResources"]
        physical = {r["LogicalResourceId"]: r.get("PhysicalResourceId", "") for r in resources}
        return retained_resources(template if isinstance(template, dict) else {}, physical)

    # ---- helpers -----------------------------------------------------------------------------------------------
    def run_command(self, command: Sequence[str], check_id: str, expect: int = 0) -> int:
        """A subprocess with this run's region/profile; records `check_id` against the expected exit code."""
        env = dict(os.environ, AWS_REGION=self.region, AWS_DEFAULT_REGION=self.region, CDK_DISABLE_VERSION_CHECK="1")
        env["PATH"] = os.pathsep.join([str(ROOT / "node_modules" / ".bin"), env.get("PATH", "")])
        if self.profile:
            env["AWS_PROFILE"] = self.profile
        code = subprocess.run(list(command), cwd=ROOT, env=env, check=False).returncode
        self.report.record(check_id, code == expect, f"exit {code} (expected {expect})")
        if code != expect:
            raise KitError(f"{check_id}: `{' '.join(command[:3])} …` exited {code}")
        return code

    def report_dir(self, check_id: str) -> Path:
        """Where the release of kit check `check_id` writes its report (release-summary.json, timeline)."""
        return self.workdir / check_id.lower()

    def release(self, app_dir: Path, check_id: str, *, expect: int) -> None:
        """The release tool, as a pipeline runs it, against the deployed stack."""
        self.run_command(
            [
                sys.executable,
                str(ROOT / "scripts" / "deploy.py"),
                "release",
                "--stack",
                STACK_NAME,
                "--app-dir",
                str(app_dir),
                "--plain",
                "--region",
                self.region,
                "--report-dir",
                str(self.report_dir(check_id)),
            ],
            check_id,
            expect,
        )

    def poll_during(self, action: Callable[[], None], started: float) -> list[beliefs.GroupListObservation]:
        """Run `action` while a thread polls the group's Auto Scaling groups and the newest deployment's status."""
        polls: list[beliefs.GroupListObservation] = []
        done = threading.Event()

        def poll() -> None:
            while not done.wait(POLL_SECONDS):
                deployments = self.deployments_since(started, creator="user")
                if deployments:
                    polls.append(beliefs.GroupListObservation(deployments[0]["status"], tuple(self.live_slots())))

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            action()
        finally:
            done.set()
            thread.join()
        return polls

    def group_key(self) -> dict[str, str]:
        return {
            "applicationName": self.out[outputs.APPLICATION],
            "deploymentGroupName": self.out[outputs.DEPLOYMENT_GROUP],
        }

    def live_slots(self) -> list[str]:
        info = self.codedeploy.get_deployment_group(**self.group_key())["deploymentGroupInfo"]
        return [group["name"] for group in info.get("autoScalingGroups", [])]

    def slot(self, name: str) -> dict[str, Any]:
        return self.autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]  # type: ignore[no-any-return]

    def deployments_since(self, started: float, *, creator: str) -> list[dict[str, Any]]:
        """This group's deployments created since `started` by `creator` ("user", "autoscaling"), newest first."""
        ids = self.codedeploy.list_deployments(**self.group_key(), createTimeRange={"start": started})["deployments"]
        if not ids:
            return []
        infos = self.codedeploy.batch_get_deployments(deploymentIds=ids[:25])["deploymentsInfo"]
        mine = [info for info in infos if info.get("creator") == creator]
        return sorted(mine, key=lambda info: info["createTime"], reverse=True)

    def targets(self, deployment_id: str) -> Iterator[dict[str, Any]]:
        ids = self.codedeploy.list_deployment_targets(deploymentId=deployment_id).get("targetIds", [])
        for start in range(0, len(ids), 25):  # BatchGetDeploymentTargets takes 25 ids (F8)
            batch = self.codedeploy.batch_get_deployment_targets(
                deploymentId=deployment_id, targetIds=ids[start : start + 25]
            )
            for target in batch["deploymentTargets"]:
                yield target.get("instanceTarget", {})

    def log_tails(self, deployment_id: str) -> list[str]:
        return [
            event.get("diagnostics", {}).get("logTail", "")
            for target in self.targets(deployment_id)
            for event in target.get("lifecycleEvents", [])
        ]

    def instance_events(self, deployment_id: str, instance_id: str) -> dict[str, str] | None:
        for target in self.targets(deployment_id):
            if target.get("targetId") == instance_id:
                return {event["lifecycleEventName"]: event["status"] for event in target.get("lifecycleEvents", [])}
        return None

    def healthy_targets(self) -> set[str]:
        health = self.elbv2.describe_target_health(TargetGroupArn=self.out[outputs.TARGET_GROUP_ARN])
        return {
            d["Target"]["Id"] for d in health["TargetHealthDescriptions"] if d["TargetHealth"]["State"] == "healthy"
        }

    def healthy_by_slot(self) -> dict[str, int]:
        healthy = sorted(self.healthy_targets())
        counts: dict[str, int] = {}
        if healthy:
            for instance in self.autoscaling.describe_auto_scaling_instances(InstanceIds=healthy)[
                "AutoScalingInstances"
            ]:
                counts[instance["AutoScalingGroupName"]] = counts.get(instance["AutoScalingGroupName"], 0) + 1
        return counts

    def new_in_service(self, slot: str, before: set[str]) -> str | None:
        for instance in self.slot(slot)["Instances"]:
            if instance["InstanceId"] not in before and instance["LifecycleState"] == "InService":
                return str(instance["InstanceId"])
        return None

    def terminating_wait(self, slot: str, timeout: float) -> float | None:
        """Seconds the first instance seen in Terminating:Wait stayed there (F21's counterpart on scale-in)."""
        entered: float | None = None
        watched: str | None = None
        deadline = time.time() + timeout
        while time.time() < deadline:
            states = {i["InstanceId"]: i["LifecycleState"] for i in self.slot(slot)["Instances"]}
            if watched is None:
                watched = next((iid for iid, state in states.items() if state == "Terminating:Wait"), None)
                entered = time.time() if watched else None
                self.drained = (slot, watched) if watched else None
            elif states.get(watched) != "Terminating:Wait" and entered is not None:
                return time.time() - entered
            time.sleep(1)
        return None

    @contextlib.contextmanager
    def traffic(self) -> Iterator[list[int]]:
        """Bounded GETs of the site while the block runs (so the ALB holds keep-alive connections); yields [served]."""
        served, stop = [0], threading.Event()
        url = self.out[outputs.SITE_URL] + self.config.health_check.path

        def loop() -> None:
            for _ in range(5000):  # at most 5000 requests, one every 0.2 s, only while the block runs
                if stop.wait(0.2):
                    return
                try:
                    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (the stack's own URL)
                        served[0] += int(response.status == 200)
                except OSError:
                    continue

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield served
        finally:
            stop.set()
            thread.join()

    def wait_for(self, probe: Callable[[], Any], timeout: float, what: str) -> Any:
        deadline = time.time() + timeout
        while time.time() < deadline:
            result = probe()
            if result:
                return result
            time.sleep(5)
        raise KitError(f"timed out after {timeout:.0f} s waiting for {what}")

    def stack_exists(self, name: str) -> bool:
        try:
            stacks = self.cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError:
            return False
        return any(stack["StackStatus"] != "DELETE_COMPLETE" for stack in stacks)

    def stack_outputs(self, name: str) -> dict[str, str]:
        stack = self.cfn.describe_stacks(StackName=name)["Stacks"][0]
        return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}

    def delete_bucket(self, bucket: str) -> None:
        """Every object version and delete marker, then the bucket (the artifact bucket is versioned)."""
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            keys = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            if keys:
                self.s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
        self.s3.delete_bucket(Bucket=bucket)


def main(argv: Sequence[str] | None = None) -> int:
    """`run` (everything) or `destroy` (clean up); see the module docstring for exit codes."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "destroy"))
    parser.add_argument("--region", default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"))
    parser.add_argument("--profile", default=os.environ.get("AWS_PROFILE"))
    args = parser.parse_args(argv)
    if not args.region:
        parser.error("no region: pass --region or set AWS_REGION")
    session = boto3.Session(profile_name=args.profile, region_name=args.region)
    with tempfile.TemporaryDirectory(prefix="integ-kit-") as workdir:
        kit = Kit(session, region=args.region, profile=args.profile, workdir=Path(workdir))
        if args.command == "destroy":
            kit.destroy()
            print(kit.report.render())
            return 0 if kit.report.ok else 1
        return kit.run()


if __name__ == "__main__":
    sys.exit(main())
