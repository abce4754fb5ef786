"""The MinIO policy of one site on a cluster shared by many boxes (`nvrctl config minio-policy`).

A company runs one MinIO cluster for all its sites; every box gets its own user whose
policy lets it read and write only the keys of its own site (`site_key_pattern`) in the
buckets it uploads to, and nothing else: no listing, no other site's keys, no bucket
administration. See docs/design/objects.md, "Many sites, one cluster".
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from nvr.core.tables.uploads import site_key_pattern

POLICY_VERSION = "2012-10-17"
# What nvr-uplink's upload path calls (nvr.uplink.objects.store): HEAD of an object to
# find its hash (GetObject), PUT and multipart PUT (PutObject, AbortMultipartUpload and
# ListMultipartUploadParts when a part fails), DELETE of an object whose content changed
# after it was queued (DeleteObject; objects.md, invariant 3).
OBJECT_ACTIONS = (
    "s3:GetObject",
    "s3:PutObject",
    "s3:AbortMultipartUpload",
    "s3:ListMultipartUploadParts",
    "s3:DeleteObject",
)
# The SDK asks a bucket's region before its first request to it.
BUCKET_ACTIONS = ("s3:GetBucketLocation",)


def site_policy(site_id: str, buckets: Iterable[str]) -> dict[str, Any]:
    """The IAM policy document of site `site_id` writing to `buckets`."""
    names = list(dict.fromkeys(buckets))
    pattern = site_key_pattern(site_id)
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Sid": "OwnSiteObjects",
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": [f"arn:aws:s3:::{bucket}/{pattern}" for bucket in names],
            },
            {
                "Sid": "BucketRegion",
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": [f"arn:aws:s3:::{bucket}" for bucket in names],
            },
        ],
    }
