"""Promote, don't rebuild: release into a later stage the exact revision an earlier stage released successfully.

The revision is found from AWS, not from the run that released it: the earlier stage's deployment group names its
last successful deployment (GetDeploymentGroup `lastSuccessfulDeployment`), whose `revision.s3Location` pins the
object by bucket, key, ETag and version id (docs/decisions.md F90). A deployment that did not succeed there (failed,
stopped, still running, of another group) is refused with exit 2, and so is a stage that has released nothing.
So is a deployment that a bake window rolled back fast (`release.bake`): CodeDeploy still lists it as the group's
last success (docs/decisions.md F88), and only the window's record (`leases/<application>/<group>.bake.json` in the
earlier stage's bucket) says the old slot serves again. The tool refuses rather than promoting the revision live
there: that revision is the one the window's old slot runs, which CodeDeploy names by no deployment the tool could
pin safely (the slot's last deployment may have been redeployed since), so the user names it with --from-deployment.

CodeDeploy fetches an EC2 revision from a bucket in the instances' region (docs/decisions.md F91), and every stage has
its own artifact bucket, so the object is copied to the later stage's bucket under the same content-addressed key
(`revisions/<application>/<content sha256>.zip`, release.upload) unless it is there already:

- same region, same credentials: a server-side copy (S3 CopyObject, or UploadPartCopy parts above the transfer
  threshold; docs/decisions.md F92), the bytes never pass through the runner;
- another region, or another account's credentials (`--from-profile`): streamed through the tool (GetObject of the
  pinned version into a multipart upload), nothing written to disk.

The copy is then pinned by the target object's own ETag and version id (read back with HeadObject;
docs/decisions.md F93), so the later stage deploys exactly the bytes the earlier stage ran.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from botocore.exceptions import BotoCoreError, ClientError

from bluegreen import bake as window_record
from bluegreen.stages import Stage
from release import deployments
from release.bake import read_record, rolled_back_in_window
from release.errors import AwsUnavailable, InputError, ReleaseError, UploadError
from release.targets import TargetOverrides, Targets, resolve_targets
from release.upload import DEFAULT_TRANSFER_CONFIG, S3Revision, _head, _revision

# The copy's ways, as the run reports them.
SAME_BUCKET = "none needed: both stages use the same bucket"
ALREADY_THERE = "none needed: the later stage's bucket holds the same content under the key already"
SERVER_SIDE = "server-side copy in the region (S3 CopyObject / UploadPartCopy)"
THROUGH_TOOL = "streamed through the tool (GetObject into a multipart upload): another region or account"
# The user metadata release.upload writes; the key promises the content, so equal hashes mean equal content.
CONTENT_SHA256 = "content-sha256"


class PromotionRefused(InputError):
    """The earlier stage has no successful release of the asked-for revision: nothing is copied or released."""

    default_hint = (
        "Release the revision to the earlier stage first and let it succeed (`deploy.py release --stage NAME`), "
        "then promote; `deploy.py status --all-stages` shows what each stage runs."
    )


class RolledBackInWindow(PromotionRefused):
    """The deployment to promote was rolled back in its bake window: its revision is not what the stage runs."""

    default_hint = (
        "Promote the revision the earlier stage runs now with --from-deployment ID (`deploy.py status --stage NAME` "
        "names it), or release a fixed revision to the earlier stage first."
    )


@dataclass(frozen=True)
class StageRevision:
    """What a stage's deployment group last released successfully: the deployment, its S3 revision and since when
    (the deployment's completeTime, None if CodeDeploy gives none)."""

    stage: str
    deployment_id: str
    location: dict[str, str]
    since: datetime | None

    @property
    def key(self) -> str:
        """The revision's object key (content-addressed for revisions the tool uploaded)."""
        return self.location["key"]


@dataclass(frozen=True)
class Copied:
    """The revision in the later stage's bucket, pinned, and how it got there (one of the constants above)."""

    revision: S3Revision
    how: str


def released_revision(
    codedeploy: Any, targets: Targets, stage: str, deployment_id: str | None = None, *, s3: Any = None
) -> StageRevision:
    """The revision `stage` released successfully: by `deployment_id`, or its group's last successful deployment.

    `s3` (a client that can GetObject in `targets.bucket`) reads the group's bake-window record; without it the
    record is not consulted. Raises `PromotionRefused` (exit 2) when the stage has none, or when the deployment is not
    a succeeded S3-revision deployment of this group, and `RolledBackInWindow` (exit 2) when a bake window rolled it
    back.
    """
    if deployment_id is None:
        group = deployments.get_group(codedeploy, targets.application, targets.deployment_group)
        if not group.last_successful_id:
            raise PromotionRefused(
                f"stage {stage!r} ({targets.application}/{targets.deployment_group}) has no successful release; "
                "there is nothing to promote"
            )
        deployment_id = group.last_successful_id
    info = deployments.get_deployment(codedeploy, deployment_id)
    where = (info.get("applicationName"), info.get("deploymentGroupName"))
    if where != (targets.application, targets.deployment_group):
        raise PromotionRefused(
            f"deployment {deployment_id} is of {where[0]}/{where[1]}, not of stage {stage!r} "
            f"({targets.application}/{targets.deployment_group})"
        )
    if s3 is not None:
        _refuse_if_rolled_back(s3, targets, stage, deployment_id)
    status = info.get("status")
    if status != "Succeeded":
        raise PromotionRefused(
            f"deployment {deployment_id} of stage {stage!r} is {status}: only a revision that succeeded in the earlier "
            "stage is promoted"
        )
    revision = info.get("revision") or {}
    location = revision.get("s3Location") or {}
    if revision.get("revisionType") != "S3" or not location.get("bucket") or not location.get("key"):
        raise PromotionRefused(f"deployment {deployment_id} of stage {stage!r} has no S3 revision to promote")
    since = info.get("completeTime")
    return StageRevision(
        stage=stage,
        deployment_id=deployment_id,
        location={name: str(value) for name, value in location.items()},
        since=since if isinstance(since, datetime) else None,
    )


def _refuse_if_rolled_back(s3: Any, targets: Targets, stage: str, deployment_id: str) -> None:
    # A reader allowed GetObject on the record's key but not ListBucket gets AccessDenied for a missing key (F86).
    key = window_record.window_key(targets.application, targets.deployment_group)
    window = rolled_back_in_window(read_record(s3, targets.bucket, key, denied_means_absent=True), deployment_id)
    if window is not None:
        when = f" at {window.requested_at:%Y-%m-%d %H:%M:%SZ}" if window.requested_at else ""
        raise RolledBackInWindow(
            f"deployment {deployment_id} of stage {stage!r} was rolled back in its bake window{when} "
            f"({window.reason or 'no reason recorded'}); {window.old_slot} serves the previous revision again, "
            "so there is nothing of this deployment to promote"
        )


class RevisionCopier:
    """Copies a stage's revision into another stage's bucket (command object: the two S3 clients, held once).

    `same_credentials_and_region`: both clients reach the same region with the same credentials, so S3 can copy
    server-side; otherwise the bytes go through the tool.
    """

    def __init__(self, source_s3: Any, target_s3: Any, *, same_credentials_and_region: bool) -> None:
        self.source_s3 = source_s3
        self.target_s3 = target_s3
        self.server_side = same_credentials_and_region

    def copy(self, released: StageRevision, target_bucket: str) -> Copied:
        """The revision in `target_bucket` under the same key, copied unless it is there already.

        Raises `UploadError` (exit 2) when the pinned source object is gone or changed, or a copy fails (a failed
        multipart copy or upload is aborted by the transfer manager: nothing is left under the key).
        """
        location = released.location
        bucket, key = location["bucket"], location["key"]
        if bucket == target_bucket:
            return Copied(_pinned(location), SAME_BUCKET)
        source = self._source_head(location)
        existing = _head(self.target_s3, target_bucket, key)
        if existing is not None and _same_content(source, existing):
            return Copied(_revision(target_bucket, key, existing, uploaded=False), ALREADY_THERE)
        extra = {"Metadata": source.get("Metadata", {}), "ContentType": source.get("ContentType", "application/zip")}
        try:
            how = self._server_side(location, target_bucket, extra) if self.server_side else None
            how = how or self._through_tool(location, target_bucket, extra)
        except BotoCoreError as exc:
            # No answer from S3 (connection, endpoint): AWS is unavailable, nothing is wrong with the revision.
            raise AwsUnavailable(f"could not reach S3 to copy s3://{bucket}/{key} to {target_bucket}: {exc}") from exc
        except ClientError as exc:
            raise UploadError(f"could not copy s3://{bucket}/{key} to s3://{target_bucket}/{key}: {exc}") from exc
        stored = _head(self.target_s3, target_bucket, key)
        if stored is None or stored.get("ContentLength") != source.get("ContentLength"):
            raise UploadError(f"s3://{target_bucket}/{key} does not match s3://{bucket}/{key} after the copy")
        return Copied(_revision(target_bucket, key, stored, uploaded=True), how)

    def _source_head(self, location: dict[str, str]) -> dict[str, Any]:
        """HeadObject of the pinned version; the ETag must still be the one the deployment pinned."""
        params = {"Bucket": location["bucket"], "Key": location["key"]}
        if location.get("version"):
            params["VersionId"] = location["version"]
        try:
            head: dict[str, Any] = self.source_s3.head_object(**params)
        except ClientError as exc:
            raise UploadError(
                f"the earlier stage's revision s3://{location['bucket']}/{location['key']} "
                f"(version {location.get('version') or 'current'}) cannot be read: {exc}",
                hint="The object (or its version) was deleted, or the credentials cannot read the earlier stage's "
                "bucket (give --from-profile for another account).",
            ) from exc
        pinned = location.get("eTag")
        if pinned and str(head.get("ETag", "")).strip('"') != pinned:
            raise UploadError(
                f"s3://{location['bucket']}/{location['key']} is no longer the object the earlier stage deployed "
                f"(ETag {head.get('ETag')} instead of {pinned})",
                hint="Release the revision to the earlier stage again, then promote.",
            )
        return head

    def _server_side(self, location: dict[str, str], target_bucket: str, extra: dict[str, Any]) -> str:
        source = {"Bucket": location["bucket"], "Key": location["key"]}
        if location.get("version"):
            source["VersionId"] = location["version"]
        self.target_s3.copy(
            source,
            target_bucket,
            location["key"],
            ExtraArgs={**extra, "MetadataDirective": "REPLACE"},
            SourceClient=self.source_s3,
            Config=DEFAULT_TRANSFER_CONFIG,
        )
        return SERVER_SIDE

    def _through_tool(self, location: dict[str, str], target_bucket: str, extra: dict[str, Any]) -> str:
        params = {"Bucket": location["bucket"], "Key": location["key"]}
        if location.get("version"):
            params["VersionId"] = location["version"]
        body = self.source_s3.get_object(**params)["Body"]
        try:
            self.target_s3.upload_fileobj(
                body, target_bucket, location["key"], ExtraArgs=extra, Config=DEFAULT_TRANSFER_CONFIG
            )
        finally:
            body.close()
        return THROUGH_TOOL


def _pinned(location: dict[str, str]) -> S3Revision:
    return S3Revision(
        bucket=location["bucket"],
        key=location["key"],
        etag=location.get("eTag", ""),
        version_id=location.get("version") or None,
        bundle_type=location.get("bundleType", "zip"),
        uploaded=False,
    )


def _same_content(source: dict[str, Any], target: dict[str, Any]) -> bool:
    """Both objects carry the same content hash (release.upload's metadata) and size: the key's promise holds."""
    digest = source.get("Metadata", {}).get(CONTENT_SHA256)
    return (
        bool(digest)
        and target.get("Metadata", {}).get(CONTENT_SHA256) == digest
        and (target.get("ContentLength") == source.get("ContentLength"))
    )


@dataclass(frozen=True)
class StageStatus:
    """One stage's line of `status --all-stages`: what is live there and since when, or why it cannot be told."""

    stage: str
    stack_name: str
    region: str
    live: StageRevision | None = None
    problem: str | None = None
    # False when AWS could not be asked (refused credentials, unreachable endpoint): nothing is known of the stage.
    read: bool = True

    def as_json(self) -> dict[str, Any]:
        """Stable keys for scripts."""
        live = self.live
        return {
            "stage": self.stage,
            "stack": self.stack_name,
            "region": self.region,
            "deploymentId": live.deployment_id if live else None,
            "revision": live.location if live else None,
            "since": live.since.isoformat() if live and live.since else None,
            "problem": self.problem,
        }


def write_stage_statuses(statuses: list[StageStatus], out: IO[str], *, as_json: bool = False) -> None:
    """One line per stage (stage, region, live revision key and version, since when), or JSON."""
    if as_json:
        out.write(json.dumps({"stages": [status.as_json() for status in statuses]}, indent=2) + "\n")
        return
    for status in statuses:
        head = f"{status.stage:<16} {status.stack_name:<32} {status.region:<15}"
        if status.live is None:
            out.write(f"{head} {status.problem or 'nothing released yet'}\n")
            continue
        since = status.live.since.isoformat(timespec="seconds") if status.live.since else "unknown"
        version = status.live.location.get("version") or "unversioned"
        out.write(f"{head} {status.live.key} (version {version}) since {since} ({status.live.deployment_id})\n")


def stage_status(stage: Stage, *, cloudformation: Any, codedeploy: Any, s3: Any = None) -> StageStatus:
    """What `stage` runs (its stack's deployment group's last successful deployment), read with clients of the
    stage's region. A stage that cannot be read (not deployed, other account's credentials) gets its reason instead;
    one whose last success a bake window rolled back (read with `s3`) says "rolled back in its bake window"."""
    status = StageStatus(stage=stage.name, stack_name=stage.stack_name, region=stage.region)
    try:
        targets = resolve_targets(
            TargetOverrides(stack_name=stage.stack_name),
            cloudformation=cloudformation,
            default_fleet=stage.config.fleet,
        )
        return dataclasses.replace(status, live=released_revision(codedeploy, targets, stage.name, s3=s3))
    except RolledBackInWindow as exc:
        return dataclasses.replace(status, problem=f"rolled back in its bake window: {exc}")
    except PromotionRefused:
        return dataclasses.replace(status, problem="nothing released yet")
    except ReleaseError as exc:
        return dataclasses.replace(status, problem=str(exc), read=not isinstance(exc, AwsUnavailable))
    except (ClientError, BotoCoreError) as exc:
        return dataclasses.replace(
            status, problem=f"cannot be read with these credentials and region: {exc}", read=False
        )


@dataclass(frozen=True)
class WaveOutcome:
    """One stage of one wave: its exit code (`release.errors.ExitCode`), or None when it was skipped because an
    earlier stage did not release."""

    wave: int
    stage: str
    exit_code: int | None

    @property
    def text(self) -> str:
        """released / skipped / exit N, for the report."""
        if self.exit_code is None:
            return "skipped: an earlier stage did not release"
        return "released" if self.exit_code == 0 else f"not released (exit {self.exit_code})"


def parse_waves(values: list[str]) -> list[list[str]]:
    """`--wave A,B --wave C` → [[A, B], [C]]; `InputError` (exit 2) for an empty wave or a stage named twice."""
    waves = [[name.strip() for name in value.split(",") if name.strip()] for value in values]
    if not waves or any(not wave for wave in waves):
        raise InputError(
            "every --wave needs at least one stage",
            hint="Write --wave production-eu --wave production-us,production-ap.",
        )
    names = [name for wave in waves for name in wave]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InputError(f"stage {', '.join(twice)} is in more than one wave", hint="Name each stage once.")
    return waves


def run_waves(waves: list[list[str]], release_stage: Callable[[str], int]) -> list[WaveOutcome]:
    """Release the waves in order, the stages of a wave one after the other, with `release_stage(name) -> exit code`.

    The first stage that does not end with 0 stops everything after it: the rest of its wave and every later wave are
    skipped, so a revision that failed somewhere reaches no further region. The outcome covers every stage of every
    wave, in order.
    """
    outcomes: list[WaveOutcome] = []
    stopped = False
    for number, wave in enumerate(waves, start=1):
        for stage in wave:
            code = None if stopped else release_stage(stage)
            stopped = stopped or code != 0
            outcomes.append(WaveOutcome(wave=number, stage=stage, exit_code=code))
    return outcomes


def waves_exit_code(outcomes: list[WaveOutcome]) -> int:
    """0 when every stage released, else the exit code of the stage that stopped the waves."""
    return next((outcome.exit_code for outcome in outcomes if outcome.exit_code), 0)


def write_waves_report(outcomes: list[WaveOutcome], out: IO[str], path: Path) -> None:
    """The waves' summary: one line per stage on `out`, and `path` (JSON: wave, stage, exitCode, outcome)."""
    out.write("waves:\n")
    for outcome in outcomes:
        out.write(f"  wave {outcome.wave}  {outcome.stage:<24} {outcome.text}\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [
        {"wave": o.wave, "stage": o.stage, "exitCode": o.exit_code, "outcome": o.text.split(":")[0]} for o in outcomes
    ]
    path.write_text(json.dumps({"exitCode": waves_exit_code(outcomes), "stages": rows}, indent=2) + "\n")
