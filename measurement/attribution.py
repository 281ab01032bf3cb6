"""Attribution models that SQL is the wrong tool for: Markov chain removal effects, Shapley values and Google's
Fractribution leave-one-out rule. Pure functions over path summaries (the warehouse tables
measurement.attribution_path_summary / attribution_campaign_path_summary, built by dbt); the Dagster asset in
orchestration/attribution_assets.py reads those tables, calls `attribute` and writes the contract tables
measurement.channel_attribution and measurement.campaign_attribution. docs/measurement.md states each formula.

A path is a tuple of steps (channels, or (channel, campaign) pairs), earliest first; a path summary row is a path
with the number of customers' paths that converted along it, the number that did not, and the revenue of the
conversions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations, pairwise
from math import factorial

import numpy as np
import pandas as pd

UNATTRIBUTED = "unattributed"  # channel of conversions without a touch in the lookback (every model)
RULE_BASED_MODELS = ("first_touch", "last_touch", "last_non_direct", "linear", "time_decay", "position_based")
ALGORITHMIC_MODELS = ("markov", "shapley", "fractribution_shapley")
DEFAULT_MAX_SHAPLEY_CHANNELS = 16


@dataclass(frozen=True)
class PathRow:
    steps: tuple[Hashable, ...]
    conversions: float
    non_conversions: float
    revenue: float = 0.0


# -- Markov chain ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarkovResult:
    conversion_probability: float  # P(conversion) from the start state
    removal_effects: dict[Hashable, float]  # (P - P without the state) / P, per state


def markov_removal_effects(paths: Iterable[PathRow]) -> MarkovResult:
    """First-order absorbing Markov chain over the steps, exact removal effects.

    States: start, one per step value, and the absorbing states conversion and null. Each path adds one
    transition start -> s1 -> ... -> sn, then sn -> conversion (counted `conversions` times) or sn -> null
    (`non_conversions` times); probabilities are the transition counts normalised per state.
    With Q the transient-to-transient and R the transient-to-absorbing probabilities, the fundamental matrix
    N = (I - Q)^-1 gives B = N R (absorption probabilities) and P = B[start, conversion]. Removing state s
    (its incoming transitions go to null) leaves exactly the conversions that never visit s:
        P_without_s = P - h_s * c_s,  h_s = N[start, s] / N[s, s] (probability of ever reaching s),
                                      c_s = B[s, conversion] (probability of converting from s),
    by the strong Markov property at the first visit of s. removal_effect_s = h_s * c_s / P. One matrix
    inverse gives every removal effect; no simulation.
    """
    rows = [row for row in paths if row.steps and (row.conversions or row.non_conversions)]
    states = sorted({step for row in rows for step in row.steps}, key=repr)
    if not rows:
        return MarkovResult(0.0, {})
    index = {state: i + 1 for i, state in enumerate(states)}  # 0 = start
    n = len(states) + 1
    conversion, null = n, n + 1
    counts = np.zeros((n, n + 2))
    for row in rows:
        weight = row.conversions + row.non_conversions
        chain = [0, *(index[step] for step in row.steps)]
        for source, target in pairwise(chain):
            counts[source, target] += weight
        counts[chain[-1], conversion] += row.conversions
        counts[chain[-1], null] += row.non_conversions
    probabilities = counts / counts.sum(axis=1, keepdims=True)
    q, r = probabilities[:, :n], probabilities[:, n:]
    fundamental = np.linalg.inv(np.eye(n) - q)
    absorbed = fundamental @ r
    p = float(absorbed[0, 0])
    if p <= 0:
        return MarkovResult(0.0, dict.fromkeys(states, 0.0))
    reach = fundamental[0, 1:] / np.diag(fundamental)[1:]
    converts_from = absorbed[1:, 0]
    effects = reach * converts_from / p
    return MarkovResult(p, {state: float(effects[i]) for i, state in enumerate(states)})


def markov_attribution(paths: Sequence[PathRow]) -> tuple[dict[Hashable, tuple[float, float]], MarkovResult]:
    """Conversions and revenue of the paths split by removal effect: total x effect_s / sum of effects."""
    result = markov_removal_effects(paths)
    total_conversions = sum(row.conversions for row in paths if row.steps)
    total_revenue = sum(row.revenue for row in paths if row.steps and row.conversions)
    effect_sum = sum(result.removal_effects.values())
    credits = {
        state: (
            (total_conversions * effect / effect_sum, total_revenue * effect / effect_sum) if effect_sum else (0.0, 0.0)
        )
        for state, effect in result.removal_effects.items()
    }
    return credits, result


# -- Shapley value --------------------------------------------------------------------------------------------


def shapley_values(players: Sequence[Hashable], value: Mapping[frozenset, float]) -> dict[Hashable, float]:
    """Exact Shapley values of a game: phi_i = sum over T in players without i of
    |T|! (m - |T| - 1)! / m! x (v(T + i) - v(T)); v of a coalition missing from `value` is 0."""
    m = len(players)
    weights = [factorial(size) * factorial(m - size - 1) / factorial(m) for size in range(m)]
    result = {}
    for player in players:
        others = [p for p in players if p != player]
        total = 0.0
        for size in range(m):
            for coalition in combinations(others, size):
                base = frozenset(coalition)
                total += weights[size] * (value.get(base | {player}, 0.0) - value.get(base, 0.0))
        result[player] = total
    return result


def conversion_rates_by_channel_set(paths: Iterable[PathRow]) -> dict[frozenset, float]:
    """v(S) = conversions / (conversions + non-conversions) of the paths whose set of channels is exactly S."""
    converted: dict[frozenset, float] = defaultdict(float)
    seen: dict[frozenset, float] = defaultdict(float)
    for row in paths:
        key = frozenset(row.steps)
        converted[key] += row.conversions
        seen[key] += row.conversions + row.non_conversions
    return {key: converted[key] / seen[key] for key in seen if seen[key]}


def shapley_path_shares(
    channels: frozenset, rates: Mapping[frozenset, float], max_channels: int = DEFAULT_MAX_SHAPLEY_CHANNELS
) -> dict[Hashable, float]:
    """Shares (summing to 1) of a converting path's channels: their Shapley values in the game whose players are
    the path's channels and v(T) = the conversion rate of paths with exactly the channels T (0 when no path has
    them), negative values floored at 0, then normalised; an equal split when no value is positive."""
    if len(channels) > max_channels:
        raise ValueError(
            f"a path has {len(channels)} distinct channels ({sorted(map(str, channels))}); exact Shapley values "
            f"are computed for at most {max_channels} (2^n coalitions): raise max_shapley_channels or group channels"
        )
    players = sorted(channels, key=repr)
    values = shapley_values(players, {key: rate for key, rate in rates.items() if key <= channels})
    positive = {player: max(value, 0.0) for player, value in values.items()}
    total = sum(positive.values())
    if total <= 0:
        return {player: 1.0 / len(players) for player in players}
    return {player: value / total for player, value in positive.items()}


# -- Fractribution (Google's leave-one-out rule, as snowplow's dbt-snowplow-fractribution runs it) ---------------


def fractribution_path_shares(path: tuple[Hashable, ...], rates: Mapping[tuple, float]) -> list[float]:
    """Per position of a converting path: max(rate(path) - rate(path without that position), 0), normalised to
    sum 1; a one-step path gets everything; when every difference is 0 the last position gets everything.
    rate(p) = conversions / (conversions + non-conversions) of the exact path p (0 when no path is p)."""
    rate = rates.get(path, 0.0)
    if len(path) == 1:
        contributions = [rate]
    else:
        contributions = [max(rate - rates.get(path[:i] + path[i + 1 :], 0.0), 0.0) for i in range(len(path))]
    total = sum(contributions)
    if total:
        return [c / total for c in contributions]
    shares = [0.0] * len(path)
    shares[-1] = 1.0
    return shares


def conversion_rates_by_path(paths: Iterable[PathRow]) -> dict[tuple, float]:
    converted: dict[tuple, float] = defaultdict(float)
    seen: dict[tuple, float] = defaultdict(float)
    for row in paths:
        converted[row.steps] += row.conversions
        seen[row.steps] += row.conversions + row.non_conversions
    return {key: converted[key] / seen[key] for key in seen if seen[key]}


def fractribution_attribution(paths: Sequence[PathRow]) -> tuple[dict[Hashable, tuple[float, float]], dict]:
    """Channel totals (conversions, revenue) and, per converting path, the channel fractions."""
    rates = conversion_rates_by_path(paths)
    totals: dict[Hashable, list[float]] = defaultdict(lambda: [0.0, 0.0])
    fractions: dict[tuple, dict[Hashable, float]] = {}
    merged = _merge(paths)
    for row in merged:
        if not row.steps or not row.conversions:
            continue
        shares: dict[Hashable, float] = defaultdict(float)
        for step, share in zip(row.steps, fractribution_path_shares(row.steps, rates), strict=True):
            shares[step] += share
        fractions[row.steps] = dict(shares)
        for channel, share in shares.items():
            totals[channel][0] += share * row.conversions
            totals[channel][1] += share * row.revenue
    return {channel: (c, r) for channel, (c, r) in totals.items()}, fractions


def _merge(paths: Iterable[PathRow]) -> list[PathRow]:
    merged: dict[tuple, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])
    for row in paths:
        entry = merged[row.steps]
        entry[0] += row.conversions
        entry[1] += row.non_conversions
        entry[2] += row.revenue
    return [PathRow(steps, c, n, r) for steps, (c, n, r) in merged.items()]


# -- All models from the warehouse's summaries --------------------------------------------------------------------


def _split_path(path: str | None) -> tuple[str, ...]:
    return tuple(path.split(" > ")) if path else ()


def campaign_rows(summary: pd.DataFrame) -> list[dict]:
    """attribution_campaign_path_summary rows as dicts with tuples: transformed (channel-level), steps
    ((channel, campaign) pairs), conversions, non_conversions, revenue (floats)."""
    missing = {
        "transformed_path",
        "channel_steps",
        "campaign_steps",
        "conversions",
        "non_conversions",
        "revenue",
    } - set(summary.columns)
    if missing:
        raise ValueError(f"campaign path summary lacks columns {sorted(missing)}")
    rows = []
    for record in summary.to_dict("records"):
        channels, campaigns = list(record["channel_steps"]), list(record["campaign_steps"])
        if len(channels) != len(campaigns):
            raise ValueError(
                f"path {record['transformed_path']!r}: {len(channels)} channels, {len(campaigns)} campaigns"
            )
        rows.append(
            {
                "transformed": _split_path(record["transformed_path"]),
                "steps": tuple(zip(channels, campaigns, strict=True)),
                "conversions": float(record["conversions"]),
                "non_conversions": float(record["non_conversions"]),
                "revenue": float(record["revenue"] or 0.0),
            }
        )
    return rows


def attribute(
    campaign_summary: pd.DataFrame,
    rule_based: pd.DataFrame,
    max_shapley_channels: int = DEFAULT_MAX_SHAPLEY_CHANNELS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every model, per channel and per (channel, campaign).

    rule_based: measurement.attribution_rule_based (attribution_model, channel, campaign, attributed_conversions,
    attributed_revenue). Its 'unattributed' rows (conversions without a touch) are added to every algorithmic
    model too, so each model's totals are the conversions and revenue in the window.

    Campaign split of the algorithmic models (their channel totals are unchanged by it):
    - markov: a channel's credit goes to its campaigns in proportion to their removal effects in the chain whose
      states are (channel, campaign) pairs (in proportion to their steps on converting paths if all are 0);
    - shapley, fractribution_shapley: within each path, a channel's share goes equally to the path's steps of
      that channel, each to its campaign.
    """
    rows = campaign_rows(campaign_summary)
    campaign_credits: dict[tuple[str, str, str | None], list[float]] = defaultdict(lambda: [0.0, 0.0])
    removal_effects: dict[str, float] = {}

    channel_paths = [PathRow(r["transformed"], r["conversions"], r["non_conversions"], r["revenue"]) for r in rows]
    markov_channels, markov = markov_attribution(_merge(channel_paths))
    removal_effects.update({str(k): v for k, v in markov.removal_effects.items()})
    step_paths = [PathRow(r["steps"], r["conversions"], r["non_conversions"], r["revenue"]) for r in rows]
    step_effects = markov_removal_effects(_merge(step_paths)).removal_effects
    converting_steps: dict[tuple, float] = defaultdict(float)
    for r in rows:
        for step in r["steps"]:
            converting_steps[step] += r["conversions"]
    for channel, (conversions, revenue) in markov_channels.items():
        steps = [step for step in step_effects if step[0] == channel]
        weights = {step: step_effects[step] for step in steps}
        if sum(weights.values()) <= 0:
            weights = {step: converting_steps.get(step, 0.0) for step in steps}
        total = sum(weights.values())
        for step, weight in weights.items():
            share = weight / total if total else 1.0 / len(steps)
            campaign_credits[("markov", channel, step[1])][0] += conversions * share
            campaign_credits[("markov", channel, step[1])][1] += revenue * share

    rates = conversion_rates_by_channel_set(channel_paths)
    path_rates = conversion_rates_by_path(_merge(channel_paths))
    shapley_cache: dict[frozenset, dict] = {}
    for r in rows:
        if not r["conversions"]:
            continue
        channel_set = frozenset(r["transformed"])
        if channel_set not in shapley_cache:
            shapley_cache[channel_set] = shapley_path_shares(channel_set, rates, max_shapley_channels)
        fractribution_shares: dict[str, float] = defaultdict(float)
        for channel, share in zip(
            r["transformed"], fractribution_path_shares(r["transformed"], path_rates), strict=True
        ):
            fractribution_shares[channel] += share
        for model, shares in (("shapley", shapley_cache[channel_set]), ("fractribution_shapley", fractribution_shares)):
            for channel, share in shares.items():
                campaigns = [campaign for step_channel, campaign in r["steps"] if step_channel == channel]
                for campaign in campaigns:
                    entry = campaign_credits[(model, channel, campaign)]
                    entry[0] += share * r["conversions"] / len(campaigns)
                    entry[1] += share * r["revenue"] / len(campaigns)

    algorithmic = pd.DataFrame(
        [
            {
                "attribution_model": model,
                "channel": channel,
                "campaign": campaign,
                "attributed_conversions": c,
                "attributed_revenue": r,
            }
            for (model, channel, campaign), (c, r) in campaign_credits.items()
        ],
        columns=["attribution_model", "channel", "campaign", "attributed_conversions", "attributed_revenue"],
    )
    rule = rule_based[["attribution_model", "channel", "campaign", "attributed_conversions", "attributed_revenue"]]
    unattributed = rule[(rule["attribution_model"] == "last_touch") & (rule["channel"] == UNATTRIBUTED)]
    extra = [unattributed.assign(attribution_model=model) for model in ALGORITHMIC_MODELS if len(unattributed)]
    campaign = pd.concat([rule, algorithmic, *extra], ignore_index=True)
    campaign["attributed_conversions"] = campaign["attributed_conversions"].astype(float)
    campaign["attributed_revenue"] = campaign["attributed_revenue"].astype(float)
    campaign = campaign.sort_values(["attribution_model", "channel", "campaign"], na_position="first").reset_index(
        drop=True
    )
    channel = (
        campaign.groupby(["attribution_model", "channel"], as_index=False)[
            ["attributed_conversions", "attributed_revenue"]
        ]
        .sum()
        .sort_values(["attribution_model", "channel"])
        .reset_index(drop=True)
    )
    channel["removal_effect"] = [
        removal_effects.get(ch) if model == "markov" else None
        for model, ch in zip(channel["attribution_model"], channel["channel"], strict=True)
    ]
    return channel, campaign
