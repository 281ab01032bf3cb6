"""dbt as the tests run it: a real `dbt` subprocess on a test's own warehouse, with the run's settings passed as
Dagster passes them (environment variables, orchestration.dbt_args.dbt_run_env), and dbt's partial parsing
shared by every test.

dbt re-parses the whole project (several seconds) whenever the command line's vars or the profile's connection
settings differ from those of its saved parse. So the warehouse is named by a path relative to its own folder
(dbt runs there, with --project-dir), which makes the profile the same for every test, and a test's first dbt
call starts from the newest parse any test saved (PARSE_CACHE). dbt checks a saved parse itself and re-parses
whatever it does not match: sharing it changes speed, never results.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from orchestration.dbt_args import dbt_run_env
from orchestration.settings import DBT_PROJECT_DIR

DBT = Path(sys.executable).parent / "dbt"
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
    timeout: int = 600,
) -> subprocess.CompletedProcess:
    """`dbt <args>` on `warehouse`, artifacts in `target`. as_of, run_id, journeys: the run's settings (as a
    Dagster run passes them); variables: other dbt vars, on the command line (they cost a full parse)."""
    target.mkdir(parents=True, exist_ok=True)
    if not (target / PARTIAL_PARSE).exists() and PARSE_CACHE.exists():
        shutil.copyfile(PARSE_CACHE, target / PARTIAL_PARSE)
    command = [str(DBT), *args, "--project-dir", str(DBT_PROJECT_DIR), "--target-path", str(target)]
    if variables:
        command += ["--vars", json.dumps(dict(variables), sort_keys=True)]
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "JOURNEYS_WAREHOUSE_PATH": warehouse.name,
        **dbt_run_env(as_of or "", run_id, journeys),
    }
    completed = subprocess.run(command, cwd=warehouse.parent, env=env, capture_output=True, text=True, timeout=timeout)
    if not variables and (target / PARTIAL_PARSE).exists():
        # publish atomically: another test worker may be copying the cache at this moment
        staged = PARSE_CACHE.with_name(f"{PARSE_CACHE.name}.{os.getpid()}")
        shutil.copyfile(target / PARTIAL_PARSE, staged)
        os.replace(staged, PARSE_CACHE)
    return completed
