"""The Python attribution models (measurement/attribution.py) on cases small enough to check by hand, plus
properties checked against an independent computation (removal by editing the chain and solving it again)."""

import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from measurement.attribution import (
    PathRow,
    attribute,
    fractribution_attribution,
    fractribution_path_shares,
    markov_attribution,
    markov_removal_effects,
    shapley_path_shares,
    shapley_values,
)

# (A, B) converts once, (A,) once does not, (B,) converts once.
# start -> A 2/3, start -> B 1/3; A -> B 1/2, A -> null 1/2; B -> conversion 1.
# P = 2/3 * 1/2 + 1/3 = 2/3. Without A: 1/3 (effect 1/2). Without B: 0 (effect 1).
SMALL = [PathRow(("A", "B"), 1, 0, 30.0), PathRow(("A",), 0, 1), PathRow(("B",), 1, 0, 60.0)]


def test_markov_removal_effects_by_hand():
    result = markov_removal_effects(SMALL)
    assert result.conversion_probability == pytest.approx(2 / 3)
    assert result.removal_effects == pytest.approx({"A": 0.5, "B": 1.0})


def test_markov_attribution_splits_conversions_and_revenue_by_removal_effect():
    credits, _ = markov_attribution(SMALL)
    # 2 conversions, 90 revenue; effects 0.5 and 1.0 -> shares 1/3 and 2/3
    assert credits["A"] == pytest.approx((2 / 3, 30.0))
    assert credits["B"] == pytest.approx((4 / 3, 60.0))


def test_markov_repeats_of_a_channel_do_not_change_the_chain_outcome():
    repeated = [PathRow(("A", "A", "B"), 1, 0), PathRow(("A", "A"), 0, 1), PathRow(("B", "B"), 1, 0)]
    assert markov_removal_effects(repeated).conversion_probability == pytest.approx(2 / 3)


def test_markov_without_conversions_gives_no_credit():
    credits, result = markov_attribution([PathRow(("A",), 0, 3)])
    assert result.conversion_probability == 0 and credits == {"A": (0.0, 0.0)}


def _conversion_probability(paths, removed=None) -> float:
    """Independent check: build the transition matrix with the removed state's incoming transitions sent to
    null and solve the absorption equations directly."""
    states = sorted({s for p in paths for s in p.steps})
    index = {s: i + 1 for i, s in enumerate(states)}
    n = len(states) + 1
    counts = np.zeros((n, n + 2))
    for p in paths:
        chain = [0, *(index[s] for s in p.steps)]
        weight = p.conversions + p.non_conversions
        for a, b in itertools.pairwise(chain):
            counts[a, b] += weight
        counts[chain[-1], n] += p.conversions
        counts[chain[-1], n + 1] += p.non_conversions
    if removed is not None:
        column = index[removed]
        counts[:, n + 1] += counts[:, column]
        counts[:, column] = 0
    totals = counts.sum(axis=1, keepdims=True)
    probabilities = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    q, r = probabilities[:, :n], probabilities[:, n]
    return float(np.linalg.solve(np.eye(n) - q, r)[0])


paths_strategy = st.lists(
    st.tuples(
        st.lists(st.sampled_from("ABCD"), min_size=1, max_size=5),
        st.integers(0, 5),
        st.integers(0, 5),
    ),
    min_size=1,
    max_size=12,
).map(lambda rows: [PathRow(tuple(p), c, n) for p, c, n in rows if c + n])


@given(paths_strategy)
def test_markov_removal_effects_equal_re_solving_the_chain_without_the_state(paths):
    if not paths:
        return
    result = markov_removal_effects(paths)
    p = _conversion_probability(paths)
    assert result.conversion_probability == pytest.approx(p, abs=1e-9)
    for state, effect in result.removal_effects.items():
        expected = (p - _conversion_probability(paths, removed=state)) / p if p else 0.0
        assert effect == pytest.approx(expected, abs=1e-9)


def test_shapley_values_of_a_two_player_game_by_hand():
    value = {frozenset("A"): 0.1, frozenset("B"): 0.2, frozenset("AB"): 0.5}
    # phi_A = 1/2 (0.1 - 0) + 1/2 (0.5 - 0.2) = 0.2; phi_B = 1/2 (0.2) + 1/2 (0.5 - 0.1) = 0.3
    assert shapley_values(["A", "B"], value) == pytest.approx({"A": 0.2, "B": 0.3})
    assert shapley_path_shares(frozenset("AB"), value) == pytest.approx({"A": 0.4, "B": 0.6})


@given(st.dictionaries(st.frozensets(st.sampled_from("ABCD"), min_size=1), st.floats(0, 1), min_size=1))
def test_shapley_values_are_efficient_and_symmetric(value):
    players = sorted(set().union(*value))
    phi = shapley_values(players, value)
    assert sum(phi.values()) == pytest.approx(value.get(frozenset(players), 0.0), abs=1e-9)
    swapped = {frozenset({"A": "B", "B": "A"}.get(p, p) for p in key): v for key, v in value.items()}
    if {"A", "B"} <= set(players):
        assert shapley_values(players, swapped)["A"] == pytest.approx(phi["B"], abs=1e-9)


def test_shapley_shares_floor_negative_values_and_split_equally_when_none_is_positive():
    # B alone converts better than A and B together: phi_B > 0, phi_A < 0 -> B gets everything
    assert shapley_path_shares(frozenset("AB"), {frozenset("B"): 0.5, frozenset("AB"): 0.2}) == {"A": 0.0, "B": 1.0}
    assert shapley_path_shares(frozenset("AB"), {}) == {"A": 0.5, "B": 0.5}


def test_shapley_refuses_more_channels_than_its_limit():
    with pytest.raises(ValueError, match="at most 3"):
        shapley_path_shares(frozenset("ABCD"), {}, max_channels=3)


def test_fractribution_leave_one_out_by_hand():
    # rate(A > B) = 1/2, rate(B) = 3/28, rate(A) = 1/27: contributions 0.5 - 3/28 and 0.5 - 1/27
    rates = {("A", "B"): 0.5, ("B",): 3 / 28, ("A",): 1 / 27}
    a, b = 0.5 - 3 / 28, 0.5 - 1 / 27
    assert fractribution_path_shares(("A", "B"), rates) == pytest.approx([a / (a + b), b / (a + b)])
    # no positive contribution: the last touch gets everything
    assert fractribution_path_shares(("A", "B"), {("A", "B"): 0.1, ("A",): 0.5, ("B",): 0.5}) == [0.0, 1.0]
    totals, fractions = fractribution_attribution([PathRow(("A", "B"), 1, 1, 10.0), PathRow(("A",), 1, 26)])
    assert fractions[("A",)] == {"A": 1.0}
    assert sum(c for c, _ in totals.values()) == pytest.approx(2)


def test_attribute_adds_unattributed_conversions_to_every_algorithmic_model():
    summary = pd.DataFrame(
        {
            "transformed_path": ["A > B", "A", "B"],
            "channel_steps": [["A", "B"], ["A"], ["B"]],
            "campaign_steps": [["a1", "b1"], ["a2"], [None]],
            "conversions": [1, 0, 1],
            "non_conversions": [0, 1, 0],
            "revenue": [30.0, 0.0, 60.0],
        }
    )
    rule_based = pd.DataFrame(
        {
            "attribution_model": ["last_touch", "last_touch", "last_touch"],
            "channel": ["B", "B", "unattributed"],
            "campaign": ["b1", None, None],
            "attributed_conversions": [1.0, 1.0, 2.0],
            "attributed_revenue": [30.0, 60.0, 5.0],
        }
    )
    channel, campaign = attribute(summary, rule_based)
    totals = channel.groupby("attribution_model")[["attributed_conversions", "attributed_revenue"]].sum()
    assert totals.to_dict("index") == {
        model: {"attributed_conversions": pytest.approx(4.0), "attributed_revenue": pytest.approx(95.0)}
        for model in ("fractribution_shapley", "last_touch", "markov", "shapley")
    }
    markov = campaign[campaign["attribution_model"] == "markov"].set_index(["channel", "campaign"], drop=True)
    # A's 2/3 goes to its campaigns by removal effect in the (channel, campaign) chain: a2 never converts
    assert markov.loc[("A", "a1"), "attributed_conversions"] == pytest.approx(2 / 3)
    assert markov.loc[("A", "a2"), "attributed_conversions"] == pytest.approx(0.0)
    effects = channel[channel["attribution_model"] == "markov"].set_index("channel")["removal_effect"]
    assert effects["A"] == pytest.approx(0.5) and effects["B"] == pytest.approx(1.0)
