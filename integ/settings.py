"""The integration stack's names and settings, shared by the test app (integ_blue_green.py) and the kit (kit.py).

Plain Python (no aws_cdk, no boto3), so the kit and the offline tests import it without starting jsii.
"""

from __future__ import annotations

from typing import Any

# The throwaway stack's name: never the production default (`BlueGreenApp`), fixed so the snapshot is stable.
STACK_NAME = "BlueGreenInteg"
ASSERTION_STACK_NAME = f"{STACK_NAME}Assertions"
# What the integration stack changes from the defaults (bluegreen.config.SETTINGS), and why:
OVERRIDES: dict[str, Any] = {
    "stackName": STACK_NAME,
    # One instance per slot keeps a run short and cheap; the kit scales the live slot out to 2 and back itself.
    "fleetMinSize": 1,
    "fleetDesiredSize": 1,
    "fleetMaxSize": 2,
    # Long enough that a drain ended by "no connections" (two polls) is told apart from one ended by the bound
    # (the delay): kit check U5-ss-keepalive compares the two.
    "deregistrationDelaySeconds": 60,
    "logRetentionDays": 1,
}
