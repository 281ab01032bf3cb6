"""dbt as the tests run it: a real `dbt` subprocess on a test's own warehouse, with the run's settings passed as
Dagster passes them (environment variables, orchestration.dbt_args.dbt_run_env), and dbt's partial parsing
shared by every test.

dbt re-parses the whole project (several seconds) whenever the command line's vars or the profile's connection
settings differ from those of its saved parse. So the warehouse is named by a path relative to its own folder
(dbt runs there, with --project-dir), which makes the profile the same for every test, and a test's first dbt
call starts from the newest parse any test saved (PARSE_CACHE). dbt checks a saved parse itself and re-parses
whatever it does not match: sharing it changes speed, never results.

dbt runs in the test's own process (dbt's programmatic entry point, dbtRunner), not as a subprocess: a `dbt`
process spends about 3.5 s importing dbt and its adapter before it reads the project (measured 2026-12-03 on a
policy build whose nodes took 3.9 s of an 11 s call), and a test worker pays that once instead of once per call.
It is the same dbt on the same command line: the working directory and environment are those the subprocess had,
set for the call and restored after it, and dbt's console log is captured as the subprocess's stdout was. The
DuckDB adapter keeps its database open between invocations of one process (a class attribute of its connection
manager, keyed by the profile, which names every test's warehouse `warehouse.duckdb` relative to its folder), so
it is closed after each call: the next call, on another test's warehouse, opens its own, and the test can open the
file at once. Calls are not time-limited here (a subprocess was, by its timeout).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestration.dbt_args import dbt_run_env, environment_with
from orchestration.settings import DBT_PROJECT_DIR

PARSE_CACHE = DBT_PROJECT_DIR / "target" / "tests_partial_parse.msgpack"
PARTIAL_PARSE = "partial_parse.msgpack"


def run_dbt(
    args: Sequence[str],
    warehouse: Path,
    target: Path,
    *,
    as_of: str | None = None,
    run_id: str = "tests",
    journeys: Sequence[str] = (),
    variables: Mapping | None = None,
) -> subprocess.CompletedProcess:
    """`dbt <args>` on `warehouse`, artifacts in `target`. as_of, run_id, journeys: the run's settings (as a
    Dagster run passes them); variables: other dbt vars, on the command line (they cost a full parse). The result
    has the exit code `dbt` would have had (0 success, 1 failed nodes or tests, 2 an error) and its console log."""
    target.mkdir(parents=True, exist_ok=True)
    if not (target / PARTIAL_PARSE).exists() and PARSE_CACHE.exists():
        shutil.copyfile(PARSE_CACHE, target / PARTIAL_PARSE)
    command = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)]
    if variables:
        command += ["--vars", json.dumps(dict(variables), sort_keys=True)]
    env = {
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "JOURNEYS_WAREHOUSE_PATH": warehouse.name,
        **dbt_run_env(as_of or "", run_id, journeys),
    }
    returncode, log = _invoke(command, warehouse.parent, env)
    if not variables and (target / PARTIAL_PARSE).exists():
        # publish atomically: another test worker may be copying the cache at this moment
        staged = PARSE_CACHE.with_name(f"{PARSE_CACHE.name}.{os.getpid()}")
        shutil.copyfile(target / PARTIAL_PARSE, staged)
        os.replace(staged, PARSE_CACHE)
    return subprocess.CompletedProcess(["dbt", *command], returncode, log, "")


def _invoke(command: list[str], cwd: Path, env: Mapping[str, str]) -> tuple[int, str]:
    """dbt in this process, in `cwd` with `env` added to the environment; its exit code and console log."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner
    from dbt_common.events.functions import capture_stdout_logs, stop_capture_stdout_logs

    log = io.StringIO()
    with contextlib.chdir(cwd), environment_with(env):
        capture_stdout_logs(log)
        try:
            result = dbtRunner().invoke(command)
        finally:
            stop_capture_stdout_logs()
            with DuckDBConnectionManager._LOCK:
                if DuckDBConnectionManager._ENV is not None:
                    DuckDBConnectionManager._ENV.close()
                    DuckDBConnectionManager._ENV = None
    if result.exception is not None:
        log.write(f"\n{type(result.exception).__name__}: {result.exception}\n")
        return 2, log.getvalue()
    return (0 if result.success else 1), log.getvalue()
