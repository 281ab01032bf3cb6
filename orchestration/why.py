"""`journeys why`: why did (or didn't) a customer get an action: one answer from the warehouse's own records.

It reads the journey log (enrollments, transitions, actions) and the send ledger, read-only, and explains in
order: which journeys the customer entered and when, every step with its reason, every action decided, and
what activation did with it.
"""

import duckdb


def _table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()
    return bool(found and found[0])


def explain(con: duckdb.DuckDBPyConnection, customer_id: str, journey_id: str | None = None) -> str:
    if not _table_exists(con, "journeys", "journey_transitions"):
        return "No journey run has happened in this warehouse yet (journeys.journey_transitions does not exist)."
    journey_filter = "and journey_id = ?" if journey_id else ""
    params = [customer_id, journey_id] if journey_id else [customer_id]
    enrollments = con.execute(
        f"""select enrollment_id, journey_id, journey_version, variant, status, entered_at, exited_at, exit_reason,
                   converted_at
            from journeys.journey_enrollments where customer_id = ? {journey_filter} order by entered_at""",
        params,
    ).fetchall()
    if not enrollments:
        scope = f"journey '{journey_id}'" if journey_id else "any journey"
        return f"Customer {customer_id} has no enrollment in {scope} (as of the last run)."
    has_ledger = _table_exists(con, "activation", "send_ledger")
    has_policy = _table_exists(con, "policy", "policy_decisions")
    lines = []
    for (
        enrollment_id,
        journey,
        version,
        variant,
        status,
        entered_at,
        exited_at,
        exit_reason,
        converted_at,
    ) in enrollments:
        lines.append(
            f"{journey} v{version}: entered {entered_at:%Y-%m-%d %H:%M} UTC as {variant}; {status}"
            + (f" ({exit_reason} at {exited_at:%Y-%m-%d %H:%M})" if exited_at else "")
            + (f"; converted at {converted_at:%Y-%m-%d %H:%M}" if converted_at else "")
        )
        steps = con.execute(
            """select step_number, from_node, to_node, reason, transition_at, decided_in_run
               from journeys.journey_transitions where enrollment_id = ? order by step_number""",
            [enrollment_id],
        ).fetchall()
        for step, from_node, to_node, reason, at, run in steps:
            move = f"entered at {to_node}" if step == 0 else f"{from_node} -> {to_node}"
            lines.append(f"  {at:%Y-%m-%d %H:%M}  {move}  ({reason}; decided in run {run})")
        actions = con.execute(
            """select action_id, node_id, action_kind, channel, template, scheduled_at
               from journeys.journey_actions where enrollment_id = ? order by scheduled_at""",
            [enrollment_id],
        ).fetchall()
        for action_id, node_id, kind, channel, template, scheduled_at in actions:
            holdout = " (holdout: never messaged)" if variant == "holdout" else ""
            lines.append(
                f"  action {node_id}: {kind} {channel or ''} {template or ''} scheduled "
                f"{scheduled_at:%Y-%m-%d %H:%M}{holdout} [action_id {action_id}]"
            )
            lines.extend(_policy_and_dispatch(con, action_id, has_policy, has_ledger))
    return "\n".join(lines)


def _policy_and_dispatch(
    con: duckdb.DuckDBPyConnection, action_id: str, has_policy: bool, has_ledger: bool
) -> list[str]:
    """Every delivery-policy decision about the action, in order, then what activation did with it."""
    lines = []
    if has_policy:
        decisions = con.execute(
            """select decided_as_of, state, reason, detail, channel, send_after, decided_in_run
               from policy.policy_decisions where action_id = ? order by evaluation_number""",
            [action_id],
        ).fetchall()
        for decided_as_of, state, reason, detail, channel, send_after, run in decisions:
            what = {
                "due": f"released to activation on {channel or 'its destination'}",
                "deferred": f"deferred to {send_after:%Y-%m-%d %H:%M} UTC ({reason})",
                "suppressed": f"not sent: {reason}",
            }[state]
            lines.append(
                f"    policy at {decided_as_of:%Y-%m-%d %H:%M}: {what}"
                + (f"; {detail}" if detail else "")
                + f" (run {run})"
            )
        if not decisions:
            lines.append("    policy: not evaluated yet (the next run decides)")
    if has_ledger:
        for destination, state, at, error in con.execute(
            "select destination, state, last_attempt_at, error from activation.send_ledger where action_id = ?",
            [action_id],
        ).fetchall():
            lines.append(
                f"    activation: {state} via {destination} at {at:%Y-%m-%d %H:%M}" + (f" ({error})" if error else "")
            )
    return lines
