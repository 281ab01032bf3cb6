"""The measurement report: one self-contained HTML file (charts inlined, opens from disk with no network).

Sections: customer flows per journey (Sankey), funnels, journey performance, attribution compared across
models, experiment and holdout results with their intervals, and the tables each section read. A section whose
table is not in the warehouse says so ("not built in this warehouse") instead of showing anything else; where a
journey table on main answers the same question (flows and funnels from journeys.journey_transitions and
policy.action_states), the section says which table it used.

`python -m measurement.report` (`make report`) reads the published BI copy when there is one (docs/bi.md), else
the warehouse, read-only, and writes data/reports/journeys_report.html. The Dagster asset measurement/report
(orchestration/report_assets.py) writes the same file in every journey run.
"""

from __future__ import annotations

import argparse
import html
import numbers
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from orchestration.publish import published_warehouse_path
from orchestration.settings import paths_from_env

NOT_BUILT = "not built in this warehouse"
# The tables of the measurement contract (docs/measurement.md) the report reads, and the journey tables on main.
MEASUREMENT_TABLES = (
    "measurement.journey_flows",
    "measurement.journey_node_funnel",
    "measurement.journey_performance",
    "measurement.channel_attribution",
    "measurement.campaign_attribution",
    "measurement.experiment_results",
    "measurement.holdout_lift",
)
JOURNEY_TABLES = (
    "journeys.journey_transitions",
    "journeys.journey_enrollments",
    "policy.action_states",
    "journey_config.journey_nodes",
)
CHART_CONFIG = {"displaylogo": False, "responsive": True}


def report_path(data_dir: Path | None = None) -> Path:
    return (data_dir or paths_from_env().data_dir) / "reports" / "journeys_report.html"


def default_source() -> Path:
    """The published BI copy when a run has published one, else the warehouse itself."""
    published = published_warehouse_path()
    return published if published.exists() else paths_from_env().warehouse


@dataclass
class Report:
    """The report being assembled: HTML sections, chart ids by kind, and what each table held."""

    sections: list[str] = field(default_factory=list)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (div id, kind)
    tables_read: dict[str, int | None] = field(default_factory=dict)  # None: not in the warehouse

    def chart(self, fig: go.Figure, kind: str, height: int = 420) -> str:
        div_id = f"chart-{len(self.charts) + 1}"
        self.charts.append((div_id, kind))
        fig.update_layout(height=height, margin={"l": 40, "r": 40, "t": 50, "b": 40}, template="plotly_white")
        body = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=CHART_CONFIG)
        return f'<div class="chart" data-chart-kind="{kind}">{body}</div>'


class Warehouse:
    """Read-only access that knows which tables exist."""

    def __init__(self, con: duckdb.DuckDBPyConnection, report: Report):
        self.con = con
        self.report = report
        self.existing = {
            f"{schema}.{name}"
            for schema, name in con.execute(
                """select table_schema, table_name from information_schema.tables"""
            ).fetchall()
        }

    def has(self, table: str) -> bool:
        present = table in self.existing
        if table not in self.report.tables_read:
            rows = self.con.execute(f"select count(*) from {table}").fetchone()[0] if present else None
            self.report.tables_read[table] = rows
        return present

    def df(self, sql: str, params: dict | None = None) -> pd.DataFrame:
        return self.con.execute(sql, params).df()


# ---------------------------------------------------------------- HTML helpers


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    value = _plain(value)
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{value:,}"
    if isinstance(value, numbers.Real | Decimal):
        value = float(value)
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    return str(value)


def html_table(frame: pd.DataFrame, max_rows: int = 200) -> str:
    if frame.empty:
        return '<p class="note">The table is in the warehouse but has no rows.</p>'
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_esc(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in frame.head(max_rows).itertuples(index=False)
    )
    more = f'<p class="note">First {max_rows:,} of {len(frame):,} rows.</p>' if len(frame) > max_rows else ""
    return f'<div class="table"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{more}'


def _not_built(*tables: str) -> str:
    lines = "<br>".join(f"<code>{_esc(t)}</code>: {NOT_BUILT}." for t in tables)
    return f'<p class="missing">{lines}</p>'


def _source_note(text: str) -> str:
    return f'<p class="source">{text}</p>'


def _plain(value: object) -> object:
    """numpy scalars -> Python, for the HTML table formatter."""
    return value.item() if hasattr(value, "item") else value


# ---------------------------------------------------------------- sections


def _flows(w: Warehouse) -> pd.DataFrame | None:
    """journey_id, source, target, enrollments; None when neither table is there."""
    if w.has("measurement.journey_flows"):
        return w.df(
            """select journey_id, source_node_id as source, target_node_id as target,
                      sum(enrollments)::bigint as enrollments
               from measurement.journey_flows group by all order by 1, 2, 3"""
        )
    if w.has("journeys.journey_transitions"):
        return w.df(
            """select journey_id,
                      coalesce(from_node, 'entered') as source,
                      case when to_node = '__exit__' then 'exit: ' || reason else to_node end as target,
                      count(distinct enrollment_id)::bigint as enrollments
               from journeys.journey_transitions group by all order by 1, 2, 3"""
        )
    return None


def sankey_figure(journey_id: str, flows: pd.DataFrame) -> go.Figure:
    labels = list(dict.fromkeys([*flows["source"], *flows["target"]]))
    index = {label: i for i, label in enumerate(labels)}
    fig = go.Figure(
        go.Sankey(
            arrangement="snap",
            node={"label": labels, "pad": 14, "thickness": 14},
            link={
                "source": [index[s] for s in flows["source"]],
                "target": [index[t] for t in flows["target"]],
                "value": [int(v) for v in flows["enrollments"]],
            },
        )
    )
    fig.update_layout(title=f"{journey_id}: enrollments moving between nodes")
    return fig


def section_flows(w: Warehouse, report: Report) -> str:
    parts = ["<h2>Customer flows per journey</h2>"]
    flows = _flows(w)
    if flows is None:
        return "".join([*parts, _not_built("measurement.journey_flows", "journeys.journey_transitions")])
    if "measurement.journey_flows" in w.existing:
        parts.append(_source_note("From <code>measurement.journey_flows</code> (all journey versions summed)."))
    else:
        parts.append(
            _not_built("measurement.journey_flows")
            + _source_note(
                "Flows below are counted from the transition log <code>journeys.journey_transitions</code>: "
                "distinct enrollments per move between two nodes; <em>entered</em> is entry, <em>exit: reason</em> "
                "is leaving the journey for that reason."
            )
        )
    if flows.empty:
        return "".join([*parts, '<p class="note">No enrollment has moved yet: the table has no rows.</p>'])
    for journey_id, journey_flows in flows.groupby("journey_id", sort=True):
        parts.append(report.chart(sankey_figure(str(journey_id), journey_flows), "sankey", height=460))
    return "".join(parts)


def _node_funnel(w: Warehouse) -> tuple[pd.DataFrame | None, str]:
    if w.has("measurement.journey_node_funnel"):
        frame = w.df("select * from measurement.journey_node_funnel order by journey_id, journey_version, node_id")
        return frame, "From <code>measurement.journey_node_funnel</code>."
    if (
        w.has("journeys.journey_transitions")
        and w.has("journey_config.journey_nodes")
        and w.has("policy.action_states")
    ):
        frame = w.df(
            """
            with reached as (
                select journey_id, to_node as node_id, count(distinct enrollment_id) as entered
                from journeys.journey_transitions where to_node <> '__exit__' group by all
            ),
            sent as (
                select journey_id, node_id, count(*) filter (where state = 'sent') as actions_sent
                from policy.action_states group by all
            ),
            latest_nodes as (
                select journey_id, node_id, node_type, node_order from journey_config.journey_nodes
                qualify version = max(version) over (partition by journey_id)
            )
            select latest_nodes.journey_id, latest_nodes.node_id, latest_nodes.node_type,
                   coalesce(reached.entered, 0) as entered, sent.actions_sent
            from latest_nodes
            left join reached using (journey_id, node_id)
            left join sent using (journey_id, node_id)
            order by latest_nodes.journey_id, latest_nodes.node_order
            """
        )
        note = (
            "Enrollments that reached each node, counted from <code>journeys.journey_transitions</code> "
            "(nodes of each journey's latest version, in file order); actions sent from "
            "<code>policy.action_states</code>."
        )
        return frame, note
    return None, ""


def funnel_figure(journey_id: str, nodes: pd.DataFrame) -> go.Figure:
    fig = go.Figure(go.Funnel(y=list(nodes["node_id"]), x=[int(v) for v in nodes["entered"]], textinfo="value"))
    fig.update_layout(title=f"{journey_id}: enrollments reaching each node")
    return fig


def _conversion_funnel(w: Warehouse) -> pd.DataFrame | None:
    if not (w.has("journeys.journey_enrollments") and w.has("policy.action_states")):
        return None
    return w.df(
        """
        with messaged as (
            select distinct actions.enrollment_id
            from journeys.journey_actions as actions
            inner join policy.action_states as states using (action_id)
            where states.state = 'sent' and states.action_kind = 'message'
        )
        select enrollments.journey_id,
               count(*) as enrolled,
               count(messaged.enrollment_id) as sent_a_message,
               count(enrollments.converted_at) as converted
        from journeys.journey_enrollments as enrollments
        left join messaged using (enrollment_id)
        where enrollments.variant <> 'holdout'
        group by all order by 1
        """
    )


def section_funnels(w: Warehouse, report: Report) -> str:
    parts = ["<h2>Funnels</h2>"]
    conversion = _conversion_funnel(w) if w.has("journeys.journey_actions") else None
    parts.append("<h3>Enrollment to conversion, per journey (treatment enrollments)</h3>")
    if conversion is None:
        parts.append(_not_built("journeys.journey_enrollments", "journeys.journey_actions", "policy.action_states"))
    elif conversion.empty:
        parts.append('<p class="note">No enrollments yet.</p>')
    else:
        parts.append(
            _source_note(
                "<code>journeys.journey_enrollments</code> (holdout left out: never messaged), messages in state "
                "<em>sent</em> in <code>policy.action_states</code>, <code>converted_at</code> set by the goal."
            )
        )
        stages = ["enrolled", "sent_a_message", "converted"]
        fig = go.Figure(
            [
                go.Funnel(name=str(row.journey_id), y=stages, x=[int(getattr(row, s)) for s in stages])
                for row in conversion.itertuples(index=False)
            ]
        )
        fig.update_layout(title="Enrolled, sent at least one message, converted")
        parts.append(report.chart(fig, "funnel", height=480))
        parts.append(html_table(conversion))

    parts.append("<h3>Node funnel per journey</h3>")
    nodes, note = _node_funnel(w)
    if nodes is None:
        return "".join([*parts, _not_built("measurement.journey_node_funnel", "journeys.journey_transitions")])
    if "measurement.journey_node_funnel" not in w.existing:
        parts.append(_not_built("measurement.journey_node_funnel"))
    parts.append(_source_note(note))
    if nodes.empty:
        return "".join([*parts, '<p class="note">The table has no rows.</p>'])
    for journey_id, journey_nodes in nodes.groupby("journey_id", sort=True):
        reached = journey_nodes[journey_nodes["entered"] > 0]
        if "journey_version" in reached.columns:  # the mart: one row per version and node; versions summed
            reached = reached.groupby("node_id", sort=False, as_index=False)["entered"].sum()
        if not reached.empty:
            parts.append(report.chart(funnel_figure(str(journey_id), reached), "funnel", height=420))
    parts.append(html_table(nodes))
    return "".join(parts)


def section_performance(w: Warehouse) -> str:
    parts = ["<h2>Journey performance</h2>"]
    if not w.has("measurement.journey_performance"):
        return "".join([*parts, _not_built("measurement.journey_performance")])
    frame = w.df("select * from measurement.journey_performance order by journey_id")
    return "".join([*parts, _source_note("From <code>measurement.journey_performance</code>."), html_table(frame)])


def attribution_figure(frame: pd.DataFrame, measure: str) -> go.Figure:
    fig = go.Figure(
        [
            go.Bar(name=str(model), x=list(rows["channel"]), y=[float(v) for v in rows[measure]])
            for model, rows in frame.groupby("attribution_model", sort=True)
        ]
    )
    fig.update_layout(barmode="group", title=f"{measure.replace('_', ' ')} by channel, per attribution model")
    return fig


def section_attribution(w: Warehouse, report: Report) -> str:
    parts = ["<h2>Attribution compared across models</h2>"]
    if not w.has("measurement.channel_attribution"):
        parts.append(_not_built("measurement.channel_attribution"))
    else:
        frame = w.df(
            """select attribution_model, channel, attributed_conversions, attributed_revenue
               from measurement.channel_attribution order by attribution_model, channel"""
        )
        parts.append(_source_note("From <code>measurement.channel_attribution</code>."))
        if frame.empty:
            parts.append(html_table(frame))
        else:
            parts.append(report.chart(attribution_figure(frame, "attributed_conversions"), "bar"))
            parts.append(report.chart(attribution_figure(frame, "attributed_revenue"), "bar"))
            pivot = frame.pivot_table(
                index="channel", columns="attribution_model", values="attributed_conversions", aggfunc="sum"
            ).reset_index()
            pivot.columns.name = None
            parts.append("<h3>Attributed conversions: channel by model</h3>" + html_table(pivot))
    parts.append("<h3>Campaigns</h3>")
    if not w.has("measurement.campaign_attribution"):
        return "".join([*parts, _not_built("measurement.campaign_attribution")])
    campaigns = w.df(
        """select channel, campaign, attribution_model, attributed_conversions, attributed_revenue
           from measurement.campaign_attribution order by attributed_revenue desc nulls last, 1, 2, 3"""
    )
    return "".join([*parts, _source_note("From <code>measurement.campaign_attribution</code>."), html_table(campaigns)])


def lift_figure(labels: Sequence[str], lift: Sequence, low: Sequence, high: Sequence, title: str) -> go.Figure:
    lift = [float(v) for v in lift]
    fig = go.Figure(
        go.Scatter(
            x=lift,
            y=list(labels),
            mode="markers",
            marker={"size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": [float(h) - v for h, v in zip(high, lift, strict=True)],
                "arrayminus": [v - float(lo) for lo, v in zip(low, lift, strict=True)],
            },
        )
    )
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(title=title, xaxis_title="absolute lift in conversion rate (95% interval)")
    return fig


def section_experiments(w: Warehouse, report: Report) -> str:
    parts = ["<h2>Experiments</h2>", "<h3>Random splits and journey holdouts: each variant against its control</h3>"]
    if not w.has("measurement.experiment_results"):
        parts.append(_not_built("measurement.experiment_results"))
    else:
        results = w.df("select * from measurement.experiment_results order by journey_id, experiment_id, variant")
        parts.append(_source_note("From <code>measurement.experiment_results</code>."))
        treated = results[~results["is_control"].astype(bool)].dropna(
            subset=["abs_lift", "abs_lift_ci_low", "abs_lift_ci_high"]
        )
        if not treated.empty:
            labels = [f"{r.journey_id} / {r.experiment_id} / {r.variant}" for r in treated.itertuples(index=False)]
            fig = lift_figure(
                labels,
                treated["abs_lift"],
                treated["abs_lift_ci_low"],
                treated["abs_lift_ci_high"],
                "Variant minus control",
            )
            parts.append(report.chart(fig, "errorbars", height=max(300, 60 + 40 * len(labels))))
        mismatched = results[results["has_sample_ratio_mismatch"].fillna(False).astype(bool)]
        if not mismatched.empty:
            names = ", ".join(sorted({f"{r.journey_id}/{r.experiment_id}" for r in mismatched.itertuples()}))
            parts.append(f'<p class="warning">Sample ratio mismatch (do not trust these results): {_esc(names)}</p>')
        parts.append(html_table(results))
    parts.append("<h3>Journey holdouts (treated against never-messaged holdout)</h3>")
    if not w.has("measurement.holdout_lift"):
        return "".join([*parts, _not_built("measurement.holdout_lift")])
    holdout = w.df("select * from measurement.holdout_lift order by journey_id")
    parts.append(_source_note("From <code>measurement.holdout_lift</code>."))
    plotted = holdout.dropna(
        subset=["treated_conversion_rate", "holdout_conversion_rate", "abs_lift_ci_low", "abs_lift_ci_high"]
    )
    if not plotted.empty:
        fig = lift_figure(
            list(plotted["journey_id"]),
            plotted["treated_conversion_rate"] - plotted["holdout_conversion_rate"],
            plotted["abs_lift_ci_low"],
            plotted["abs_lift_ci_high"],
            "Treated minus holdout",
        )
        parts.append(report.chart(fig, "errorbars", height=max(300, 60 + 40 * len(plotted))))
    parts.append(html_table(holdout))
    return "".join(parts)


def section_sources(report: Report) -> str:
    rows = pd.DataFrame(
        [
            {"table": name, "rows": _plain(rows) if rows is not None else NOT_BUILT}
            for name, rows in sorted(report.tables_read.items())
        ]
    )
    return "<h2>Tables read</h2>" + html_table(rows)


STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 1200px; color: #222; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.3rem; margin-top: 2.5rem; }
table { border-collapse: collapse; font-size: 0.85rem; margin: 0.8rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
.missing { color: #8a4b00; background: #fff4e0; padding: 0.5rem 0.8rem; border-left: 4px solid #e0a030; }
.warning { color: #8a0000; background: #ffe8e8; padding: 0.5rem 0.8rem; border-left: 4px solid #c03030; }
.source, .note, .meta { color: #555; font-size: 0.9rem; }
.chart { margin: 1rem 0; } .table { overflow-x: auto; max-width: 100%; }
"""


def build_report(con: duckdb.DuckDBPyConnection, source_label: str) -> tuple[str, Report]:
    """The report's HTML for the warehouse behind `con` (read-only is enough)."""
    report = Report()
    w = Warehouse(con, report)
    about = ""
    if w.has("journeys.journey_transitions"):
        as_of = con.execute("select max(decided_as_of) from journeys.journey_transitions").fetchone()[0]
        about += f" Latest run's as_of: {_esc(as_of or 'no run yet')}."
    if "bi_meta.publication" in w.existing:
        run_id, published_at = con.execute("select run_id, published_at from bi_meta.publication").fetchone()
        about += f" Published by run {_esc(run_id)} at {_esc(published_at)} UTC."
    body = [
        section_flows(w, report),
        section_funnels(w, report),
        section_performance(w),
        section_attribution(w, report),
        section_experiments(w, report),
    ]
    for table in (*MEASUREMENT_TABLES, *JOURNEY_TABLES):
        w.has(table)
    body.append(section_sources(report))
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>Journeys measurement report</title>
<style>{STYLE}</style>
<script type="text/javascript">{get_plotlyjs()}</script>
</head>
<body>
<h1>Journeys measurement report</h1>
<p class="meta">Generated {generated} from <code>{_esc(source_label)}</code>.{about}</p>
<p class="meta">Charts: {len(report.charts)}. Every number comes from the warehouse tables listed at the end;
a section whose table is not there says so.</p>
{"".join(body)}
</body>
</html>
"""
    return page, report


@dataclass(frozen=True)
class WrittenReport:
    path: Path
    source: Path
    charts: list[tuple[str, str]]
    tables_read: dict[str, int | None]
    bytes: int


def write_report(source: Path, out: Path) -> WrittenReport:
    """Read `source` read-only, write the HTML to `out` (atomically: a reader never sees half a file)."""
    source = Path(source).resolve()
    if not source.exists():
        raise FileNotFoundError(f"no warehouse at {source} (run `make demo` or the journey_run job first)")
    with duckdb.connect(str(source), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        page, report = build_report(con, str(source))
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    partial.write_text(page, encoding="utf-8")
    os.replace(partial, out)
    return WrittenReport(out, source, report.charts, report.tables_read, out.stat().st_size)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m measurement.report", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--warehouse", type=Path, default=None, help="DuckDB file (default: published copy, else warehouse)"
    )
    parser.add_argument("--out", type=Path, default=None, help="HTML file (default: data/reports/journeys_report.html)")
    args = parser.parse_args(argv)
    source = args.warehouse or default_source()
    try:
        written = write_report(source, args.out or report_path())
    except FileNotFoundError as error:
        print(f"report: {error}", file=sys.stderr)
        return 1
    except duckdb.IOException as error:
        print(
            f"report: cannot read {source}: {error}\n"
            "report: another process is writing it (a journey run?). Read the published copy instead "
            "(docs/bi.md), or wait for the run to finish.",
            file=sys.stderr,
        )
        return 1
    missing = [t for t, n in written.tables_read.items() if n is None]
    print(f"report: {written.path} ({written.bytes / 1e6:.1f} MB, {len(written.charts)} charts) from {written.source}")
    if missing:
        print(f"report: {NOT_BUILT}: {', '.join(missing)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
