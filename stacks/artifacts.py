"""The artifact bucket that holds application revisions, and the bucket that receives access logs."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_s3 as s3
from constructs import Construct


class ArtifactStore(Construct):
    """A versioned, encrypted, TLS-only bucket for revision bundles, kept when the stack is deleted.

    Revisions are content-addressed by the release tool, so a key is rewritten only by an identical bundle; the
    non-current versions that remain are old copies and expire after `noncurrent_version_days`.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        noncurrent_version_days: int,
        abort_incomplete_upload_days: int,
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        # SSE-S3, not KMS: ALB access logs only support SSE-S3 destinations (ELB guide, "Access logs"). Neither
        # versioned nor logged itself: docs/security.md, "Access-log bucket", says why.
        self.log_bucket = s3.Bucket(
            self,
            "AccessLogs",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
            lifecycle_rules=[
                s3.LifecycleRule(id="ExpireAccessLogs", expiration=Duration.days(log_retention_days)),
            ],
        )
        self.bucket = s3.Bucket(
            self,
            "Revisions",
            versioned=True,
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            removal_policy=RemovalPolicy.RETAIN,
            server_access_logs_bucket=self.log_bucket,
            server_access_logs_prefix="s3/revisions/",
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireReplacedRevisions",
                    noncurrent_version_expiration=Duration.days(noncurrent_version_days),
                ),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads",
                    abort_incomplete_multipart_upload_after=Duration.days(abort_incomplete_upload_days),
                ),
            ],
        )
