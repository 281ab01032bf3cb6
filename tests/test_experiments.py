"""Experiment statistics (measurement/experiments.py) against textbook cases worked by hand.

Each expected number is either printed in the cited text or worked out in the comment next to it; none is
copied from the code's own output.
"""

import math

import numpy as np
import pytest
from scipy import integrate, stats

from measurement.experiments import (
    chance_to_beat_control,
    compare_means,
    compare_proportions,
    experiment_results,
    holdout_lifts,
    msprt,
    prob_beta_greater,
    sample_ratio_mismatch_p_value,
)

Z_975 = 1.959963984540054  # the standard normal's 97.5th percentile


def test_two_proportion_z_test_usablestats_worked_example():
    """usablestats.com AskStats #866, worked by hand: 118 of 3303 vs 80 of 3303. Pooled p = 198/6606 = .02997,
    p(1-p) = .02907, 1/3303 + 1/3303 = .0006055, SE = sqrt(.02907 x .0006055) = .004196, difference .01150,
    z = .01150 / .004196 = 2.742, two-sided p = .00611."""
    result = compare_proportions(80, 3303, 118, 3303)
    assert result.abs_lift == pytest.approx(0.01150, abs=5e-6)
    assert result.z_score == pytest.approx(2.742, abs=5e-4)
    assert result.p_value == pytest.approx(0.00611, abs=5e-5)


def test_two_proportion_z_test_aspirin_study_exercise():
    """A textbook exercise on the aspirin study's cancer deaths (quoted at solutioninn.com, "In the study for cancer
    death rates ..."): placebo 347/11,535 vs aspirin 327/14,035; the exercise states pooled p ~ 0.027, SE ~ 0.002
    and z ~ 3.5 from rounded figures. Unrounded, by hand: pooled p = 674/25,570 = 0.026359,
    SE = sqrt(0.026359 x 0.973641 x (1/11535 + 1/14035)) = 0.0020133, difference 0.0067835, so z = 3.369 and the
    two-sided p = 0.00075."""
    result = compare_proportions(327, 14035, 347, 11535)
    assert result.z_score == pytest.approx(3.369, abs=1e-3)
    assert result.p_value == pytest.approx(0.00075, abs=1e-5)
    # the unpooled Wald interval: 0.0067835 +- 1.95996 x sqrt(.030082 x .969918 / 11535 + .023299 x .976701 / 14035)
    #   = 0.0067835 +- 1.95996 x 0.0020373 = (0.0027905, 0.0107766)
    assert result.abs_lift_ci_low == pytest.approx(0.0027905, abs=2e-6)
    assert result.abs_lift_ci_high == pytest.approx(0.0107766, abs=2e-6)


def test_relative_lift_delta_method_by_hand():
    """100/1000 control, 120/1000 treatment: R = 0.12 / 0.10 = 1.2, relative lift 0.2.
    Var(R) = Var(p_t)/p_c^2 + p_t^2 Var(p_c)/p_c^4 = (0.12 x 0.88 / 1000) / 0.01 + 0.0144 x (0.09 / 1000) / 0.0001
           = 0.01056 + 0.01296 = 0.02352; SE = 0.153362; interval 0.2 +- 1.959964 x 0.153362 = (-0.100584, 0.500584)."""
    result = compare_proportions(100, 1000, 120, 1000)
    assert result.rel_lift == pytest.approx(0.2)
    assert result.rel_lift_ci_low == pytest.approx(-0.100584, abs=1e-5)
    assert result.rel_lift_ci_high == pytest.approx(0.500584, abs=1e-5)


def test_relative_lift_is_undefined_over_a_zero_control_rate_and_equal_extremes_give_p_one():
    result = compare_proportions(0, 50, 3, 50)
    assert result.rel_lift is None and result.rel_lift_ci_low is None
    assert result.abs_lift == pytest.approx(0.06)
    nothing = compare_proportions(0, 50, 0, 80)
    assert nothing.p_value == 1.0 and nothing.z_score is None and nothing.abs_lift == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((5, 0, 1, 10), "control: exposures must be a positive integer"),
        ((11, 10, 1, 10), "control: conversions (11) exceed exposures (10)"),
        ((1, 10, -1, 10), "treatment: conversions must be a non-negative integer"),
        ((1, 10, 1.5, 10), "treatment: conversions must be a non-negative integer"),
    ],
)
def test_bad_counts_are_refused_with_the_arm_and_field_named(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        compare_proportions(*args)


def test_chance_to_beat_control_small_case_integrated_by_hand():
    """Control 0 of 1 and treatment 1 of 1 under uniform priors: p_c ~ Beta(1, 2) (density 2(1 - a)),
    p_t ~ Beta(2, 1) (density 2b). P(p_t > p_c) = int_0^1 2b (1 - (1 - b)^2) db = int 4b^2 - 2b^3 db
    = 4/3 - 1/2 = 5/6."""
    assert chance_to_beat_control(0, 1, 1, 1) == pytest.approx(5 / 6, abs=1e-12)
    assert prob_beta_greater(1, 2, 2, 1) == pytest.approx(5 / 6, abs=1e-12)
    # and the other way round: P(p_c > p_t) = 1/6
    assert chance_to_beat_control(1, 1, 0, 1) == pytest.approx(1 / 6, abs=1e-12)


def test_chance_to_beat_control_is_one_half_for_identical_data_and_complements():
    assert chance_to_beat_control(37, 400, 37, 400) == pytest.approx(0.5, abs=1e-9)
    forward = chance_to_beat_control(120, 1000, 135, 1000)
    backward = chance_to_beat_control(135, 1000, 120, 1000)
    assert forward + backward == pytest.approx(1.0, abs=1e-9)


def test_chance_to_beat_control_matches_numerical_integration():
    """Independent check of the closed form: P(X_t > X_c) = int f_t(x) F_c(x) dx by adaptive quadrature."""
    a_c, b_c, a_t, b_t = 1 + 48, 1 + 952, 1 + 65, 1 + 935

    def integrand(x: float) -> float:
        return stats.beta.pdf(x, a_t, b_t) * stats.beta.cdf(x, a_c, b_c)

    expected, _ = integrate.quad(integrand, 0, 1, points=[0.05, 0.065], limit=200)
    assert prob_beta_greater(a_c, b_c, a_t, b_t) == pytest.approx(expected, abs=1e-7)
    assert chance_to_beat_control(48, 1000, 65, 1000) == pytest.approx(expected, abs=1e-7)
    # large counts stay finite (the sum is done in log space)
    big = chance_to_beat_control(20_000, 400_000, 20_400, 400_000)
    assert 0.97 < big < 1.0


def test_msprt_likelihood_ratio_and_p_value_by_hand():
    """Control 100/1000, treatment 130/1000, tau = 0.02. d = 0.03; s^2 = 0.13 x 0.87/1000 + 0.1 x 0.9/1000
    = 0.0002031; tau^2 = 0.0004; s^2 + tau^2 = 0.0006031.
    log Lambda = 0.5 ln(0.0002031 / 0.0006031) + 0.0004 x 0.0009 / (2 x 0.0002031 x 0.0006031)
               = 0.5 x (-1.088390) + 1.469548 = 0.925353; Lambda = 2.52276; p = 1/Lambda = 0.396392.
    Confidence sequence half-width: sqrt(2 x 0.0002031 x 0.0006031 / 0.0004 x (ln 20 + 0.5 ln(0.0006031/0.0002031)))
               = sqrt(0.000612449 x (2.995732 + 0.544195)) = sqrt(0.0021680) = 0.046562."""
    result = msprt(100, 1000, 130, 1000, tau=0.02, alpha=0.05)
    assert result.likelihood_ratio == pytest.approx(2.52276, rel=1e-4)
    assert result.p_value == pytest.approx(0.396392, rel=1e-4)
    assert result.ci_low == pytest.approx(0.03 - 0.046562, abs=1e-5)
    assert result.ci_high == pytest.approx(0.03 + 0.046562, abs=1e-5)
    # the fixed-horizon test on the same data is far more confident: that is the price of peeking safely
    assert compare_proportions(100, 1000, 130, 1000).p_value < 0.04


def test_msprt_keeps_its_false_positive_rate_under_continuous_peeking_where_the_z_test_does_not():
    """A/A simulation with a fixed seed: 400 experiments, both arms converting at 10 %, looked at after every
    100 exposures per arm up to 5,000. Rejecting at the first look with p < 0.05 must stay near 5 % for the
    mSPRT (bound: 5 % + 3 standard errors of a 400-draw proportion, 8.3 %); the fixed-horizon z-test peeked at
    50 times rejects far more often (> 15 %), which is the problem the sequential test exists for."""
    rng = np.random.default_rng(20170101)
    experiments, looks, batch, rate = 400, 50, 100, 0.10
    control = rng.binomial(batch, rate, size=(experiments, looks)).cumsum(axis=1)
    treatment = rng.binomial(batch, rate, size=(experiments, looks)).cumsum(axis=1)
    sequential_rejections = naive_rejections = 0
    for e in range(experiments):
        seq_rejected = naive_rejected = False
        for look in range(looks):
            n = batch * (look + 1)
            x_c, x_t = int(control[e, look]), int(treatment[e, look])
            seq_rejected = seq_rejected or msprt(x_c, n, x_t, n, tau=0.02).p_value < 0.05
            naive_rejected = naive_rejected or compare_proportions(x_c, n, x_t, n).p_value < 0.05
        sequential_rejections += seq_rejected
        naive_rejections += naive_rejected
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / experiments)
    assert sequential_rejections / experiments <= bound
    assert naive_rejections / experiments > 0.15


def test_sample_ratio_mismatch_kohavi_example():
    """Kohavi, Tang & Xu, Trustworthy Online Controlled Experiments (2020), the sample-ratio example: a 50/50
    split with 821,588 and 815,482 users has a chi-square p-value of 1.8e-6. By hand: expected 818,535 each,
    chi2 = 2 x 3,053^2 / 818,535 = 22.774 with one degree of freedom."""
    p_value = sample_ratio_mismatch_p_value([821_588, 815_482], [50, 50])
    assert p_value == pytest.approx(1.8e-6, rel=0.02)
    assert stats.chi2.isf(p_value, 1) == pytest.approx(22.774, abs=1e-3)


def test_sample_ratio_mismatch_against_unequal_weights_by_hand():
    """Weights 90/10 (a 10 % holdout), observed 880 and 120 of 1000: expected 900 and 100,
    chi2 = 400/900 + 400/100 = 4.4444, p = P(chi2_1 >= 4.4444) = 0.03501 (= 2 (1 - Phi(2.10819)))."""
    assert sample_ratio_mismatch_p_value([880, 120], [90, 10]) == pytest.approx(0.03501, abs=1e-5)
    # three arms, exactly on their weights: no mismatch at all
    assert sample_ratio_mismatch_p_value([500, 250, 250], [2, 1, 1]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same number"):
        sample_ratio_mismatch_p_value([1, 2, 3], [1, 1])


def test_mean_difference_welch_interval_by_hand():
    """Revenue per exposure. Treatment: 4 exposures with 0, 0, 10, 30 (sum 40, sum of squares 1000, mean 10,
    s^2 = (1000 - 4 x 100)/3 = 200). Control: 3 exposures with 0, 0, 15 (sum 15, squares 225, mean 5,
    s^2 = (225 - 3 x 25)/2 = 75). d = 5; SE = sqrt(200/4 + 75/3) = sqrt(75) = 8.660254; interval 5 +- 16.9738."""
    result = compare_means(3, 15, 225, 4, 40, 1000)
    assert result.difference == pytest.approx(5.0)
    assert result.ci_low == pytest.approx(5 - Z_975 * math.sqrt(75), abs=1e-9)
    assert result.ci_high == pytest.approx(5 + 16.9738, abs=1e-4)


def _counts(variant, is_control, weight, exposures, conversions, revenue=0.0, squares=0.0, experiment="ab"):
    return {
        "journey_id": "j",
        "experiment_id": experiment,
        "variant": variant,
        "is_control": is_control,
        "expected_weight": weight,
        "exposures": exposures,
        "conversions": conversions,
        "revenue": revenue,
        "revenue_sum_squares": squares,
    }


def test_experiment_results_compare_every_variant_with_the_control_and_flag_mismatched_splits():
    rows = [
        _counts("b", False, 25, 1000, 120),
        _counts("a", True, 50, 1000, 100),
        _counts("c", False, 25, 1000, 100),
    ]
    results = experiment_results(rows)
    assert [r["variant"] for r in results] == ["a", "b", "c"]  # control first
    control, b, c = results
    assert control["abs_lift"] is None and control["p_value"] is None and control["chance_to_beat_control"] is None
    assert b["rel_lift"] == pytest.approx(0.2) and b["rel_lift_ci_low"] == pytest.approx(-0.100584, abs=1e-5)
    assert c["abs_lift"] == 0 and c["chance_to_beat_control"] == pytest.approx(0.5, abs=1e-9)
    # 1000/1000/1000 against weights 50/25/25: expected 1500/750/750, chi2 = 250^2/1500 + 2 x 250^2/750 = 208.3
    assert all(r["has_sample_ratio_mismatch"] for r in results)
    assert b["srm_p_value"] == pytest.approx(stats.chi2.sf(62500 / 1500 + 2 * 62500 / 750, 2))
    assert b["expected_share"] == 0.25
    on_weights = experiment_results([_counts("a", True, 50, 2000, 100), _counts("b", False, 50, 2010, 120)])
    assert not any(r["has_sample_ratio_mismatch"] for r in on_weights)


def test_experiment_results_refuse_an_experiment_without_exactly_one_control():
    with pytest.raises(ValueError, match="experiment j/ab: expected exactly one control variant, got 2"):
        experiment_results([_counts("a", True, 50, 10, 1), _counts("b", True, 50, 10, 1)])
    with pytest.raises(ValueError, match=r"variant count row 0: missing field\(s\) \['revenue_sum_squares'\]"):
        experiment_results([{k: v for k, v in _counts("a", True, 1, 1, 1).items() if k != "revenue_sum_squares"}])


def test_holdout_lift_incremental_conversions_and_revenue_by_hand():
    """Treated 900 enrollments, 90 conversions of 50 each (revenue 4,500, squares 225,000); holdout 100, 5 of 50
    (250, squares 12,500). Rates 10 % and 5 %: incremental conversions (0.10 - 0.05) x 900 = 45.
    Revenue per enrollment 5.00 vs 2.50: incremental revenue 2.50 x 900 = 2,250. Welch: s_t^2 = (225000 - 900 x 25)
    / 899 = 225.250, s_h^2 = (12500 - 100 x 6.25) / 99 = 119.949; SE = sqrt(225.250/900 + 119.949/100) = 1.204063;
    interval (2.5 +- 1.959964 x 1.204063) x 900 = 2,250 +- 2,123.93."""
    rows = [
        _counts("treatment", False, 90, 900, 90, 4500.0, 225000.0, experiment="holdout"),
        _counts("holdout", True, 10, 100, 5, 250.0, 12500.0, experiment="holdout"),
        _counts("a", True, 50, 10, 1),  # a split experiment of the same journey is not a holdout
        _counts("b", False, 50, 10, 1),
    ]
    (lift,) = holdout_lifts(rows)
    assert lift["treated"] == 900 and lift["holdout"] == 100
    assert lift["incremental_conversions"] == pytest.approx(45.0)
    assert lift["incremental_revenue"] == pytest.approx(2250.0)
    assert lift["incremental_revenue_ci_low"] == pytest.approx(2250 - 2123.93, abs=0.05)
    assert lift["incremental_revenue_ci_high"] == pytest.approx(2250 + 2123.93, abs=0.05)
    # the conversion interval is the absolute-lift interval scaled by the treated count
    expected_half = Z_975 * math.sqrt(0.1 * 0.9 / 900 + 0.05 * 0.95 / 100) * 900
    assert lift["incremental_conversions_ci_low"] == pytest.approx(45 - expected_half)
    # pooled z: p = 95/1000, SE = sqrt(.095 x .905 x (1/900 + 1/100)) = 0.0309057, z = 1.61782, p = 0.10571
    assert lift["p_value"] == pytest.approx(0.10571, abs=1e-4)
