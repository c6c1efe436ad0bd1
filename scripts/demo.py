#!/usr/bin/env python3
"""The offline main job (`make demo`): synthesize the stack into cdk.out, summarize it, rehearse the sample revision.

Needs no AWS account: synth runs with no credentials, and the rehearsal runs the sample revision's lifecycle on this
machine. Exit code: 0 when every step passed, otherwise the failing step's code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bluegreen.config import AppConfig, load_cdk_json_config
from bluegreen.timing import ALB_DEFAULTS, SEED_RELEASE_SECONDS, ReleaseModel, TrafficTiming, release_model

REPO = Path(__file__).resolve().parent.parent

# Synth needs a region (see app.py); any region gives the same shape, so an offline demo picks one if none is set.
DEMO_REGION = "us-east-1"
OUTPUT_DIR = REPO / "demo-output"


def synthesize(env: dict[str, str]) -> float:
    """Run `cdk synth` (the pinned CLI) into cdk.out; return the seconds it took."""
    started = time.monotonic()
    subprocess.run(["cdk", "synth", "--quiet"], cwd=REPO, env=env, check=True)
    return time.monotonic() - started


def summarize(template: dict[str, Any], config: AppConfig) -> str:
    """A short, human summary of what `cdk deploy` would create."""
    resources = template.get("Resources", {})
    kinds = Counter(resource["Type"] for resource in resources.values())
    check = config.health_check
    tuned = TrafficTiming.of(check, config.deregistration_delay_seconds)
    default = ALB_DEFAULTS
    (group,) = [r["Properties"] for r in resources.values() if r["Type"] == "Custom::BlueGreenDeploymentGroup"]
    lines = [
        f"Stack {config.stack_name}: {len(resources)} resources",
        *(f"  {count:3d} x {kind}" for kind, count in sorted(kinds.items())),
        "",
        f"Target group health check: GET {check.path} on port {check.port}, matcher {check.matcher}",
        f"  interval {check.interval_seconds} s, timeout {check.timeout_seconds} s, healthy threshold "
        f"{check.healthy_threshold}, unhealthy threshold {check.unhealthy_threshold}, deregistration delay "
        f"{config.deregistration_delay_seconds} s",
        "CodeDeploy traffic steps, one instance: expected (bound)   this stack     ALB defaults",
        "  AllowTraffic (F85; bound F7)                        "
        f"{_step(tuned.expected_allow_traffic_seconds, tuned.allow_traffic_seconds)}   "
        f"{_step(default.expected_allow_traffic_seconds, default.allow_traffic_seconds)}",
        "  BlockTraffic (F107; bound F7)                       "
        f"{_step(tuned.expected_block_traffic_seconds, tuned.block_traffic_seconds)}   "
        f"{_step(default.expected_block_traffic_seconds, default.block_traffic_seconds)}",
        "",
        f"Slots: 2 Auto Scaling groups, min 0, no desired capacity; live fleet {config.fleet.minimum}/"
        f"{config.fleet.desired}/{config.fleet.maximum} (min/desired/max) of {config.instance_type}",
        f"Deployment group (custom resource): blue/green, {group['DeploymentConfigName']}, "
        f"{len(group['AlarmNames'])} rollback alarms, drain hook heartbeat {config.drain_heartbeat_seconds} s",
        f"Outputs: {', '.join(sorted(template.get('Outputs', {})))}",
    ]
    return "\n".join(lines)


def _step(expected: int, bound: int) -> str:
    return f"{expected:4d} s ({bound:3d} s)"


def template_timing(template: dict[str, Any]) -> TrafficTiming:
    """The traffic timing of the synthesized target group (its health check and deregistration delay)."""
    (group,) = [r["Properties"] for r in template["Resources"].values() if r["Type"].endswith("::TargetGroup")]
    attributes = {item["Key"]: item["Value"] for item in group.get("TargetGroupAttributes", [])}
    return TrafficTiming(
        interval_seconds=int(group.get("HealthCheckIntervalSeconds", ALB_DEFAULTS.interval_seconds)),
        healthy_threshold=int(group.get("HealthyThresholdCount", ALB_DEFAULTS.healthy_threshold)),
        deregistration_delay_seconds=int(
            attributes.get("deregistration_delay.timeout_seconds", ALB_DEFAULTS.deregistration_delay_seconds)
        ),
    )


def release_time_model(template: dict[str, Any], config: AppConfig) -> str:
    """The per-phase release-time model (bluegreen.timing.release_model) of this template against AWS's defaults."""
    resources = template.get("Resources", {}).values()
    (group,) = [r["Properties"] for r in resources if r["Type"] == "Custom::BlueGreenDeploymentGroup"]
    warm = any(r["Type"] == "AWS::AutoScaling::WarmPool" for r in resources)
    instances, deployment_config = config.fleet.desired, group["DeploymentConfigName"]
    ours = release_model(
        template_timing(template), instances=instances, deployment_config_name=deployment_config, warm_pool=warm
    )
    default = release_model(ALB_DEFAULTS, instances=instances, deployment_config_name=deployment_config)
    lines = [
        f"Release-time model, {instances} instances (bluegreen.timing; figures and sources in docs/performance.md)",
        f"  {'phase':<14} {'this stack':>10} {'AWS defaults':>13}  {'how (this stack)':<42} source",
    ]
    for mine, theirs in zip(ours.phases, default.phases, strict=True):
        how = mine.detail + ("" if mine.on_critical_path else ", after the release")
        lines.append(f"  {mine.name:<14} {mine.seconds:>8} s {theirs.seconds:>11} s  {how:<42} {mine.source}")

    def minutes(model: ReleaseModel) -> str:
        return f"{model.release_seconds // 60} min {model.release_seconds % 60:02d} s"

    def bound(model: ReleaseModel) -> str:
        return f"{model.release_bound_seconds // 60} min {model.release_bound_seconds % 60:02d} s"

    lines += [
        f"  {'release':<14} {minutes(ours):>10} {minutes(default):>13}  end to end, what the release waits for",
        f"  {'upper bound':<14} {bound(ours):>10} {bound(default):>13}  every traffic step at its bound (F7)",
        f"  the seed's measured release of two instances: {SEED_RELEASE_SECONDS // 60} min "
        f"({SEED_RELEASE_SECONDS / ours.release_seconds:.1f}x this model); warm pool: {'on' if warm else 'off'}",
        "  other paths, same figures (docs/performance.md):",
    ]
    timing = template_timing(template)
    if not deployment_config.endswith("AllAtOnce"):
        once = release_model(timing, instances=instances, deployment_config_name="CodeDeployDefault.AllAtOnce")
        label = "deploymentConfigName=CodeDeployDefault.AllAtOnce"
        lines.append(f"    {label:<50}{minutes(once):>11}  one batch; succeeds when any one instance does (F64)")
    if not warm:
        pooled = release_model(timing, instances=instances, deployment_config_name=deployment_config, warm_pool=True)
        label = f"warmPoolSize={instances} (off by default, F65)"
        lines.append(f"    {label:<50}{minutes(pooled):>11}  started from a stopped, initialised pool")
    return "\n".join(lines)


def main() -> int:
    """Synthesize and summarize, then rehearse the sample revision."""
    env = dict(os.environ)
    if not (env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")):
        env["AWS_REGION"] = DEMO_REGION
        print(f"(no AWS region set: synthesizing for {DEMO_REGION}; set AWS_REGION to choose)")
    config = load_cdk_json_config()
    print("== 1/2 Synthesize the stack (cdk synth, offline) ==", flush=True)
    seconds = synthesize(env)
    template_path = REPO / "cdk.out" / f"{config.stack_name}.template.json"
    template = json.loads(template_path.read_text(encoding="utf-8"))
    print(f"synthesized {template_path.relative_to(REPO)} in {seconds:.1f} s\n")
    print(summarize(template, config))
    print()
    print(release_time_model(template, config))
    print("\n== 2/2 Rehearse the sample revision on this machine ==", flush=True)
    OUTPUT_DIR.mkdir(exist_ok=True)
    rehearsal = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "deploy.py"),
            "rehearse",
            "--app-dir",
            str(REPO / "sample-app"),
            "--report-dir",
            str(OUTPUT_DIR / "rehearsal"),
            # The sample app's slow endpoint keeps requests in flight across SIGTERM: the shutdown is really tested.
            "--shutdown-path",
            "/slow?ms=2000",
        ],
        cwd=REPO,
        env=env,
        check=False,
    )
    if rehearsal.returncode != 0:
        print(f"rehearsal failed (exit {rehearsal.returncode}); see the log tail above", file=sys.stderr)
        return rehearsal.returncode
    print(f"\nDone. Template: cdk.out/, rehearsal report and timeline: {OUTPUT_DIR.relative_to(REPO)}/rehearsal/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
