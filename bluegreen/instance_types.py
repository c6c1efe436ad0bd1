"""An instance type's processor architecture, decided offline from its name.

botocore's EC2 model does not list instance types' architectures (only DescribeInstanceTypes answers that, online), so
the name decides, by the rule of the EC2 guide's "Amazon EC2 instance type naming conventions"
(https://docs.aws.amazon.com/ec2/latest/instancetypes/instance-type-names.html, docs/decisions.md F29): a name is
`<series><generation><options>.<size>`, and the options letter `g` means an AWS Graviton (arm64) processor
(t4g, m7g, c7gn, r6gd, im4gn, is4gen, g5g), `a` AMD and `i` Intel. The first Graviton family, `a1`, predates the
rule: its series letter `a` is the only arm64 family without the `g`. Mac instances (`mac1`, `mac2`) need Dedicated
Hosts, which an Auto Scaling group cannot launch onto here, and names outside the pattern (the `u-` high-memory
family) are refused rather than guessed.

Plain Python: bluegreen.config validates with it and stacks/fleet.py picks the Amazon Linux 2023 image with it.

`check_listed` also asks whether EC2 knows the name at all, offline: the `InstanceType` enum of the EC2 service model
that botocore ships (docs/decisions.md F66). botocore is imported on that call only (it comes with boto3, a dependency
of this package), so importing this module stays cheap and free of SDKs.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Literal

Architecture = Literal["x86_64", "arm64"]

INSTANCE_TYPE_NAME = re.compile(r"^(?P<series>[a-z]+)(?P<generation>[0-9]+)(?P<options>[a-z-]*)\.(?P<size>[a-z0-9-]+)$")
# The series whose instances an Auto Scaling group in this stack cannot run (Mac instances need Dedicated Hosts).
UNSUPPORTED_SERIES = ("mac",)
# Graviton (first generation) without the `g` option letter: A1 (EC2 guide, general purpose instances).
ARM_SERIES_WITHOUT_OPTION = ("a",)


class UnknownInstanceType(ValueError):
    """The name does not follow the naming convention, or names a family this stack cannot launch."""


def architecture(instance_type: str) -> Architecture:
    """`arm64` for a Graviton instance type, `x86_64` for any other; `UnknownInstanceType` when the name cannot tell."""
    match = INSTANCE_TYPE_NAME.match(instance_type)
    if match is None:
        raise UnknownInstanceType(
            f"{instance_type!r} does not follow the EC2 naming convention <series><generation><options>.<size>, "
            "so its processor architecture is unknown"
        )
    series, options = match["series"], match["options"]
    if series in UNSUPPORTED_SERIES:
        raise UnknownInstanceType(f"{instance_type!r}: Mac instances need Dedicated Hosts, which the slots do not use")
    if "g" in options or series in ARM_SERIES_WITHOUT_OPTION:
        return "arm64"
    return "x86_64"


class UnlistedInstanceType(ValueError):
    """The name is not in the installed botocore's list of EC2 instance types (a typo, or a type newer than it)."""


@functools.cache
def listed_instance_types() -> tuple[str, tuple[str, ...]]:
    """The installed botocore's version and the instance types its EC2 service model lists (shape `InstanceType`).

    Loading the model parses the whole EC2 API description (4.3 MB of JSON), hence the cache: once per process.
    """
    import botocore  # noqa: PLC0415 - only here, so `import bluegreen` needs no SDK (module docstring)
    import botocore.session  # noqa: PLC0415

    model = botocore.session.get_session().get_service_model("ec2")
    return botocore.__version__, tuple(model.shape_for("InstanceType").enum)


def check_listed(instance_type: str) -> None:
    """Raise `UnlistedInstanceType`, suggesting the nearest listed name, unless botocore lists the type."""
    version, listed = listed_instance_types()
    if instance_type in listed:
        return
    raise UnlistedInstanceType(
        f"{instance_type!r} is not an EC2 instance type botocore {version} knows{nearest_hint(instance_type, listed)} "
        "(a type newer than the installed botocore: upgrade boto3/botocore, or set allowUnlistedInstanceType to true)"
    )


def nearest_hint(name: str, listed: tuple[str, ...]) -> str:
    """`"; did you mean <nearest>?"` for the listed name nearest to a misspelt `name`, or "" when none is near."""
    nearest = difflib.get_close_matches(name, listed, n=1)
    return f"; did you mean {nearest[0]}?" if nearest else ""
