"""Benchmark: activation delivery throughput against independent local sinks, side by side with each sink's own
capacity (and, when given a drt-core venv, with drt-core against the same sink).

Two modes, each against a sink in its own process (so that its work does not compete with the client for the GIL):
- one-row: the generic webhook (one action per request, like Twilio, FCM and Slack) into the local webhook
  receiver of tests/local_apis (verifies the HMAC signature, deduplicates on Idempotency-Key), which answers at
  once (`--webhook-service-ms 0`). Target: >= 1,000 actions/s at one of the concurrency settings (the webhook's
  default is 4; its default rate limit of 20 requests/s is raised, as a config file would for such a receiver).
- batched: SendGrid mail send (batches of up to 1000 personalizations) into the local SendGrid server, which
  processes at most `--server-workers` requests at once, each taking `--service-ms` (a latency like a real batch
  API's). Target: >= 90% of the sink's capacity at a client concurrency of at least twice the server's workers
  (so that its queue never empties; with exactly as many requests in flight as it has workers, a worker idles
  during each round trip).
The sink's capacity is measured first by a bare load generator that is no project code: pre-built requests (each
with its own idempotency key), one keep-alive `http.client` connection per thread, nothing else.
Then the activation core sends due actions from a DuckDB warehouse *file* (the ledger commits to disk, as in
production) through the destination: ledger intent and result per group, JSON building, signing, retries and
rate limiter in the path, nothing skipped. Throughput = actions delivered / wall time of activate() (reading the
due rows, batching, ledger and all); the median of `--repeat` runs where a target applies. After every run the
sink's own log is checked: every action delivered, none twice.

With `--drt-python /path/to/venv/bin/python` (a venv with drt-core installed, never a project dependency), drt-core
sends the same actions from a DuckDB file to the same sinks (tests/benchmarks/drt_run.py): its rest_api
destination one row per request, and its sendgrid destination. Target: the core >= 3x drt-core in both modes.

Run with `make bench` or `.venv/bin/python tests/benchmarks/bench_activations.py` (see --help; `--quick` keeps it
to about a minute). Not collected by pytest. Exit 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from activations.destinations.sendgrid import SendGridDestination
from activations.destinations.webhook import WebhookDestination
from activations.limits import RetryPolicy
from activations.runner import activate
from tests.local_apis.base import Reply, Request
from tests.local_apis.sendgrid import SendGridApi
from tests.local_apis.webhook import WebhookReceiver

API_KEY = "SG.bench-key"
WEBHOOK_SECRET = "whsec-bench"
WEBHOOK_PATH = "/journeys"
BATCHED_TARGET = 0.90
ONE_ROW_TARGET = 1000.0
DRT_FACTOR = 3.0
DRT_SCRIPT = Path(__file__).with_name("drt_run.py")


class _BenchEndpoints:
    """Two bench-only endpoints on a local sink: GET /_stats (its counts), POST /_reset."""

    def process(self, request: Request) -> Reply:
        if request.path == "/_stats":
            return Reply.json(200, {**self.summary(), "duplicate_ids": len(self.duplicates())})
        return super().process(request)

    def _serve(self, handler, request: Request) -> None:
        if request.path in ("/_reset", "/_stats"):
            reply = Reply.json(200, {"reset": True}) if request.path == "/_reset" else self.process(request)
            if request.path == "/_reset":
                self.reset()
            self._write(handler, reply)
            return
        super()._serve(handler, request)


class BenchSendGridApi(_BenchEndpoints, SendGridApi):
    pass


class BenchWebhookReceiver(_BenchEndpoints, WebhookReceiver):
    """Also accepts a request with no signature header at all, for drt-core (which cannot sign a body); a request
    that carries one (the project's, the bare client's) is verified as usual."""

    def process(self, request: Request) -> Reply:
        if request.path == WEBHOOK_PATH and "x-journeys-signature" not in request.headers:
            return Reply.json(200, {"received": True}, delivered=[request.json()["id"]])
        return super().process(request)


class ServerProcess:
    """A sink in its own process."""

    def __init__(self, kind: str, service_ms: float, workers: int) -> None:
        command = [sys.executable, __file__, "--serve", kind, "--service-ms", str(service_ms)]
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


def serve(kind: str, service_ms: float, workers: int) -> int:
    settings = {"service_time_s": service_ms / 1000, "workers": workers or None}
    if kind == "sendgrid":
        api = BenchSendGridApi(API_KEY, **settings)
    else:
        api = BenchWebhookReceiver(WEBHOOK_SECRET, path=WEBHOOK_PATH, **settings)
    with api:
        print(api.url, flush=True)
        while True:
            time.sleep(3600)


def _hammer(api: ServerProcess, requests: list, threads: int, seconds: float, expected_status: int) -> float:
    """Requests per second a bare client gets answered, `threads` keep-alive connections, for `seconds` (or until
    the pre-built requests run out). Each thread sends its own slice of the requests, in order."""
    stop = time.monotonic() + seconds
    answered = [0] * threads

    def load(index: int) -> None:
        con = http.client.HTTPConnection(api.host, api.port, timeout=30)
        for request in requests[index::threads]:
            if time.monotonic() >= stop:
                break
            con.request(request.method, request.path, body=request.body, headers=request.headers)
            response = con.getresponse()
            response.read()
            assert response.status == expected_status, response.status
            answered[index] += 1
        con.close()

    started = time.monotonic()
    workers = [threading.Thread(target=load, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(answered) / (time.monotonic() - started)


def _webhook_rows(n: int) -> list[dict]:
    return [
        {
            "action_id": f"a{i:09d}",
            "customer_id": f"c{i}",
            "journey_id": "bench",
            "journey_version": 1,
            "node_id": "n1",
            "action_kind": "message",
            "channel": "webhook",
            "template": "crm_note",
            "payload_fields": '{"first_name": "P"}',
        }
        for i in range(n)
    ]


def webhook_capacity(api: ServerProcess, threads: int, seconds: float) -> float:
    destination = WebhookDestination("bench", {"path": WEBHOOK_PATH}, api.url)
    # distinct ids and keys, so that the receiver delivers each (a repeated key would be answered from its cache)
    requests = [destination.build_request([row]) for row in _webhook_rows(int(seconds * 20_000))]
    api.call("POST", "/_reset")
    return _hammer(api, requests, threads, seconds, 200)


def sendgrid_capacity(api: ServerProcess, batch: int, threads: int, seconds: float) -> float:
    destination = SendGridDestination("bench", {"from_email": "b@shop.example", "template_ids": {"t": "d-t"}}, api.url)
    rows = [
        {"action_id": f"a{i:09d}", "address": f"p{i}@example.com", "template": "t", "payload_fields": "{}"}
        for i in range(batch)
    ]
    request = destination.build_request(rows)  # SendGrid has no idempotency key: the same request may repeat
    requests = [request] * int(seconds * 1000)
    return _hammer(api, requests, threads, seconds, 202) * batch


def _warehouse(directory: Path, actions: int, batched: bool) -> Path:
    """A DuckDB warehouse file with `actions` due actions (the same table drt_run.py reads)."""
    path = directory / f"warehouse-{time.monotonic_ns()}.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("create schema bench")
        con.execute(
            f"""create table bench.actions as
            select printf('a%09d', i) as action_id, 'c' || i as customer_id, 'bench' as journey_id,
                   1 as journey_version, 'n1' as node_id, 'message' as action_kind, 'webhook' as channel,
                   {"'t'" if batched else "'crm_note'"} as template, 'p' || i || '@example.com' as address,
                   '{{"first_name": "P"}}'::json as payload_fields
            from range({actions}) t(i)"""
        )
    return path


def run_core(
    api: ServerProcess, mode: str, warehouse: Path, batch: int, concurrency: int, group: int | None = None
) -> tuple[float, int, int]:
    settings = {
        **({"ledger_group_size": group} if group else {}),
        "max_concurrency": concurrency,
        "requests_per_second": 1e6,  # the sink has no rate limit: measure the core, not the token bucket
        "burst": 1000,
        "timeout_s": 30,
    }
    if mode == "batched":
        settings.update({"from_email": "b@shop.example", "template_ids": {"t": "d-t"}, "max_batch_size": batch})
        destination = SendGridDestination("bench", settings, api.url)
    else:
        destination = WebhookDestination("bench", {**settings, "path": WEBHOOK_PATH}, api.url)
    with duckdb.connect(str(warehouse)) as con:
        started = time.monotonic()
        report = activate(con, destination, "bench.actions", "bench", retry=RetryPolicy(base_s=0.01))
        seconds = time.monotonic() - started
        actions = con.execute("select count(*) from bench.actions").fetchone()[0]
    assert report.sent == actions, report
    return actions / seconds, report.requests, actions


def run_drt(drt_python: str, api: ServerProcess, mode: str, warehouse: Path, batch: int, workdir: Path) -> float:
    command = [drt_python, str(DRT_SCRIPT), "--mode", mode, "--warehouse", str(warehouse), "--url", api.url]
    command += ["--batch", str(batch), "--workdir", str(workdir), "--api-key", API_KEY, "--path", WEBHOOK_PATH]
    command += ["--secret", WEBHOOK_SECRET]
    out = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError(f"drt_run.py failed ({out.returncode}): {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])["rows_per_s"]


def _checked(api: ServerProcess, actions: int) -> dict:
    stats = api.call("GET", "/_stats")
    assert stats["delivered_actions"] == actions and not stats["duplicate_ids"], stats
    return stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modes", default="one-row,batched")
    parser.add_argument("--webhook-service-ms", type=float, default=0.0, help="one-row sink's time per request")
    parser.add_argument("--webhook-actions", type=int, default=20_000, help="actions per one-row core run")
    parser.add_argument("--webhook-concurrency", default="1,4,8")
    parser.add_argument(
        "--capacity-threads", default="4,8,16", help="bare client threads on the one-row sink (the best counts)"
    )
    parser.add_argument("--service-ms", type=float, default=200.0, help="batched sink's time per request")
    parser.add_argument("--server-workers", type=int, default=4, help="batched sink's requests at once")
    parser.add_argument("--batches", default="100,1000")
    parser.add_argument("--concurrency", default="4,8,16", help="batched core concurrency settings")
    parser.add_argument("--seconds", type=float, default=3.0, help="capacity measurement length")
    parser.add_argument("--requests-per-run", type=int, default=100, help="batched core run length, in full batches")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per setting a target applies to; the median is reported"
    )
    parser.add_argument("--ledger-group-size", type=int, default=None, help="default: the core's")
    parser.add_argument("--drt-python", default=None, help="python of a venv with drt-core, for the comparison")
    parser.add_argument("--quick", action="store_true", help="short runs: 5,000 one-row actions, 1 repeat")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    parser.add_argument("--serve", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    os.environ["SENDGRID_API_KEY"] = API_KEY
    os.environ["JOURNEYS_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    if args.serve:
        return serve(args.serve, args.service_ms, args.server_workers)
    if args.quick:
        args.webhook_actions, args.repeat, args.seconds = 5_000, 1, 2.0
        args.batches, args.concurrency, args.requests_per_run = "1000", "8", 30

    modes = args.modes.split(",")
    results, failures = [], []
    print(f"load average at start: {os.getloadavg()[0]:.1f} ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="bench-activations-") as tmp:
        tmp_dir = Path(tmp)
        if "one-row" in modes:
            _one_row(args, tmp_dir, results, failures)
        if "batched" in modes:
            _batched(args, tmp_dir, results, failures)
    print()
    print(
        f"{'mode':<8} {'batch':>5} {'conc':>4} {'sink capacity/s':>15} {'core/s':>8} {'share':>6} {'drt/s':>7} "
        f"{'core/drt':>8}  target"
    )
    for r in results:
        drt = r.get("drt_actions_per_s")
        ratio = f"{r['core_actions_per_s'] / drt:>7.1f}x" if drt else f"{'-':>8}"
        print(
            f"{r['mode']:<8} {r['batch_size']:>5} {r['concurrency']:>4} {r['sink_capacity_actions_per_s']:>15,} "
            f"{r['core_actions_per_s']:>8,} {r['share_of_capacity']:>6.0%} {drt or '-':>7} {ratio}  {r['verdict']}"
        )
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    print(f"targets: {'met' if not failures else f'NOT met in {len(failures)} settings'}")
    return 1 if failures else 0


def _one_row(args, tmp_dir: Path, results: list, failures: list) -> None:
    api = ServerProcess("webhook", args.webhook_service_ms, 0)
    try:
        by_threads = {int(t): webhook_capacity(api, int(t), args.seconds) for t in args.capacity_threads.split(",")}
        capacity = max(by_threads.values())
        print(
            f"one-row: local webhook receiver ({args.webhook_service_ms:g} ms per request), bare client: "
            + ", ".join(f"{t} threads {c:,.0f}/s" for t, c in by_threads.items())
        )
        drt = None
        if args.drt_python:
            api.call("POST", "/_reset")
            warehouse = _warehouse(tmp_dir, args.webhook_actions, batched=False)
            drt = run_drt(args.drt_python, api, "one-row", warehouse, 1, tmp_dir)
            _checked(api, args.webhook_actions)
            print(f"one-row: drt-core rest_api, one row per request: {drt:,.0f} rows/s")
        for concurrency in [int(c) for c in args.webhook_concurrency.split(",")]:
            runs = []
            for _ in range(args.repeat):
                api.call("POST", "/_reset")
                warehouse = _warehouse(tmp_dir, args.webhook_actions, batched=False)
                throughput, requests, actions = run_core(
                    api, "one-row", warehouse, 1, concurrency, args.ledger_group_size
                )
                _checked(api, actions)
                runs.append(throughput)
            throughput = statistics.median(runs)
            ok = throughput >= ONE_ROW_TARGET and (drt is None or throughput >= DRT_FACTOR * drt)
            verdict = "ok" if ok else "BELOW TARGET"
            row = _result("one-row", 1, concurrency, capacity, throughput, runs, requests, drt, verdict)
            results.append(row)
            print(f"one-row: concurrency {concurrency}: {throughput:,.0f} actions/s (runs {row['core_runs']})")
        if not any(r["verdict"] == "ok" for r in results if r["mode"] == "one-row"):
            failures.append("one-row")
    finally:
        api.stop()


def _batched(args, tmp_dir: Path, results: list, failures: list) -> None:
    api = ServerProcess("sendgrid", args.service_ms, args.server_workers)
    try:
        print(f"batched: local SendGrid server: {args.server_workers} workers x {args.service_ms:g} ms per request")
        for batch in [int(b) for b in args.batches.split(",")]:
            capacity = sendgrid_capacity(api, batch, threads=args.server_workers * 2, seconds=args.seconds)
            actions = batch * args.requests_per_run
            drt = None
            if args.drt_python:
                api.call("POST", "/_reset")
                warehouse = _warehouse(tmp_dir, actions, batched=True)
                drt = run_drt(args.drt_python, api, "batched", warehouse, batch, tmp_dir)
                _checked(api, actions)
                print(f"batched: batch {batch}: drt-core rest_api, body_mode batch: {drt:,.0f} rows/s")
            for concurrency in [int(c) for c in args.concurrency.split(",")]:
                applies = concurrency >= 2 * args.server_workers
                runs = []
                for _ in range(args.repeat if applies else 1):
                    api.call("POST", "/_reset")
                    warehouse = _warehouse(tmp_dir, actions, batched=True)
                    throughput, requests, _ = run_core(
                        api, "batched", warehouse, batch, concurrency, args.ledger_group_size
                    )
                    _checked(api, actions)
                    runs.append(throughput)
                throughput = statistics.median(runs)
                ok = throughput >= BATCHED_TARGET * capacity and (drt is None or throughput >= DRT_FACTOR * drt)
                verdict = ("ok" if ok else "BELOW TARGET") if applies else "n/a (conc < 2 x sink workers)"
                row = _result("batched", batch, concurrency, capacity, throughput, runs, requests, drt, verdict)
                results.append(row)
                print(
                    f"batched: batch {batch}, concurrency {concurrency}: {throughput:,.0f} actions/s of {capacity:,.0f}"
                )
                if applies and not ok:
                    failures.append(row)
    finally:
        api.stop()


def _result(mode, batch, concurrency, capacity, throughput, runs, requests, drt, verdict) -> dict:
    return {
        "mode": mode,
        "batch_size": batch,
        "concurrency": concurrency,
        "sink_capacity_actions_per_s": round(capacity),
        "core_actions_per_s": round(throughput),
        "core_runs": [round(r) for r in runs],
        "share_of_capacity": round(throughput / capacity, 3),
        "requests": requests,
        "drt_actions_per_s": round(drt) if drt else None,
        "verdict": verdict,
    }


if __name__ == "__main__":
    sys.exit(main())
