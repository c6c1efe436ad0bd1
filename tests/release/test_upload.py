"""Content-addressed publishing of a revision to S3 (moto), and the CodeDeploy revision it pins (Stubber)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.stub import Stubber
from moto import mock_aws
from release import upload as upload_module
from release.bundle import write_bundle
from release.errors import ExitCode, InputError, UploadError
from release.tree import BUNDLE_FORMAT, RevisionTree, scan_revision
from release.upload import S3Revision, check_bucket, publish_revision
from release.zipwriter import DEFLATE_LIBRARY

BUCKET = "artifacts"
APPLICATION = "web"
APPSPEC = "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: start.sh\n"
# S3's minimum part size: the smallest threshold that makes a test revision of a few MiB go up in parts.
PART = 5 * 1024 * 1024


def make_tree(root: Path, *, payload: bytes = b"hello\n") -> RevisionTree:
    """Scan a minimal valid revision holding `payload` in data.bin."""
    root.mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    (root / "start.sh").write_text("#!/bin/sh\n")
    (root / "start.sh").chmod(0o755)
    (root / "data.bin").write_bytes(payload)
    return scan_revision(root)


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with a versioned artifact bucket."""
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def tree(tmp_path: Path) -> RevisionTree:
    """A small valid revision, scanned."""
    return make_tree(tmp_path / "revision")


def test_a_new_revision_is_stored_under_its_content_hash_as_the_zip_deploy_bundle_writes(
    s3: Any, tree: RevisionTree, tmp_path: Path
) -> None:
    # Given the zip `deploy.py bundle` writes for the same tree
    expected = write_bundle(tree, tmp_path / "out")
    # When
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)
    # Then the object holds exactly those bytes, under the revision's content hash
    assert (revision.uploaded, revision.key, revision.size) == (
        True,
        f"revisions/web/{tree.content_sha256}.zip",
        expected.size,
    )
    assert s3.get_object(Bucket=BUCKET, Key=revision.key)["Body"].read() == expected.path.read_bytes()


def test_the_revision_is_pinned_by_the_objects_etag_and_version(s3: Any, tree: RevisionTree) -> None:
    # When
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)
    # Then
    head = s3.head_object(Bucket=BUCKET, Key=revision.key)
    assert (revision.etag, revision.version_id) == (head["ETag"].strip('"'), head["VersionId"])


def test_an_unchanged_revision_is_neither_compressed_nor_uploaded(
    s3: Any, tree: RevisionTree, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a revision already published
    first = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)

    def no_zip(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zip was built for an unchanged revision")

    monkeypatch.setattr(upload_module, "ZipReader", no_zip)
    # When the same content is scanned again and published
    second = publish_revision(s3, scan_revision(tree.root), bucket=BUCKET, application=APPLICATION)
    # Then the stored object is reused: same ETag and version, still one version in the bucket
    assert (second.uploaded, second.etag, second.version_id, second.size) == (
        False,
        first.etag,
        first.version_id,
        first.size,
    )
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 1


def test_the_object_names_commit_branch_build_content_hash_format_and_deflate_library(
    s3: Any, tree: RevisionTree
) -> None:
    # When
    revision = publish_revision(
        s3, tree, bucket=BUCKET, application=APPLICATION, commit="0123abc", branch="main", build="42"
    )
    # Then
    assert s3.head_object(Bucket=BUCKET, Key=revision.key)["Metadata"] == {
        "content-sha256": tree.content_sha256,
        "application": APPLICATION,
        "commit": "0123abc",
        "branch": "main",
        "build": "42",
        "bundle-format": BUNDLE_FORMAT,
        "deflate": DEFLATE_LIBRARY,
    }


def test_a_non_ascii_branch_name_is_percent_encoded_in_the_metadata(s3: Any, tree: RevisionTree) -> None:
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION, branch="feature/café")
    assert s3.head_object(Bucket=BUCKET, Key=revision.key)["Metadata"]["branch"] == "feature/caf%C3%A9"


def test_a_custom_prefix_replaces_the_default_one(s3: Any, tree: RevisionTree) -> None:
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION, prefix="releases/prod/")
    assert revision.key == f"releases/prod/{tree.content_sha256}.zip"


def test_a_large_revision_streams_up_in_multipart_chunks(s3: Any, tmp_path: Path) -> None:
    # Given an incompressible revision of about 12 MiB and a 5 MiB threshold
    tree = make_tree(tmp_path / "revision", payload=random.Random(7).randbytes(12 * 1024 * 1024))
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    # When
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION, transfer_config=config)
    # Then a three-part object ("<md5 of part md5s>-<parts>") whose bytes are the zip
    expected = write_bundle(tree, tmp_path / "out").path.read_bytes()
    assert revision.etag.endswith("-3")
    assert s3.get_object(Bucket=BUCKET, Key=revision.key)["Body"].read() == expected


def test_a_file_changed_after_the_scan_is_not_published(s3: Any, tree: RevisionTree) -> None:
    # Given
    (tree.root / "data.bin").write_bytes(b"changed\n")
    # When
    with pytest.raises((InputError, UploadError)) as caught:
        publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)
    # Then exit 2 and nothing under the key
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)


def test_a_large_file_changed_after_the_scan_leaves_no_multipart_upload_behind(s3: Any, tmp_path: Path) -> None:
    # Given a revision that goes up in parts, whose large file changes after the scan
    tree = make_tree(tmp_path / "revision", payload=random.Random(5).randbytes(3 * PART))
    (tree.root / "data.bin").write_bytes(random.Random(6).randbytes(3 * PART))
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART)
    # When
    with pytest.raises((InputError, UploadError)):
        publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION, transfer_config=config)
    # Then no object and no unfinished multipart upload (whose parts S3 would keep billing) is left
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_a_missing_bucket_is_bad_input_with_a_hint(s3: Any) -> None:
    # When
    with pytest.raises(UploadError) as caught:
        check_bucket(s3, "no-such-bucket")
    # Then
    assert caught.value.exit_code == ExitCode.BAD_INPUT
    assert "does not exist" in caught.value.message
    assert "cdk deploy" in caught.value.hint


def test_an_access_denied_bucket_is_bad_input_with_a_hint() -> None:
    # Given
    client = boto3.client("s3")
    with Stubber(client) as stubber:
        stubber.add_client_error("head_bucket", service_error_code="403", http_status_code=403)
        # When
        with pytest.raises(UploadError) as caught:
            check_bucket(client, BUCKET)
    # Then
    assert ("denied" in caught.value.message, "s3:PutObject" in caught.value.hint) == (True, True)


def test_an_unversioned_bucket_gives_a_revision_without_version(tree: RevisionTree) -> None:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        revision = publish_revision(client, tree, bucket=BUCKET, application=APPLICATION)
    assert (revision.version_id, "version" in revision.to_codedeploy()["s3Location"]) == (None, False)


def test_the_codedeploy_revision_names_bucket_key_zip_etag_and_version() -> None:
    # Given
    revision = S3Revision(bucket=BUCKET, key="revisions/web/abc.zip", etag="e7", version_id="v1", uploaded=True)
    # Then
    assert revision.to_codedeploy() == {
        "revisionType": "S3",
        "s3Location": {
            "bucket": BUCKET,
            "key": "revisions/web/abc.zip",
            "bundleType": "zip",
            "eTag": "e7",
            "version": "v1",
        },
    }


def test_the_codedeploy_revision_is_accepted_by_create_deployment(s3: Any, tree: RevisionTree) -> None:
    # Given a published revision and a stubbed CodeDeploy client (botocore validates against the service model)
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)
    codedeploy = boto3.client("codedeploy")
    expected = {"applicationName": APPLICATION, "deploymentGroupName": "web-dg", "revision": revision.to_codedeploy()}
    with Stubber(codedeploy) as stubber:
        stubber.add_response("create_deployment", {"deploymentId": "d-ABCDEF123"}, expected)
        # When
        response = codedeploy.create_deployment(**expected)
        # Then
        stubber.assert_no_pending_responses()
    assert response["deploymentId"] == "d-ABCDEF123"
