import pytest

from airflow_mesos.clock import FakeClock


def test_fake_clock_sleep_advances_time_instead_of_blocking():
    clock = FakeClock(start=100.0)
    clock.sleep(2.5)
    assert clock.monotonic() == 102.5
    assert clock.sleeps == [2.5]


def test_fake_clock_refuses_to_go_backwards():
    clock = FakeClock()
    with pytest.raises(ValueError):
        clock.advance(-1)
