"""The offline demo's summary reads the synthesized template and names the tuned traffic-step times."""

from __future__ import annotations

import pytest

from bluegreen.config import load_config
from scripts.demo import summarize
from tests.stacks.conftest import Synthesized

pytestmark = pytest.mark.slow


def test_summary_shows_health_check_and_traffic_steps_against_alb_defaults(default_stack: Synthesized) -> None:
    text = summarize(default_stack.template.to_json(), load_config({}))
    assert "interval 5 s, timeout 2 s, healthy threshold 2, unhealthy threshold 2" in text
    # expected (bound) per instance: F85 and F107, bounded by F7
    assert "AllowTraffic (F85; bound F7)                          10 s ( 15 s)     35 s (180 s)" in text
    assert "BlockTraffic (F107; bound F7)                         30 s ( 45 s)    300 s (480 s)" in text
    assert "2 x AWS::AutoScaling::AutoScalingGroup" in text
    assert "CodeDeployDefault.OneAtATime, 2 rollback alarms" in text
