import airflow_mesos.mesos as mesos
from airflow_mesos.mesos import events


def test_every_exported_name_exists():
    for name in mesos.__all__:
        assert hasattr(mesos, name), name
    for name in events.__all__:
        assert hasattr(events, name), name


def test_the_documented_entry_points_are_exported():
    assert {"SchedulerDriver", "events", "calls", "NotSubscribed", "MesosApiError"} <= set(mesos.__all__)


def test_rate_limits_and_malformed_offers_are_public():
    assert "RateLimitedError" in mesos.__all__ and issubclass(mesos.RateLimitedError, mesos.MesosApiError)
    assert "MalformedOffer" in events.__all__
