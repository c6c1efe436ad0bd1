"""Where Lambda code comes from (one package per function under `lambdas/`), and what every event-driven function
of the stack has around it."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, Duration, ILocalBundling
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

REPO_DIR = Path(__file__).resolve().parent.parent
LAMBDAS_DIR = REPO_DIR / "lambdas"
# Plain-Python packages at the repository's root that a function may carry beside its own (no boto3, no aws_cdk).
SHARED_PACKAGES = frozenset({"bluegreen"})
# One runtime for every function of the stack: the newest Python that aws-cdk-lib knows (cdk-nag AwsSolutions-L1).
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14


@jsii.implements(ILocalBundling)
class _CopyPackages:
    """Local bundling that copies whole packages side by side into the asset (no Docker, no install step)."""

    def __init__(self, packages: Mapping[str, Path]) -> None:
        self._packages = dict(packages)

    def try_bundle(self, output_dir: str, *_options: Any, **_keywords: Any) -> bool:
        """Copy each package to `<output_dir>/<name>/`, without caches; True: bundled, Docker is never asked."""
        for name, source in self._packages.items():
            shutil.copytree(source, Path(output_dir) / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        return True


def lambda_code(package: str, *, shared: Sequence[str] = ()) -> lambda_.Code:
    """The asset for the function whose code is the package `lambdas/<package>/`, plus the `shared` packages.

    Without `shared`, the asset root is `lambdas/` so that the package keeps its name inside the function (handler
    `<package>.handler.lambda_handler`, imports `from <package>.x import y`) exactly as the tests import it; the
    exclude list keeps every other function's code, and caches, out of this asset and its hash.

    With `shared` (names from `SHARED_PACKAGES`, e.g. `bluegreen`), the asset holds exactly `<package>/` and each
    shared package at its top level, copied at synth time by local bundling; its hash is that of the copied files, so
    a change in a shared package publishes a new asset. No code is duplicated in the repository.
    """
    if not (LAMBDAS_DIR / package / "handler.py").is_file():
        raise ValueError(f"no Lambda package lambdas/{package}/ with a handler.py")
    if not shared:
        return lambda_.Code.from_asset(
            str(LAMBDAS_DIR),
            exclude=["*", f"!{package}", f"!{package}/**", "**/__pycache__", "**/*.pyc"],
        )
    unknown = sorted(set(shared) - SHARED_PACKAGES)
    if unknown or package in shared:
        raise ValueError(f"shared packages must be among {sorted(SHARED_PACKAGES)} and not the function's own")
    packages = {package: LAMBDAS_DIR / package, **{name: REPO_DIR / name for name in shared}}
    return lambda_.Code.from_asset(
        str(LAMBDAS_DIR / package),
        asset_hash_type=AssetHashType.OUTPUT,
        bundling=BundlingOptions(image=LAMBDA_RUNTIME.bundling_image, local=_CopyPackages(packages)),
    )


def handler_name(package: str) -> str:
    """The handler string for the function in `lambdas/<package>/handler.py`."""
    return f"{package}.handler.lambda_handler"


@dataclass(frozen=True)
class FunctionSurroundings:
    """The dead-letter queue, log group and execution role of one event-driven function."""

    dead_letter_queue: sqs.Queue
    log_group: logs.LogGroup
    role: iam.Role

    def function(
        self,
        scope: Construct,
        *,
        package: str,
        description: str,
        timeout: Duration,
        reserved_concurrency: int | None,
        environment: dict[str, str],
        retry_attempts: int,
        max_event_age: Duration,
        shared: Sequence[str] = (),
    ) -> lambda_.Function:
        """The function `Function` under `scope` running `lambdas/<package>/` (and the `shared` packages, see
        `lambda_code`), with these surroundings.

        Every event-driven function of the stack shares the runtime, architecture and memory; failed asynchronous
        invocations (after `retry_attempts`, or older than `max_event_age`) go to the dead-letter queue.
        """
        return lambda_.Function(
            scope,
            "Function",
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            code=lambda_code(package, shared=shared),
            handler=handler_name(package),
            description=description,
            role=self.role,
            log_group=self.log_group,
            memory_size=256,
            timeout=timeout,
            reserved_concurrent_executions=reserved_concurrency,
            environment=environment,
            dead_letter_queue=self.dead_letter_queue,
            retry_attempts=retry_attempts,
            max_event_age=max_event_age,
        )


def function_surroundings(
    scope: Construct, *, role_description: str, log_retention: logs.RetentionDays
) -> FunctionSurroundings:
    """Create them under `scope` with the construct ids `DeadLetterQueue`, `LogGroup` and `Role` (kept stable).

    The queue uses SQS-managed SSE, not KMS: its writers (EventBridge and Lambda's asynchronous invocation) then need
    no key policy and no kms:GenerateDataKey grant, and nothing but the events that failed lands there
    (docs/decisions.md F26, docs/security.md). The role may write to the log group and nothing else yet.
    """
    dead_letter_queue = sqs.Queue(
        scope,
        "DeadLetterQueue",
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    log_group = logs.LogGroup(scope, "LogGroup", retention=log_retention)
    role = iam.Role(
        scope, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=role_description
    )
    log_group.grant_write(role)
    return FunctionSurroundings(dead_letter_queue, log_group, role)
