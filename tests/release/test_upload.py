"""Content-addressed upload of a bundle to S3 (moto), and the CodeDeploy revision it pins (Stubber)."""

from __future__ import annotations

import random
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.stub import Stubber
from moto import mock_aws
from release import upload as upload_module
from release.bundle import Bundle, build_bundle
from release.errors import ExitCode, InputError, UploadError
from release.tree import BUNDLE_FORMAT, RevisionTree, scan_revision
from release.upload import S3Revision, check_bucket, publish_revision, upload_bundle
from release.zipwriter import DEFLATE_LIBRARY

BUCKET = "artifacts"
APPLICATION = "web"
APPSPEC = "version: 0.0\nos: linux\nhooks:\n  ApplicationStart:\n    - location: start.sh\n"


def make_bundle(root: Path, out: Path, *, payload: bytes = b"hello\n") -> Bundle:
    """Build a bundle of a minimal valid revision holding `payload` in data.bin."""
    root.mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    (root / "start.sh").write_text("#!/bin/sh\n")
    (root / "start.sh").chmod(0o755 | stat.S_IFREG)
    (root / "data.bin").write_bytes(payload)
    return build_bundle(root, out)


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with a versioned artifact bucket."""
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    """A small valid bundle."""
    return make_bundle(tmp_path / "revision", tmp_path / "out")


def test_a_new_bundle_is_uploaded_under_its_content_hash(s3: Any, bundle: Bundle) -> None:
    # When
    revision = upload_bundle(s3, bundle, bucket=BUCKET, application=APPLICATION)
    # Then
    assert (revision.uploaded, revision.key) == (True, f"revisions/web/{bundle.content_sha256}.zip")
    assert s3.get_object(Bucket=BUCKET, Key=revision.key)["Body"].read() == bundle.path.read_bytes()


def test_the_revision_is_pinned_by_the_objects_etag_and_version(s3: Any, bundle: Bundle) -> None:
    # When
    revision = upload_bundle(s3, bundle, bucket=BUCKET, application=APPLICATION)
    # Then
    head = s3.head_object(Bucket=BUCKET, Key=revision.key)
    assert (revision.etag, revision.version_id) == (head["ETag"].strip('"'), head["VersionId"])


def test_an_unchanged_bundle_is_not_uploaded_again(s3: Any, bundle: Bundle) -> None:
    # Given
    first = upload_bundle(s3, bundle, bucket=BUCKET, application=APPLICATION)
    # When
    second = upload_bundle(s3, bundle, bucket=BUCKET, application=APPLICATION)
    # Then
    assert (second.uploaded, second.version_id, second.etag) == (False, first.version_id, first.etag)
    assert len(s3.list_object_versions(Bucket=BUCKET)["Versions"]) == 1


def test_commit_branch_build_and_hash_go_into_the_object_metadata(s3: Any, bundle: Bundle) -> None:
    # When
    revision = upload_bundle(
        s3, bundle, bucket=BUCKET, application=APPLICATION, commit="0123abc", branch="main", build="42"
    )
    # Then
    metadata = s3.head_object(Bucket=BUCKET, Key=revision.key)["Metadata"]
    assert metadata == {
        "content-sha256": bundle.content_sha256,
        "application": APPLICATION,
        "commit": "0123abc",
        "branch": "main",
        "build": "42",
        "bundle-format": BUNDLE_FORMAT,
    }


def test_a_non_ascii_branch_name_is_percent_encoded_in_the_metadata(s3: Any, bundle: Bundle) -> None:
    revision = upload_bundle(s3, bundle, bucket=BUCKET, application=APPLICATION, branch="feature/café")
    assert s3.head_object(Bucket=BUCKET, Key=revision.key)["Metadata"]["branch"] == "feature/caf%C3%A9"


def test_a_custom_prefix_replaces_the_default_one(s3: Any, bundle: Bundle) -> None:
    revision = upload_bundle(s3, bundle, bucket=BUCKET, application=APPLICATION, prefix="releases/prod/")
    assert revision.key == f"releases/prod/{bundle.content_sha256}.zip"


def test_a_large_bundle_goes_up_in_multipart_chunks(s3: Any, tmp_path: Path) -> None:
    # Given an incompressible bundle of about 12 MiB and a 5 MiB threshold (S3's minimum part size)
    payload = random.Random(7).randbytes(12 * 1024 * 1024)
    large = make_bundle(tmp_path / "revision", tmp_path / "out", payload=payload)
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    # When
    revision = upload_bundle(s3, large, bucket=BUCKET, application=APPLICATION, transfer_config=config)
    # Then a multipart ETag ("<md5 of part md5s>-<parts>") with three parts, and the bytes intact
    assert revision.etag.endswith("-3")
    assert s3.get_object(Bucket=BUCKET, Key=revision.key)["Body"].read() == large.path.read_bytes()


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


def test_an_unversioned_bucket_gives_a_revision_without_version(bundle: Bundle) -> None:
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        revision = upload_bundle(client, bundle, bucket=BUCKET, application=APPLICATION)
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


def test_the_codedeploy_revision_is_accepted_by_create_deployment(s3: Any, bundle: Bundle) -> None:
    # Given an uploaded revision and a stubbed CodeDeploy client (botocore validates against the service model)
    revision = upload_bundle(s3, bundle, bucket=BUCKET, application=APPLICATION)
    codedeploy = boto3.client("codedeploy")
    expected = {"applicationName": APPLICATION, "deploymentGroupName": "web-dg", "revision": revision.to_codedeploy()}
    with Stubber(codedeploy) as stubber:
        stubber.add_response("create_deployment", {"deploymentId": "d-ABCDEF123"}, expected)
        # When
        response = codedeploy.create_deployment(**expected)
        # Then
        stubber.assert_no_pending_responses()
    assert response["deploymentId"] == "d-ABCDEF123"


# -- publish_revision: hash first, compress and stream only when the key is missing -----------------------------------


def make_tree(root: Path, *, payload: bytes = b"hello\n") -> RevisionTree:
    """Scan a minimal valid revision holding `payload` in data.bin."""
    root.mkdir(parents=True)
    (root / "appspec.yml").write_text(APPSPEC)
    (root / "start.sh").write_text("#!/bin/sh\n")
    (root / "start.sh").chmod(0o755)
    (root / "data.bin").write_bytes(payload)
    return scan_revision(root)


def test_a_published_revision_is_the_zip_build_bundle_writes_under_the_same_key(s3: Any, tmp_path: Path) -> None:
    # Given
    tree = make_tree(tmp_path / "revision")
    expected = build_bundle(tree.root, tmp_path / "out")
    # When
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)
    # Then
    body = s3.get_object(Bucket=BUCKET, Key=revision.key)["Body"].read()
    assert (revision.uploaded, revision.key, revision.size) == (
        True,
        f"revisions/web/{expected.content_sha256}.zip",
        expected.size,
    )
    assert body == expected.path.read_bytes()


def test_an_unchanged_revision_is_neither_compressed_nor_uploaded(
    s3: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a revision already published
    tree = make_tree(tmp_path / "revision")
    first = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)

    def no_zip(*args: object, **kwargs: object) -> None:
        raise AssertionError("the zip was built for an unchanged revision")

    monkeypatch.setattr(upload_module, "ZipReader", no_zip)
    # When
    second = publish_revision(s3, scan_revision(tree.root), bucket=BUCKET, application=APPLICATION)
    # Then
    assert (second.uploaded, second.etag, second.version_id) == (False, first.etag, first.version_id)


def test_a_large_revision_streams_up_in_multipart_chunks(s3: Any, tmp_path: Path) -> None:
    # Given an incompressible revision of about 12 MiB and a 5 MiB threshold (S3's minimum part size)
    tree = make_tree(tmp_path / "revision", payload=random.Random(7).randbytes(12 * 1024 * 1024))
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    # When
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION, transfer_config=config)
    # Then a three-part object whose bytes are the zip
    expected = build_bundle(tree.root, tmp_path / "out").path.read_bytes()
    assert revision.etag.endswith("-3")
    assert s3.get_object(Bucket=BUCKET, Key=revision.key)["Body"].read() == expected


def test_the_published_object_names_its_content_hash_format_and_deflate_library(s3: Any, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "revision")
    revision = publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION, commit="0123abc")
    metadata = s3.head_object(Bucket=BUCKET, Key=revision.key)["Metadata"]
    assert metadata == {
        "content-sha256": tree.content_sha256,
        "application": APPLICATION,
        "commit": "0123abc",
        "bundle-format": BUNDLE_FORMAT,
        "deflate": DEFLATE_LIBRARY,
    }


def test_a_file_changed_after_the_scan_is_not_published(s3: Any, tmp_path: Path) -> None:
    # Given
    tree = make_tree(tmp_path / "revision")
    (tree.root / "data.bin").write_bytes(b"changed\n")
    # When
    with pytest.raises((InputError, UploadError)):
        publish_revision(s3, tree, bucket=BUCKET, application=APPLICATION)
    # Then
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET)
