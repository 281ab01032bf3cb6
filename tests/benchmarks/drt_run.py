"""drt-core against the activation bench's local sinks, for the comparison in bench_activations.py.

Run by bench_activations.py with the python of a separate venv that has drt-core installed (`--drt-python`);
drt-core is never a dependency of this project, and this file imports nothing from it or from the project: it
writes a drt project (drt_project.yml, syncs/bench.yml, and profiles.yml under a throwaway HOME) that reads the
bench's DuckDB table, runs `drt run` in a subprocess, and prints the rows, the wall time, the sync's own duration
as drt reports it (without its process start) and rows per second of the latter.

one-row: drt's rest_api destination, one JSON body per row (body_mode record; the webhook receiver's body, the
action_id as Idempotency-Key), to the local webhook receiver. drt cannot sign the body, so the bench's receiver
accepts a request that carries no signature header at all (the project's requests are still verified).
batched: drt's rest_api destination in body_mode batch, a SendGrid mail-send body of `--batch` personalizations
per request, to the local SendGrid server. (drt's own `sendgrid` destination sends one email per request to the
live api.sendgrid.com, which a local sink cannot stand in for.)
drt's rate limit is raised to 1e6 requests/s and its sync batch_size to 1000, so that neither paces it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ONE_ROW_BODY = (
    '{"id": "{{ row.action_id }}", "type": "journey.action", "data": {"customer_id": "{{ row.customer_id }}", '
    '"journey_id": "{{ row.journey_id }}", "journey_version": {{ row.journey_version }}, '
    '"node_id": "{{ row.node_id }}", "action_kind": "{{ row.action_kind }}", "channel": "{{ row.channel }}", '
    '"template": "{{ row.template }}", "fields": {{ row.payload_fields }}}}'
)
BATCH_BODY = (
    '{"from": {"email": "b@shop.example"}, "template_id": "d-t", "personalizations": ['
    "{% for row in rows %}"
    '{"to": [{"email": "{{ row.address }}"}], "dynamic_template_data": {{ row.payload_fields }}, '
    '"custom_args": {"action_id": "{{ row.action_id }}"}}{% if not loop.last %},{% endif %}'
    "{% endfor %}]}"
)


def _yaml(value) -> str:
    return json.dumps(value, indent=1)  # JSON is YAML


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", choices=["one-row", "batched"], required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--path", default="/journeys")
    parser.add_argument("--secret", default="")
    args = parser.parse_args()

    project = Path(args.workdir) / f"drt-{args.mode}-{time.monotonic_ns()}"
    home = project / "home"
    (project / "syncs").mkdir(parents=True)
    (home / ".drt").mkdir(parents=True)
    (home / ".drt" / "profiles.yml").write_text(_yaml({"bench": {"type": "duckdb", "database": args.warehouse}}))
    (project / "drt_project.yml").write_text(_yaml({"name": "bench", "version": "0.1", "profile": "bench"}))
    if args.mode == "one-row":
        destination = {
            "type": "rest_api",
            "url": args.url + args.path,
            "method": "POST",
            "headers": {"Content-Type": "application/json"},
            "body_mode": "record",
            "body_template": ONE_ROW_BODY,
            "native_idempotency_key": "{{ row.action_id }}",
        }
    else:
        destination = {
            "type": "rest_api",
            "url": args.url + "/v3/mail/send",
            "method": "POST",
            "headers": {"Content-Type": "application/json", "Authorization": f"Bearer {args.api_key}"},
            "body_mode": "batch",
            "batch_template": BATCH_BODY,
            "max_records_per_request": args.batch,
        }
    sync = {
        "name": "bench",
        "model": "select * from bench.actions order by action_id",
        "destination": destination,
        "sync": {"mode": "full", "batch_size": 1000, "rate_limit": {"requests_per_second": 1e6}},
    }
    (project / "syncs" / "bench.yml").write_text(_yaml(sync))
    rows = int(
        subprocess.run(
            [
                sys.executable,
                "-c",
                f"import duckdb; print(duckdb.connect({args.warehouse!r}, read_only=True)"
                ".execute('select count(*) from bench.actions').fetchone()[0])",
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    drt = str(Path(sys.executable).with_name("drt"))
    env = {**os.environ, "HOME": str(home), "DO_NOT_TRACK": "1"}
    started = time.monotonic()
    out = subprocess.run([drt, "run"], cwd=project, env=env, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
        return out.returncode
    # drt prints the sync's own duration ("✓ 20000 synced  (57.3s)"): without its process start, like the core's
    # figure (activate() alone); the wall time is kept beside it
    reported = re.search(r"(\d+) synced\s+\((\d+(?:\.\d+)?)s\)", out.stdout)
    if not reported or int(reported.group(1)) != rows:
        sys.stderr.write(f"drt did not report {rows} rows synced:\n{out.stdout[-3000:]}")
        return 1
    sync_seconds = float(reported.group(2))
    print(
        json.dumps(
            {
                "rows": rows,
                "wall_seconds": round(seconds, 3),
                "sync_seconds": sync_seconds,
                "rows_per_s": rows / sync_seconds,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
