"""Content-addressed upload of a revision bundle to the artifact bucket.

The key derives from the revision's content hash (`<prefix>/<content_sha256>.zip`, `release.tree`), computed before
anything is compressed, so an unchanged revision maps to an object that already exists: it is found with HeadObject
and neither compressed nor uploaded again. Only when the object is missing does `publish_revision` compress on every
core, straight into a streaming multipart upload (no zip on disk; `deploy.py bundle` writes the same bytes to a file,
`release.bundle`).

The revision is pinned by ETag and version id, which CodeDeploy checks when the instance downloads the bundle, so a
later overwrite of the key cannot change what a deployment installs.

The bucket itself is checked once per release, by `check_bucket` in the release's pre-flight (before anything is
scaled); `publish_revision` expects a bucket that passed it.
"""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass
from typing import Any

from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from release.errors import AwsUnavailable, UploadError
from release.retry import is_refused
from release.tree import BUNDLE_FORMAT, RevisionTree
from release.zipwriter import DEFLATE_LIBRARY, ZipReader

__all__ = [
    "DEFAULT_TRANSFER_CONFIG",
    "S3Revision",
    "check_bucket",
    "default_prefix",
    "publish_revision",
    "revision_key",
]

_MIB = 1024 * 1024
# Multipart from 16 MiB in 16 MiB parts, 8 at a time: S3 allows at most 10 000 parts of at least 5 MiB, so this
# reaches 156 GiB, and one slow part costs little to retry.
DEFAULT_TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=16 * _MIB,
    multipart_chunksize=16 * _MIB,
    max_concurrency=8,
    use_threads=True,
)
# User metadata travels as HTTP headers: ASCII only, at most 2 KB for all of it together (S3 user guide, "Object
# metadata"). Each value is percent-encoded where needed and cut to this length.
_MAX_METADATA_VALUE = 256
_METADATA_SAFE = " /-_.:@+=,#"


@dataclass(frozen=True, kw_only=True)
class S3Revision:
    """A revision bundle stored in S3, pinned by ETag and (in a versioned bucket) version id."""

    bucket: str
    key: str
    etag: str
    version_id: str | None
    bundle_type: str = "zip"
    uploaded: bool
    size: int | None = None

    def to_codedeploy(self) -> dict[str, Any]:
        """The `revision` argument of CodeDeploy CreateDeployment / RegisterApplicationRevision for this object."""
        location: dict[str, str] = {
            "bucket": self.bucket,
            "key": self.key,
            "bundleType": self.bundle_type,
            "eTag": self.etag,
        }
        if self.version_id:
            location["version"] = self.version_id
        return {"revisionType": "S3", "s3Location": location}


def default_prefix(application: str) -> str:
    """The default key prefix for an application's revisions: `revisions/<application>`."""
    return f"revisions/{application}"


def revision_key(content_sha256: str, prefix: str) -> str:
    """The object key of the revision with this content hash under `prefix`."""
    name = f"{content_sha256}.zip"
    return f"{prefix.strip('/')}/{name}" if prefix.strip("/") else name


def publish_revision(
    s3: Any,
    tree: RevisionTree,
    *,
    bucket: str,
    application: str,
    prefix: str | None = None,
    commit: str | None = None,
    branch: str | None = None,
    build: str | None = None,
    transfer_config: TransferConfig | None = None,
    workers: int | None = None,
) -> S3Revision:
    """Upload the zip of a scanned revision (`release.tree.scan_revision`) unless its key exists; return the object.

    `s3` is a boto3 S3 client; `prefix` defaults to `default_prefix(application)`; commit, branch and build go into
    the object's metadata. Nothing is compressed when `<prefix>/<content_sha256>.zip` is there already. Otherwise
    the zip is compressed on `workers` threads and streamed into the upload as it is made (parallel multipart parts
    above the threshold of `transfer_config`, default `DEFAULT_TRANSFER_CONFIG`), so compression and network overlap
    and no zip is written to disk. The bucket is expected to have passed `check_bucket`. Raises `UploadError` (exit 2)
    when the object cannot be looked up or written, `InputError` when a file cannot be read or changed since it was
    scanned (the multipart upload is then aborted: nothing is left under the key).
    """
    key = revision_key(tree.content_sha256, default_prefix(application) if prefix is None else prefix)
    existing = _head(s3, bucket, key)
    if existing is not None:
        return _revision(bucket, key, existing, uploaded=False)
    metadata = _metadata(
        content_sha256=tree.content_sha256, application=application, commit=commit, branch=branch, build=build
    )
    reader = ZipReader(tree.root, tree.files, workers=workers)
    try:
        return _put(s3, reader, bucket=bucket, key=key, metadata=metadata, transfer_config=transfer_config)
    finally:
        reader.close()


def _put(
    s3: Any,
    source: ZipReader,
    *,
    bucket: str,
    key: str,
    metadata: dict[str, str],
    transfer_config: TransferConfig | None,
) -> S3Revision:
    """Stream the zip to the key (multipart in parallel when large), then read its ETag and version id."""
    # The deflate library is recorded because the key promises the content only, not these bytes.
    metadata = {**metadata, "bundle-format": BUNDLE_FORMAT, "deflate": DEFLATE_LIBRARY}
    extra = {"Metadata": metadata, "ContentType": "application/zip"}
    config = transfer_config or DEFAULT_TRANSFER_CONFIG
    try:
        s3.upload_fileobj(source, bucket, key, ExtraArgs=extra, Config=config)
    except (S3UploadFailedError, ClientError, BotoCoreError) as exc:
        raise UploadError(f"Could not upload the revision to s3://{bucket}/{key}: {exc}") from exc
    stored = _head(s3, bucket, key)
    if stored is None:
        raise UploadError(f"s3://{bucket}/{key} is missing right after its upload")
    return _revision(bucket, key, stored, uploaded=True)


def check_bucket(s3: Any, bucket: str) -> None:
    """Pre-flight (HeadBucket): fail early and clearly when the artifact bucket is missing, elsewhere or denied.

    Raises `UploadError` (exit 2) with what to do when the bucket does not exist, is denied or lies in another region;
    `AwsUnavailable` (exit 8) when S3 cannot be reached or answers otherwise (a server error, refused credentials;
    docs/decisions.md F101).
    Needed before `publish_revision` because HeadObject alone cannot tell a missing bucket from a missing key (both
    answer 404 without a body).
    """
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code", "")
        if status == 404 or code in {"404", "NoSuchBucket"}:
            raise UploadError(
                f"The artifact bucket {bucket!r} does not exist.",
                hint="Deploy the stack first (`cdk deploy`), or pass its bucket output (--bucket or S3_BUCKET).",
            ) from exc
        if code not in {"403", "AccessDenied"} and is_refused(exc):
            raise AwsUnavailable(f"S3 refused the credentials for the artifact bucket {bucket!r}: {exc}") from exc
        if status == 403 or code in {"403", "AccessDenied"}:
            # HeadBucket has no body (docs/decisions.md F101): a foreign bucket and refused credentials look alike.
            raise UploadError(
                f"Access to the artifact bucket {bucket!r} is denied (403): it is another account's, or these "
                "credentials are refused or may not s3:ListBucket it (`aws sts get-caller-identity` names them)."
            ) from exc
        if status == 301 or code == "PermanentRedirect":
            region = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("x-amz-bucket-region")
            raise UploadError(
                f"The artifact bucket {bucket!r} is in another region ({region or 'unknown'}).",
                hint="Set AWS_REGION to the stack's region; CodeDeploy needs the bucket in the fleet's region.",
            ) from exc
        # Anything else is S3 itself answering badly (5xx after the SDK's retries, refused credentials with a body):
        # AWS is unavailable, the bucket is not shown to be wrong.
        raise AwsUnavailable(f"HeadBucket on the artifact bucket {bucket!r} failed: {exc}") from exc
    except NoCredentialsError:
        raise  # no credentials at all: the CLI says how to set them (exit 2)
    except BotoCoreError as exc:
        # No answer at all (connection refused, DNS, endpoint, timeouts): exit 8, not a bad bucket.
        raise AwsUnavailable(f"Could not reach S3 for the artifact bucket {bucket!r}: {exc}") from exc


def _head(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """HeadObject's answer for the key, or None when there is no such object."""
    try:
        return s3.head_object(Bucket=bucket, Key=key)  # type: ignore[no-any-return]
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = exc.response.get("Error", {}).get("Code", "")
        if status == 404 or code in {"404", "NoSuchKey", "NotFound"}:
            return None
        # Without s3:ListBucket S3 answers 403 for a missing key too; the upload that follows either works or
        # raises a clear error, so treat it as absent.
        if status == 403 or code in {"403", "AccessDenied"}:
            return None
        raise UploadError(f"Could not look up s3://{bucket}/{key}: {exc}") from exc
    except BotoCoreError as exc:
        raise UploadError(f"Could not look up s3://{bucket}/{key}: {exc}") from exc


def _revision(bucket: str, key: str, head: dict[str, Any], *, uploaded: bool) -> S3Revision:
    version = head.get("VersionId")
    return S3Revision(
        bucket=bucket,
        key=key,
        # S3 quotes the ETag; CodeDeploy's s3Location.eTag wants it bare (as `aws deploy push` sends it).
        etag=str(head["ETag"]).strip('"'),
        # "null" is the version id of an object written while versioning was off or suspended: not a pin.
        version_id=version if version and version != "null" else None,
        uploaded=uploaded,
        size=head.get("ContentLength"),
    )


def _metadata(**values: str | None) -> dict[str, str]:
    """S3 user metadata from the given values (`_` in a name becomes `-`), ASCII-safe and bounded; empty values are
    left out."""
    return {
        name.replace("_", "-"): urllib.parse.quote(value, safe=_METADATA_SAFE)[:_MAX_METADATA_VALUE]
        for name, value in values.items()
        if value
    }
