"""Fixtures shared by the integration tests of the embedded master."""

from __future__ import annotations

import pytest

from tests.support.scheduler_client import SchedulerClient


@pytest.fixture
def subs():
    """Scheduler subscriptions a test opened with the independent test client; closed at teardown."""
    opened: list[SchedulerClient] = []
    yield opened
    for s in opened:
        s.close()
