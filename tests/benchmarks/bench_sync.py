"""Benchmark: diff sync of contacts into the local HubSpot server and of members into the local Meta server.

Measures records per second for a first full sync (every record new), a re-run with nothing changed (the
diff alone: zero requests) and a run where 10 % of the customers changed. The servers answer without faults;
the client's rate limit is lifted so the figure is the sync's own throughput (against the live APIs the
documented rate limits bound it: HubSpot 100-190 requests per 10 s, 100 records each).

    .venv/bin/python tests/benchmarks/bench_sync.py --customers 20000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from activations.destinations.hubspot import HubSpotDestination
from activations.destinations.meta_audiences import MetaAudiencesDestination
from activations.sync_transport import JsonHttpClient
from tests.local_apis.hubspot import HubSpotApi
from tests.local_apis.meta import MetaApi
from tests.test_activation_sync import AUDIENCE, AUDIENCE_ID, Warehouse


def _fill(wh: Warehouse, customers: int) -> None:
    at = datetime(2026, 11, 1, 9, 0)
    wh.con.execute(
        """insert into identity.customers
           select 'c' || i, 'person' || i || '@example.com', '+4477' || lpad(i::varchar, 8, '0'), 'Name' || i, 'GB',
               100.0
           from range(?) as t(i)""",
        [customers],
    )
    wh.con.execute(
        "insert into journeys.journey_enrollments select 'enr_c' || i, 'active' from range(?) t(i)", [customers]
    )
    contact = json.dumps(
        {
            "kind": "crm",
            "operation": "upsert_contact",
            "properties": {"lifecycle_stage": "customer"},
            "fields": ["email", "first_name"],
        }
    )
    member = json.dumps({"kind": "audience", "operation": "add", "audience": AUDIENCE})
    for node, kind, config in (("crm_contact", "crm", contact), ("add", "audience", member)):
        wh.con.execute(
            f"""insert into journeys.journey_actions
                select 'act_c' || i || '_{node}', 'enr_c' || i, 'j', 'c' || i, '{node}', '{kind}', ?, ?
                from range(?) t(i)""",
            [config, at, customers],
        )
    wh.con.execute("insert into policy.policy_decisions select action_id, 1, 'due' from journeys.journey_actions")


def _timed(label: str, wh: Warehouse, destination, records: int) -> dict:
    started = time.perf_counter()
    report = wh.sync(destination)
    elapsed = time.perf_counter() - started
    figures = {
        "run": label,
        "destination": destination.name,
        "records_written": sum(report.written.values()),
        "requests": report.requests,
        "seconds": round(elapsed, 2),
        "records_per_s": round(records / elapsed) if records else None,
    }
    print(json.dumps(figures))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    with HubSpotApi() as hs_api, MetaApi(audience_ids=(AUDIENCE_ID,)) as meta_api:
        hubspot = HubSpotDestination(
            "pat-test-token",
            client=JsonHttpClient(
                hs_api.url,
                {"Authorization": "Bearer pat-test-token"},
                requests_per_second=1e6,
                burst=1000,
                rng=random.Random(0),
            ),
        )
        meta = MetaAudiencesDestination(
            "EAAtesttoken",
            {AUDIENCE: AUDIENCE_ID},
            client=JsonHttpClient(
                meta_api.url,
                {"Authorization": "Bearer EAAtesttoken"},
                requests_per_second=1e6,
                burst=1000,
                rng=random.Random(0),
            ),
        )
        wh = Warehouse()
        _fill(wh, args.customers)
        for destination in (hubspot, meta):
            _timed("first sync", wh, destination, args.customers)
            _timed("nothing changed", wh, destination, args.customers)
        wh.con.execute(
            "update identity.customers set first_name = 'Changed', email = 'new.' || email "
            "where hash(customer_id) % 10 = 0"
        )
        for destination in (hubspot, meta):
            _timed("10% changed", wh, destination, args.customers)
        assert len(hs_api.contacts) == args.customers
        assert len(meta_api.members[AUDIENCE_ID]) == args.customers


if __name__ == "__main__":
    main()
