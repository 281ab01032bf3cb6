"""Benchmark: activation throughput into a local batch API (the SendGrid mail send server of tests/local_apis)
against that server's own measured capacity, at several concurrency and batch settings.

The server has a capacity: at most `--server-workers` requests processed at once, each taking `--service-ms`
(a latency like a real batch API's), whatever the batch size up to 1000. Its capacity is measured first with a
bare load generator (pre-built requests, one keep-alive connection per thread, nothing else), per batch size.
Then the activation core sends `--actions` due actions from a DuckDB table through the SendGrid destination:
ledger intent and result per batch, JSON building, retries and rate limiter in the path, nothing skipped.
Throughput = actions delivered / wall time of activate() (reading the due rows, batching, ledger and all),
the median of `--repeat` runs per setting.
Target: >= 90% of the capacity at the client concurrency the capacity was measured with (twice the server's
workers, so that its queue never empties) and above. Below that, the figures show what concurrency buys; a client
with exactly as many requests in flight as the server has workers leaves a worker idle during each round trip.
Exit 1 when a setting the target applies to misses it.

Run with `make bench` or `.venv/bin/python tests/benchmarks/bench_activations.py`. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from activations.destinations.sendgrid import SendGridDestination
from activations.limits import RetryPolicy
from activations.runner import activate
from tests.local_apis.base import Reply, Request
from tests.local_apis.sendgrid import SendGridApi

API_KEY = "SG.bench-key"
TARGET = 0.90


class BenchSendGridApi(SendGridApi):
    """The local SendGrid server plus two bench-only endpoints: GET /_stats (its counts), POST /_reset."""

    def process(self, request: Request) -> Reply:
        if request.path == "/_stats":
            return Reply.json(200, {**self.summary(), "duplicate_ids": len(self.duplicates())})
        return super().process(request)

    def _serve(self, handler, request: Request) -> None:
        if request.path == "/_reset":
            self.reset()
            self._write(handler, Reply.json(200, {"reset": True}))
            return
        super()._serve(handler, request)


class ServerProcess:
    """The server runs in its own process, so its work does not compete with the client for the GIL."""

    def __init__(self, service_ms: float, workers: int) -> None:
        command = [sys.executable, __file__, "--serve", "--service-ms", str(service_ms)]
        command += ["--server-workers", str(workers)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[2])
        self.url = self.process.stdout.readline().strip()
        host, port = self.url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)

    def call(self, method: str, path: str) -> dict:
        con = http.client.HTTPConnection(self.host, self.port, timeout=30)
        con.request(method, path, body=b"")
        body = json.loads(con.getresponse().read())
        con.close()
        return body

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def serve(service_ms: float, workers: int) -> int:
    with BenchSendGridApi(API_KEY, service_time_s=service_ms / 1000, workers=workers) as api:
        print(api.url, flush=True)
        while True:
            time.sleep(3600)


def _rows(n: int, start: int = 0) -> list[dict]:
    return [{"action_id": f"a{start + i:09d}", "address": f"p{start + i}@example.com"} for i in range(n)]


def measure_capacity(api: ServerProcess, batch: int, threads: int, seconds: float) -> float:
    """Actions per second the server accepts from a bare client at saturation."""
    destination = SendGridDestination("bench", {"from_email": "b@shop.example", "template_ids": {"t": "d-t"}}, api.url)
    rows = [{**r, "template": "t", "payload_fields": "{}"} for r in _rows(batch)]
    request = destination.build_request(rows)
    host, port = api.url.removeprefix("http://").split(":")
    stop = time.monotonic() + seconds
    delivered = [0] * threads

    def load(index: int) -> None:
        con = http.client.HTTPConnection(host, int(port), timeout=30)
        while time.monotonic() < stop:
            con.request(request.method, request.path, body=request.body, headers=request.headers)
            response = con.getresponse()
            response.read()
            assert response.status == 202, response.status
            delivered[index] += batch
        con.close()

    started = time.monotonic()
    workers = [threading.Thread(target=load, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(delivered) / (time.monotonic() - started)


def run_core(api: ServerProcess, batch: int, concurrency: int, actions: int) -> tuple[float, int]:
    con = duckdb.connect()
    con.execute("create schema bench")
    con.execute(
        f"""create table bench.actions as
        select printf('a%09d', i) as action_id, 'p' || i || '@example.com' as address, 't' as template,
               '{{"first_name": "P"}}'::json as payload_fields
        from range({actions}) t(i)"""
    )
    settings = {
        "from_email": "b@shop.example",
        "template_ids": {"t": "d-t"},
        "max_batch_size": batch,
        "max_concurrency": concurrency,
        "requests_per_second": 1e6,
        "burst": 1000,
        "timeout_s": 30,
    }
    destination = SendGridDestination("bench", settings, api.url)
    started = time.monotonic()
    report = activate(con, destination, "bench.actions", "bench", retry=RetryPolicy(base_s=0.01))
    seconds = time.monotonic() - started
    assert report.sent == actions, report
    return actions / seconds, report.requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--service-ms", type=float, default=200.0)
    parser.add_argument("--server-workers", type=int, default=4)
    parser.add_argument("--batches", default="100,500,1000")
    parser.add_argument("--concurrency", default="1,2,4,8,16")
    parser.add_argument("--seconds", type=float, default=3.0, help="capacity measurement length")
    parser.add_argument("--requests-per-run", type=int, default=40, help="core run length, in full batches")
    parser.add_argument("--repeat", type=int, default=3, help="runs per setting; the median is reported")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ["SENDGRID_API_KEY"] = API_KEY
    if args.serve:
        return serve(args.service_ms, args.server_workers)

    results, failures = [], []
    api = ServerProcess(args.service_ms, args.server_workers)
    try:
        print(f"local SendGrid server: {args.server_workers} workers x {args.service_ms:.0f} ms per request")
        load = os.getloadavg()[0]
        print(
            f"each core figure: median of {args.repeat} runs of {args.requests_per_run} full batches; load {load:.1f}"
        )
        print(f"{'batch':>6} {'capacity/s':>11} {'conc':>5} {'core/s':>9} {'share':>6}  requests")
        for batch in [int(b) for b in args.batches.split(",")]:
            capacity = measure_capacity(api, batch, threads=args.server_workers * 2, seconds=args.seconds)
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                runs = []
                for _ in range(args.repeat):
                    api.call("POST", "/_reset")
                    throughput, requests = run_core(api, batch, concurrency, actions=batch * args.requests_per_run)
                    stats = api.call("GET", "/_stats")
                    assert stats["delivered_actions"] == batch * args.requests_per_run and not stats["duplicate_ids"]
                    runs.append(throughput)
                throughput = statistics.median(runs)
                share = throughput / capacity
                expected = concurrency >= 2 * args.server_workers
                results.append(
                    {
                        "batch_size": batch,
                        "concurrency": concurrency,
                        "server_capacity_actions_per_s": round(capacity),
                        "core_actions_per_s": round(throughput),
                        "core_runs_actions_per_s": [round(r) for r in runs],
                        "share_of_capacity": round(share, 3),
                        "target_applies": expected,
                        "requests": requests,
                        "server_delivered": stats["delivered_actions"],
                        "duplicates": stats["duplicate_ids"],
                    }
                )
                flag = "" if not expected else ("  ok" if share >= TARGET else "  BELOW TARGET")
                figures = f"{batch:>6} {capacity:>11,.0f} {concurrency:>5} {throughput:>9,.0f} {share:>6.0%}"
                print(f"{figures}  {requests}{flag}")
                if expected and share < TARGET:
                    failures.append(results[-1])
    finally:
        api.stop()
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(
        f"target: >= {TARGET:.0%} of the measured capacity where the core's concurrency >= 2 x the server's workers; "
        f"{'met' if not failures else f'NOT met in {len(failures)} settings'}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
