"""The frames the Great Expectations suites validate, computed in DuckDB (vectorised, only what a suite needs).

- raw_batch_profile: one row per raw table of the latest landed batch (shares of missing keys, future times,
  unknown channels and consent states; missing columns; rows). Scans only the batch's rows.
- identity_distribution: the distinct (identifiers, shop accounts) counts per resolved customer.
- actions_due_frame: one row per due action, with permission and quiet hours recomputed here from
  consent_history, the suppression list, erasure requests and dbt_project.yml's policy__* vars, independently
  of the policy models that decided them.
"""

from __future__ import annotations

from functools import cache

import duckdb
import pandas as pd
import yaml

from orchestration.landing import RAW_TABLES
from orchestration.settings import DBT_PROJECT_DIR, paths_from_env
from sample_business.schema import SCHEMAS

CHANNELS = ("email", "sms", "push", "in_app", "webhook")
CONSENT_STATES = ("opted_in", "opted_out", "pending_confirmation")
# tables whose `channel` is a message channel (support_tickets.channel is how a ticket came in: another vocabulary)
MESSAGE_CHANNEL_TABLES = ("consent_events", "message_engagement")


@cache
def dbt_vars() -> dict:
    """The vars in dbt_project.yml: the same settings the policy models read."""
    return yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())["vars"]


def _sql_list(values) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in values)


def _columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    rows = con.execute(
        "select column_name from information_schema.columns where table_schema = ? and table_name = ? "
        "order by ordinal_position",
        [schema, table],
    ).fetchall()
    return [name for (name,) in rows]


def _event_time_column(table: str, columns: list[str]) -> str | None:
    documented = SCHEMAS[table].names if table in SCHEMAS else columns
    return next((c for c in documented if c.endswith("_at") and c != "received_at" and c in columns), None)


def _share(count: int | None, rows: int) -> float | None:
    """count / rows; None when the table has no such column; 0 for an empty batch."""
    if count is None:
        return None
    return count / rows if rows else 0.0


def latest_batch(con: duckdb.DuckDBPyConnection):
    """The load time of the latest landing that landed files (one per landing run), or None."""
    if "_landed_files" not in {
        t
        for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'raw'"
        ).fetchall()
    }:
        return None
    return con.execute("select max(landed_at) from raw._landed_files").fetchone()[0]


def raw_batch_profile(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, object]:
    """(one row per raw table with rows in the latest batch, that batch's load time)."""
    loaded_at = latest_batch(con)
    frames = []
    if loaded_at is None:
        return pd.DataFrame(), None
    skew = int(dbt_vars()["journeys__max_future_skew_hours"])
    files = con.execute(
        "select table_name, source_file from raw._landed_files where landed_at = ?", [loaded_at]
    ).fetchall()
    for table in RAW_TABLES:
        table_files = [f for t, f in files if t == table]
        if not table_files:
            continue
        columns = _columns(con, "raw", table)
        key = SCHEMAS[table].names[0] if table in SCHEMAS else columns[0]
        event_time = _event_time_column(table, columns)
        # an event time after its receipt, or a receipt after the row landed (a sender's clock in the future)
        late_clock = f"interval '{skew} hours'"
        future = (
            " or ".join(
                [
                    *([f"{event_time} > coalesce(received_at, _loaded_at) + {late_clock}"] if event_time else []),
                    *([f"received_at > _loaded_at + {late_clock}"] if "received_at" in columns else []),
                ]
            )
            or "false"
        )
        unknown_channel = (
            f"coalesce(channel not in ({_sql_list(CHANNELS)}), true)" if table in MESSAGE_CHANNEL_TABLES else None
        )
        unknown_state = (
            f"coalesce(status not in ({_sql_list(CONSENT_STATES)}), true)" if table == "consent_events" else None
        )
        (rows, missing_key, future_times, bad_channel, bad_state) = con.execute(
            f"""
            select
                count(*),
                count(*) filter (where {key} is null),
                count(*) filter (where {future}),
                {f"count(*) filter (where {unknown_channel})" if unknown_channel else "null"},
                {f"count(*) filter (where {unknown_state})" if unknown_state else "null"}
            from raw.{table}
            where _loaded_at = ?
            """,
            [loaded_at],
        ).fetchone()
        # schema: the columns each file of the batch has (Parquet metadata only), against the documented ones
        missing = 0
        if table in SCHEMAS:
            data_dir = paths_from_env().data_dir
            for source_file in table_files:
                path = data_dir / source_file
                if path.exists():
                    present = {n for (n,) in con.execute("select name from parquet_schema(?)", [str(path)]).fetchall()}
                    missing = max(missing, len(set(SCHEMAS[table].names) - present))
        frames.append(
            {
                "table_name": table,
                "batch_rows": rows,
                "missing_columns": missing,
                "missing_key_share": _share(missing_key, rows),
                "future_timestamp_share": _share(future_times, rows),
                "unknown_channel_share": _share(bad_channel, rows),
                "unknown_consent_state_share": _share(bad_state, rows),
            }
        )
    return pd.DataFrame(frames), loaded_at


def identity_distribution(con: duckdb.DuckDBPyConnection) -> tuple[pd.DataFrame, list[tuple]]:
    """(distinct per-customer counts, the five customers with the most identifiers)."""
    per_customer = """
        select
            customer_id,
            count(*) as identifiers_per_customer,
            count(*) filter (where identifier_type = 'shop_customer_id') as shop_accounts_per_customer
        from identity.customer_identities
        where customer_id is not null
        group by customer_id
    """
    frame = con.execute(
        f"select distinct identifiers_per_customer, shop_accounts_per_customer from ({per_customer})"
    ).df()
    largest = con.execute(
        f"select customer_id, identifiers_per_customer from ({per_customer}) order by 2 desc, 1 limit 5"
    ).fetchall()
    return frame, largest


def _consent_requirement_sql(channel: str, purpose: str, region: str) -> str:
    """policy__consent_rules as a CASE (first matching rule wins; none: opt_in), as docs/policy.md states it."""
    whens = []
    for rule in dbt_vars()["policy__consent_rules"]:
        conditions = [
            "true" if rule["channel"] == "any" else f"{channel} = '{rule['channel']}'",
            "true" if rule["purpose"] == "any" else f"{purpose} = '{rule['purpose']}'",
            "true" if rule["region"] == "any" else f"{region} = '{rule['region']}'",
        ]
        whens.append(f"when {' and '.join(conditions)} then '{rule['requires']}'")
    return f"case {' '.join(whens)} else 'opt_in' end"


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def _quiet_hours_sql(channel: str, local_minute: str) -> str:
    """True when local_minute falls inside the channel's quiet hours (start inclusive, end exclusive)."""
    whens = []
    for name, hours in dbt_vars()["policy__quiet_hours"].items():
        start, end = _minutes(hours["start"]), _minutes(hours["end"])
        inside = (
            f"({local_minute} >= {start} or {local_minute} < {end})"
            if start > end
            else f"({local_minute} >= {start} and {local_minute} < {end})"
        )
        whens.append(f"when {channel} = '{name}' then {inside}")
    return f"case {' '.join(whens)} else false end" if whens else "false"


def _relation_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, name]
        ).fetchone()[0]
    )


def actions_due_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """One row per due action: the columns actions_due.json validates."""
    erased = (
        "select customer_id from policy.erased_customers"
        if _relation_exists(con, "policy", "erased_customers")
        else "select cast(null as varchar) as customer_id where false"
    )
    # the channel whose consent and address a send needs: the message's channel; audiences upload the email
    consent_channel = "case when due.action_kind = 'audience' then 'email' else due.channel end"
    requirement = _consent_requirement_sql(
        "checked.consent_channel", "checked.purpose", "case when checked.is_eu then 'eu' else 'other' end"
    )
    local_minute = "(hour(checked.dispatch_local) * 60 + minute(checked.dispatch_local))"
    return con.execute(
        f"""
        with checked as (
            select
                due.action_id,
                due.destination,
                due.action_kind,
                due.channel,
                coalesce(due.purpose, 'marketing') as purpose,
                due.address,
                due.send_after,
                due.decided_as_of,
                {consent_channel} as consent_channel,
                coalesce(customers.is_eu, false) as is_eu,
                (
                    select consent.consent_status
                    from policy.consent_history as consent
                    where
                        consent.customer_id = due.customer_id
                        and consent.channel = {consent_channel}
                        and consent.purpose = coalesce(due.purpose, 'marketing')
                        and consent.valid_from <= due.decided_as_of
                        and (consent.valid_to is null or consent.valid_to > due.decided_as_of)
                    order by consent.valid_from desc
                    limit 1
                ) as consent_status,
                due.customer_id in (select customer_id from policy.suppression_list) as is_on_suppression_list,
                due.customer_id in ({erased}) as is_erased,
                timezone(
                    coalesce(customers.time_zone, 'UTC'),
                    timezone('UTC', greatest(due.send_after, due.decided_as_of))
                ) as dispatch_local
            from policy.actions_due as due
            left join identity.customers as customers
                on due.customer_id = customers.customer_id
        )
        select
            action_id,
            destination,
            case when channel = 'email' then address end as email_address,
            channel not in ('email', 'sms', 'push') or address is not null as has_address,
            send_after <= decided_as_of as is_due_by_now,
            not is_on_suppression_list and not is_erased and (
                action_kind = 'crm'
                or case {requirement}
                    when 'opt_in' then coalesce(consent_status = 'opted_in', false)
                    else coalesce(consent_status <> 'opted_out', true)
                end
            ) as is_permitted,
            not ({_quiet_hours_sql("checked.channel", local_minute)}) as is_outside_quiet_hours
        from checked
        """
    ).df()
