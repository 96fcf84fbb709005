"""Clickstream micro-batching: events are generated, cut into micro-batches, archived to S3, loaded into Postgres.

The job this project started from: an application's click events arrive all the
time; a consumer cuts them into small batches, archives every batch to S3 (so
the raw history can be replayed into any tool later), and loads them into a
warehouse table for dashboards.  Here the stream is simulated (seeded by the
run id, so a rerun produces the same events and the load stays idempotent), and
every step runs as its own Mesos task::

    generate_events -> make_batches -> archive_batch (one mapped task per batch) -> load_batches -> report

Two Airflow connections, usually given by environment on the api-server (tasks
get connections through the Execution API, so the secrets never reach Mesos)::

    # S3 or anything that speaks it (endpoint_url in the extra; leave it out for AWS itself)
    AIRFLOW_CONN_CLICKSTREAM_S3='{"conn_type": "aws", "login": "<key id>", "password": "<secret>",
                                  "extra": {"region_name": "us-east-1", "endpoint_url": "http://s3.local:9000"}}'
    # the warehouse: any PostgreSQL
    AIRFLOW_CONN_CLICKSTREAM_WAREHOUSE='postgresql://loader:<password>@warehouse.local:5432/analytics'

The bucket and the batch sizes are the DAG's params (the trigger form shows them).
"""

from __future__ import annotations

import contextlib
import datetime
import gzip
import hashlib
import json
import random

from airflow.sdk import Param, dag, get_current_context, task

from airflow_mesos.executor.task_config import mesos_executor_config

S3_CONN_ID = "clickstream_s3"
WAREHOUSE_CONN_ID = "clickstream_warehouse"
TABLE = "clickstream_events"

PAGES = ("/", "/pricing", "/docs", "/docs/install", "/blog", "/signup", "/login", "/account")
EVENT_TYPES = ("page", "page", "page", "track", "track", "identify")  # pages are the most common
SMALL = mesos_executor_config(cpus=0.25, mem=384)


def _s3_client():
    """A boto3 S3 client from the ``clickstream_s3`` connection (keys, region, endpoint_url from its extra)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=S3_CONN_ID).get_conn()


def _warehouse():
    """A psycopg2 connection to the ``clickstream_warehouse`` connection's database."""
    import psycopg2

    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(WAREHOUSE_CONN_ID)
    return contextlib.closing(psycopg2.connect(
        host=conn.host, port=conn.port or 5432, user=conn.login, password=conn.password,
        dbname=conn.schema or "postgres", connect_timeout=10))


@dag(
    dag_id="example_clickstream",
    schedule=None,
    start_date=datetime.datetime(2026, 1, 1),
    catchup=False,
    default_args={"retries": 1, "retry_delay": datetime.timedelta(seconds=10)},
    params={
        "bucket": Param("clickstream-archive", type="string", description="S3 bucket the batches are archived in"),
        "events": Param(600, type="integer", minimum=1, maximum=100_000, description="events to generate"),
        "batch_size": Param(150, type="integer", minimum=1, description="events per micro-batch"),
    },
    tags=["mesos", "example", "s3", "postgres"],
)
def example_clickstream():
    @task(executor_config=SMALL)
    def generate_events() -> list[dict]:
        """Simulate the stream: ``events`` click events over one minute, seeded by the run id."""
        context = get_current_context()
        params, run_id = context["params"], context["run_id"]
        rng = random.Random(run_id)
        start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
        users = [f"user-{rng.randrange(10_000):04d}" for _ in range(40)]
        events = []
        for n in range(params["events"]):
            at = start + datetime.timedelta(milliseconds=rng.randrange(60_000))
            events.append({
                "event_id": hashlib.sha1(f"{run_id}/{n}".encode()).hexdigest(),
                "type": rng.choice(EVENT_TYPES),
                "user_id": rng.choice(users),
                "page": rng.choice(PAGES),
                "sent_at": at.isoformat(),
            })
        print(f"generated {len(events)} events for {len(users)} users")
        return events

    @task(executor_config=SMALL)
    def make_batches(events: list[dict]) -> list[dict]:
        """Cut the events, in time order, into micro-batches of at most ``batch_size``."""
        ordered = sorted(events, key=lambda e: (e["sent_at"], e["event_id"]))
        size = get_current_context()["params"]["batch_size"]
        batches = [{"number": i // size, "events": ordered[i:i + size]} for i in range(0, len(ordered), size)]
        print(f"{len(ordered)} events in {len(batches)} micro-batches of at most {size}")
        return batches

    @task(executor_config=SMALL)
    def archive_batch(batch: dict) -> dict:
        """Archive one batch to S3 as gzipped JSON lines: ``s3://<bucket>/raw/run=<run id>/batch-<n>.jsonl.gz``."""
        context = get_current_context()
        bucket, run_id = context["params"]["bucket"], context["run_id"]
        client = _s3_client()
        try:
            client.head_bucket(Bucket=bucket)
        except client.exceptions.ClientError:
            client.create_bucket(Bucket=bucket)
            print(f"created bucket {bucket}")
        body = gzip.compress("".join(json.dumps(e, sort_keys=True) + "\n" for e in batch["events"]).encode())
        key = f"raw/run={run_id}/batch-{batch['number']:04d}.jsonl.gz"
        client.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/x-ndjson",
                          ContentEncoding="gzip")
        print(f"archived {len(batch['events'])} events to s3://{bucket}/{key} ({len(body)} bytes)")
        return {"bucket": bucket, "key": key, "events": len(batch["events"])}

    @task(executor_config=SMALL)
    def load_batches(archived: list[dict]) -> int:
        """Load the archived batches from S3 into the warehouse; loading a batch twice adds nothing."""
        run_id = get_current_context()["run_id"]
        client = _s3_client()
        rows = []
        for item in archived:
            body = client.get_object(Bucket=item["bucket"], Key=item["key"])["Body"].read()
            for line in gzip.decompress(body).decode().splitlines():
                e = json.loads(line)
                rows.append((e["event_id"], run_id, e["type"], e["user_id"], e["page"], e["sent_at"], item["key"]))
        from psycopg2.extras import execute_values

        with _warehouse() as connection, connection, connection.cursor() as cursor:  # one transaction
            cursor.execute(f"""
                CREATE TABLE IF NOT EXISTS {TABLE} (
                    event_id text PRIMARY KEY, run_id text NOT NULL, type text NOT NULL, user_id text NOT NULL,
                    page text NOT NULL, sent_at timestamptz NOT NULL, s3_key text NOT NULL)""")
            # RETURNING counts the new rows over all of execute_values' pages (rowcount is the last page's).
            inserted = len(execute_values(
                cursor, f"INSERT INTO {TABLE} VALUES %s ON CONFLICT (event_id) DO NOTHING RETURNING event_id", rows,
                fetch=True))
        print(f"loaded {len(rows)} events from {len(archived)} batches ({inserted} new rows in {TABLE})")
        return len(rows)

    @task(executor_config=SMALL)
    def report(loaded: int) -> dict:
        """What the dashboard would show: events per type for this run, straight from the warehouse."""
        run_id = get_current_context()["run_id"]
        with _warehouse() as connection, connection.cursor() as cursor:
            cursor.execute(f"SELECT type, count(*) FROM {TABLE} WHERE run_id = %s GROUP BY type ORDER BY type",
                           (run_id,))
            counts = dict(cursor.fetchall())
        print(f"run {run_id}: {loaded} events loaded; by type: {counts}")
        if sum(counts.values()) != loaded:
            raise ValueError(f"the warehouse holds {sum(counts.values())} events of run {run_id}, expected {loaded}")
        return counts

    events = generate_events()
    archived = archive_batch.expand(batch=make_batches(events))
    report(load_batches(archived))


example_clickstream()
