"""Whether a region name is one AWS has, decided offline from the endpoint data botocore ships.

botocore's `endpoints.json` lists, per partition (aws, aws-cn, aws-us-gov, ...), the regions it knows
(docs/decisions.md F102). A name it does not list is a typo (`eu-wset-1`), an invented name (`mars-1`) or a region
newer than the installed botocore; the last is why `allowUnlistedRegion` exists. botocore is imported on the call only,
so `import bluegreen` stays free of SDKs (as bluegreen.instance_types).
"""

from __future__ import annotations

import functools

from bluegreen.instance_types import nearest_hint

__all__ = ["UnlistedRegion", "check_region_name", "listed_regions"]


class UnlistedRegion(ValueError):
    """The region name has blanks, or the installed botocore lists no such region."""


@functools.cache
def listed_regions() -> tuple[str, tuple[str, ...]]:
    """The installed botocore's version and every region of every partition in its endpoint data, sorted."""
    import botocore  # noqa: PLC0415 - only here (module docstring)
    import botocore.loaders  # noqa: PLC0415

    endpoints = botocore.loaders.create_loader().load_data("endpoints")
    regions = {name for partition in endpoints["partitions"] for name in partition["regions"]}
    return botocore.__version__, tuple(sorted(regions))


def check_region_name(region: str, *, allow_unlisted: bool = False) -> None:
    """Raise `UnlistedRegion` for a name with blanks (never stripped: the value is shown as given) or, unless
    `allow_unlisted`, one botocore does not list, suggesting the nearest listed name."""
    if region != region.strip() or any(character.isspace() for character in region):
        raise UnlistedRegion(f"{region!r} has blanks in it; a region name has none (like eu-west-1)")
    if allow_unlisted:
        return
    version, listed = listed_regions()
    if region in listed:
        return
    raise UnlistedRegion(
        f"{region!r} is not an AWS region botocore {version} knows{nearest_hint(region, listed)} (a region newer than "
        "the installed botocore: upgrade boto3/botocore, or set allowUnlistedRegion to true)"
    )
