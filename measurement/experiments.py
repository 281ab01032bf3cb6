"""Experiment statistics for journey splits and holdouts: pure functions, no warehouse, no Dagster.

Every formula is written out in docs/measurement.md ("Experiments"); the choices are recorded in
docs/decisions/0012-experiment-statistics.md. Conventions: rates are proportions in [0, 1]; a lift is
treatment minus control (absolute) or treatment / control - 1 (relative); intervals are two-sided at level
1 - alpha; `None` means "not defined for these counts" (for example a relative lift over a control rate of 0).

The dbt model measurement.experiment_variant_counts supplies the counts; `experiment_results` and
`holdout_lifts` turn its rows into the rows of measurement.experiment_results and measurement.holdout_lift.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import special, stats

DEFAULT_ALPHA = 0.05
# A sample-ratio mismatch is flagged below this chi-square p-value: strict, because with large samples even a
# small real imbalance is detected, and a false alarm stops an experiment's readout.
DEFAULT_SRM_THRESHOLD = 0.001
# Mixing standard deviation of the mSPRT's normal prior on the absolute lift (docs/measurement.md).
DEFAULT_MSPRT_TAU = 0.02


def _check_counts(conversions: int, exposures: int, label: str) -> None:
    if isinstance(exposures, bool) or not isinstance(exposures, int | np.integer) or exposures <= 0:
        raise ValueError(f"{label}: exposures must be a positive integer, got {exposures!r}")
    if isinstance(conversions, bool) or not isinstance(conversions, int | np.integer) or conversions < 0:
        raise ValueError(f"{label}: conversions must be a non-negative integer, got {conversions!r}")
    if conversions > exposures:
        raise ValueError(f"{label}: conversions ({conversions}) exceed exposures ({exposures})")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _z(alpha: float) -> float:
    return float(stats.norm.isf(alpha / 2))


@dataclass(frozen=True)
class ProportionComparison:
    """Treatment versus control on a binary outcome."""

    control_rate: float
    treatment_rate: float
    abs_lift: float
    abs_lift_ci_low: float
    abs_lift_ci_high: float
    rel_lift: float | None
    rel_lift_ci_low: float | None
    rel_lift_ci_high: float | None
    z_score: float | None
    p_value: float


def compare_proportions(
    control_conversions: int,
    control_exposures: int,
    treatment_conversions: int,
    treatment_exposures: int,
    alpha: float = DEFAULT_ALPHA,
) -> ProportionComparison:
    """Two-sample z-test on proportions, Wald interval for the difference, delta-method interval for the ratio.

    - Test (H0: p_t = p_c): pooled p = (x_c + x_t) / (n_c + n_t), z = (p_t - p_c) / sqrt(p (1 - p) (1/n_c + 1/n_t)),
      two-sided p-value 2 (1 - Phi(|z|)). When p is 0 or 1 both rates are equal and the p-value is 1.
    - Absolute lift d = p_t - p_c, interval d +- z_{1-alpha/2} sqrt(p_t (1-p_t)/n_t + p_c (1-p_c)/n_c) (unpooled).
    - Relative lift r = p_t / p_c - 1, first-order delta method for the ratio R = p_t / p_c:
      Var(R) ~ Var(p_t) / p_c^2 + p_t^2 Var(p_c) / p_c^4, interval r +- z sqrt(Var(R)). Undefined when p_c = 0.
    """
    _check_counts(control_conversions, control_exposures, "control")
    _check_counts(treatment_conversions, treatment_exposures, "treatment")
    _check_alpha(alpha)
    n_c, n_t = int(control_exposures), int(treatment_exposures)
    p_c, p_t = control_conversions / n_c, treatment_conversions / n_t
    z_crit = _z(alpha)

    pooled = (control_conversions + treatment_conversions) / (n_c + n_t)
    pooled_se = math.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    if pooled_se == 0:
        z_score, p_value = None, 1.0
    else:
        z_score = (p_t - p_c) / pooled_se
        p_value = float(2 * stats.norm.sf(abs(z_score)))

    var_c, var_t = p_c * (1 - p_c) / n_c, p_t * (1 - p_t) / n_t
    diff = p_t - p_c
    diff_half_width = z_crit * math.sqrt(var_c + var_t)

    if p_c == 0:
        rel, rel_low, rel_high = None, None, None
    else:
        rel = p_t / p_c - 1
        ratio_se = math.sqrt(var_t / p_c**2 + p_t**2 * var_c / p_c**4)
        rel, rel_low, rel_high = rel, rel - z_crit * ratio_se, rel + z_crit * ratio_se

    return ProportionComparison(
        control_rate=p_c,
        treatment_rate=p_t,
        abs_lift=diff,
        abs_lift_ci_low=diff - diff_half_width,
        abs_lift_ci_high=diff + diff_half_width,
        rel_lift=rel,
        rel_lift_ci_low=rel_low,
        rel_lift_ci_high=rel_high,
        z_score=z_score,
        p_value=p_value,
    )


def prob_beta_greater(a_control: float, b_control: float, a_treatment: int, b_treatment: float) -> float:
    """P(X_t > X_c) for independent X_c ~ Beta(a_control, b_control), X_t ~ Beta(a_treatment, b_treatment).

    Exact closed form for an integer a_treatment (Evan Miller, "Formulas for Bayesian A/B testing", 2015):
        sum_{i=0}^{a_t-1} B(a_c + i, b_c + b_t) / ((b_t + i) B(1 + i, b_t) B(a_c, b_c)),
    summed in log space (scipy.special.betaln) so large counts neither overflow nor underflow.
    """
    if a_treatment != int(a_treatment) or a_treatment < 1:
        raise ValueError(f"a_treatment must be a positive integer, got {a_treatment!r}")
    for name, value in (("a_control", a_control), ("b_control", b_control), ("b_treatment", b_treatment)):
        if not value > 0:
            raise ValueError(f"{name} must be positive, got {value!r}")
    i = np.arange(int(a_treatment), dtype=np.float64)
    log_terms = (
        special.betaln(a_control + i, b_control + b_treatment)
        - np.log(b_treatment + i)
        - special.betaln(1 + i, b_treatment)
        - special.betaln(a_control, b_control)
    )
    total = float(np.exp(special.logsumexp(log_terms)))
    return min(1.0, max(0.0, total))


def chance_to_beat_control(
    control_conversions: int,
    control_exposures: int,
    treatment_conversions: int,
    treatment_exposures: int,
    prior_alpha: int = 1,
    prior_beta: int = 1,
) -> float:
    """Posterior P(p_t > p_c) under independent Beta(prior_alpha, prior_beta) priors (uniform by default):
    each rate's posterior is Beta(prior_alpha + conversions, prior_beta + exposures - conversions)."""
    _check_counts(control_conversions, control_exposures, "control")
    _check_counts(treatment_conversions, treatment_exposures, "treatment")
    if prior_alpha != int(prior_alpha) or prior_alpha < 1 or prior_beta <= 0:
        raise ValueError(f"prior must be Beta(integer >= 1, > 0), got Beta({prior_alpha!r}, {prior_beta!r})")
    return prob_beta_greater(
        prior_alpha + control_conversions,
        prior_beta + control_exposures - control_conversions,
        prior_alpha + treatment_conversions,
        prior_beta + treatment_exposures - treatment_conversions,
    )


@dataclass(frozen=True)
class SequentialResult:
    """Always-valid inference for the absolute lift at the current look."""

    likelihood_ratio: float | None
    p_value: float
    ci_low: float | None
    ci_high: float | None


def msprt(
    control_conversions: int,
    control_exposures: int,
    treatment_conversions: int,
    treatment_exposures: int,
    tau: float = DEFAULT_MSPRT_TAU,
    alpha: float = DEFAULT_ALPHA,
) -> SequentialResult:
    """Mixture sequential probability ratio test with a normal mixture (Johari, Pekelis, Walsh, 2017).

    With d = p_t - p_c, its plug-in variance s^2 = p_t (1-p_t)/n_t + p_c (1-p_c)/n_c and the mixing prior
    N(0, tau^2) on the true difference, the mixture likelihood ratio against H0: difference = 0 is
        Lambda = sqrt(s^2 / (s^2 + tau^2)) exp(tau^2 d^2 / (2 s^2 (s^2 + tau^2))),
    which is Johari et al.'s formula with V/n replaced by s^2 (their n pairs of variance V become unequal arms).
    The always-valid p-value is min(1, 1 / Lambda): valid at any stopping time, so peeking after every run does
    not inflate the false-positive rate (it is conservative against the running minimum over all looks, which
    needs the history of looks this batch computation does not keep). The confidence sequence is the set of
    differences theta with Lambda(theta) < 1/alpha:
        d +- sqrt(2 s^2 (s^2 + tau^2) / tau^2 * (log(1/alpha) + log((s^2 + tau^2) / s^2) / 2)).
    When s^2 = 0 (both rates 0 or 1) there is no evidence: p-value 1, no interval.
    """
    _check_counts(control_conversions, control_exposures, "control")
    _check_counts(treatment_conversions, treatment_exposures, "treatment")
    _check_alpha(alpha)
    if not tau > 0:
        raise ValueError(f"tau must be positive, got {tau!r}")
    p_c = control_conversions / control_exposures
    p_t = treatment_conversions / treatment_exposures
    s2 = p_t * (1 - p_t) / treatment_exposures + p_c * (1 - p_c) / control_exposures
    if s2 == 0:
        return SequentialResult(likelihood_ratio=None, p_value=1.0, ci_low=None, ci_high=None)
    tau2 = tau * tau
    diff = p_t - p_c
    log_lambda = 0.5 * math.log(s2 / (s2 + tau2)) + tau2 * diff * diff / (2 * s2 * (s2 + tau2))
    p_value = 1.0 if log_lambda <= 0 else math.exp(-log_lambda)
    half_width = math.sqrt(2 * s2 * (s2 + tau2) / tau2 * (math.log(1 / alpha) + 0.5 * math.log((s2 + tau2) / s2)))
    return SequentialResult(
        likelihood_ratio=math.exp(min(log_lambda, 700.0)),
        p_value=min(1.0, p_value),
        ci_low=diff - half_width,
        ci_high=diff + half_width,
    )


def sample_ratio_mismatch_p_value(observed: Sequence[int], expected_weights: Sequence[float]) -> float:
    """Pearson's chi-square goodness-of-fit test of the observed exposures against the configured split weights:
    chi2 = sum (o_i - e_i)^2 / e_i with e_i = N w_i / sum(w), k - 1 degrees of freedom, p = P(chi2_{k-1} >= chi2)."""
    if len(observed) != len(expected_weights) or len(observed) < 2:
        raise ValueError(
            f"need the same number (>= 2) of observed counts and weights, got {len(observed)} and "
            f"{len(expected_weights)}"
        )
    if any(w <= 0 for w in expected_weights):
        raise ValueError(f"expected weights must be positive, got {list(expected_weights)!r}")
    if any(o < 0 for o in observed):
        raise ValueError(f"observed counts must be non-negative, got {list(observed)!r}")
    total = sum(observed)
    if total == 0:
        return 1.0
    weight_sum = sum(expected_weights)
    expected = [total * w / weight_sum for w in expected_weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return float(stats.chi2.sf(statistic, df=len(observed) - 1))


@dataclass(frozen=True)
class MeanDifference:
    difference: float
    ci_low: float | None
    ci_high: float | None


def compare_means(
    control_n: int,
    control_sum: float,
    control_sum_squares: float,
    treatment_n: int,
    treatment_sum: float,
    treatment_sum_squares: float,
    alpha: float = DEFAULT_ALPHA,
) -> MeanDifference:
    """Difference of means (treatment - control) of a per-exposure value such as revenue, from sums and sums of
    squares, with a Welch (unequal variances) normal interval: d +- z sqrt(s_t^2/n_t + s_c^2/n_c), where
    s^2 = (sum of squares - n mean^2) / (n - 1). The interval needs at least two exposures per arm."""
    _check_alpha(alpha)
    for label, n in (("control", control_n), ("treatment", treatment_n)):
        if n <= 0:
            raise ValueError(f"{label}: need at least one exposure, got {n!r}")
    mean_c, mean_t = control_sum / control_n, treatment_sum / treatment_n
    difference = mean_t - mean_c
    if control_n < 2 or treatment_n < 2:
        return MeanDifference(difference, None, None)
    var_c = max(0.0, (control_sum_squares - control_n * mean_c**2) / (control_n - 1))
    var_t = max(0.0, (treatment_sum_squares - treatment_n * mean_t**2) / (treatment_n - 1))
    half_width = _z(alpha) * math.sqrt(var_c / control_n + var_t / treatment_n)
    return MeanDifference(difference, difference - half_width, difference + half_width)


# ---- rows in, rows out: what the Dagster asset writes ----------------------------------------------------------

VARIANT_COUNT_FIELDS = (
    "journey_id",
    "experiment_id",
    "variant",
    "is_control",
    "expected_weight",
    "exposures",
    "conversions",
    "revenue",
    "revenue_sum_squares",
)


def _group(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for index, row in enumerate(rows):
        missing = [field for field in VARIANT_COUNT_FIELDS if field not in row]
        if missing:
            raise ValueError(f"variant count row {index}: missing field(s) {missing}; expected {VARIANT_COUNT_FIELDS}")
        groups.setdefault((row["journey_id"], row["experiment_id"]), []).append(row)
    for (journey_id, experiment_id), variants in groups.items():
        controls = [row for row in variants if row["is_control"]]
        if len(controls) != 1:
            raise ValueError(
                f"experiment {journey_id}/{experiment_id}: expected exactly one control variant, got {len(controls)}"
            )
    return groups


def experiment_results(
    rows: Iterable[Mapping[str, Any]],
    alpha: float = DEFAULT_ALPHA,
    srm_threshold: float = DEFAULT_SRM_THRESHOLD,
    msprt_tau: float = DEFAULT_MSPRT_TAU,
) -> list[dict[str, Any]]:
    """One result row per variant (control included, its comparison fields null) from per-variant counts.

    Every variant is compared with the control on its own (no correction for several variants: see the docs).
    The sample-ratio test covers all variants of the experiment at once; a variant with no exposures yet takes
    part in it but has no comparison."""
    results: list[dict[str, Any]] = []
    for (journey_id, experiment_id), variants in sorted(_group(rows).items()):
        control = next(row for row in variants if row["is_control"])
        srm_p = sample_ratio_mismatch_p_value(
            [int(row["exposures"]) for row in variants], [float(row["expected_weight"]) for row in variants]
        )
        weight_sum = sum(float(row["expected_weight"]) for row in variants)
        for row in sorted(variants, key=lambda r: (not r["is_control"], r["variant"])):
            n, x = int(row["exposures"]), int(row["conversions"])
            result: dict[str, Any] = {
                "journey_id": journey_id,
                "experiment_id": experiment_id,
                "variant": row["variant"],
                "is_control": bool(row["is_control"]),
                "expected_share": float(row["expected_weight"]) / weight_sum,
                "exposures": n,
                "conversions": x,
                "conversion_rate": x / n if n else None,
                "revenue": float(row["revenue"]),
                "abs_lift": None,
                "abs_lift_ci_low": None,
                "abs_lift_ci_high": None,
                "rel_lift": None,
                "rel_lift_ci_low": None,
                "rel_lift_ci_high": None,
                "z_score": None,
                "p_value": None,
                "chance_to_beat_control": None,
                "sequential_p_value": None,
                "sequential_ci_low": None,
                "sequential_ci_high": None,
                "srm_p_value": srm_p,
                "has_sample_ratio_mismatch": srm_p < srm_threshold,
            }
            n_c, x_c = int(control["exposures"]), int(control["conversions"])
            if not row["is_control"] and n > 0 and n_c > 0:
                comparison = compare_proportions(x_c, n_c, x, n, alpha)
                sequential = msprt(x_c, n_c, x, n, tau=msprt_tau, alpha=alpha)
                result.update(
                    abs_lift=comparison.abs_lift,
                    abs_lift_ci_low=comparison.abs_lift_ci_low,
                    abs_lift_ci_high=comparison.abs_lift_ci_high,
                    rel_lift=comparison.rel_lift,
                    rel_lift_ci_low=comparison.rel_lift_ci_low,
                    rel_lift_ci_high=comparison.rel_lift_ci_high,
                    z_score=comparison.z_score,
                    p_value=comparison.p_value,
                    chance_to_beat_control=chance_to_beat_control(x_c, n_c, x, n),
                    sequential_p_value=sequential.p_value,
                    sequential_ci_low=sequential.ci_low,
                    sequential_ci_high=sequential.ci_high,
                )
            results.append(result)
    return results


def holdout_lifts(rows: Iterable[Mapping[str, Any]], alpha: float = DEFAULT_ALPHA) -> list[dict[str, Any]]:
    """One row per journey with a holdout, from the 'holdout' experiment's two variants (treatment, holdout).

    incremental_conversions = (p_t - p_h) n_t: conversions among treated enrollments that would not have happened
    at the holdout's rate; its interval is the absolute-lift interval times n_t. incremental_revenue =
    (mean revenue per treated enrollment - mean per holdout enrollment) n_t, with a Welch interval times n_t."""
    lifts: list[dict[str, Any]] = []
    for (journey_id, experiment_id), variants in sorted(_group(rows).items()):
        if experiment_id != "holdout":
            continue
        holdout = next(row for row in variants if row["is_control"])
        treated_rows = [row for row in variants if not row["is_control"]]
        if len(treated_rows) != 1:
            raise ValueError(f"experiment {journey_id}/holdout: expected one treated variant, got {len(treated_rows)}")
        treated = treated_rows[0]
        n_t, x_t, n_h, x_h = (
            int(treated["exposures"]),
            int(treated["conversions"]),
            int(holdout["exposures"]),
            int(holdout["conversions"]),
        )
        lift: dict[str, Any] = {
            "journey_id": journey_id,
            "treated": n_t,
            "holdout": n_h,
            "treated_conversions": x_t,
            "holdout_conversions": x_h,
            "treated_conversion_rate": x_t / n_t if n_t else None,
            "holdout_conversion_rate": x_h / n_h if n_h else None,
            "abs_lift": None,
            "abs_lift_ci_low": None,
            "abs_lift_ci_high": None,
            "rel_lift": None,
            "p_value": None,
            "incremental_conversions": None,
            "incremental_conversions_ci_low": None,
            "incremental_conversions_ci_high": None,
            "treated_revenue": float(treated["revenue"]),
            "holdout_revenue": float(holdout["revenue"]),
            "incremental_revenue": None,
            "incremental_revenue_ci_low": None,
            "incremental_revenue_ci_high": None,
        }
        if n_t > 0 and n_h > 0:
            comparison = compare_proportions(x_h, n_h, x_t, n_t, alpha)
            revenue = compare_means(
                n_h,
                float(holdout["revenue"]),
                float(holdout["revenue_sum_squares"]),
                n_t,
                float(treated["revenue"]),
                float(treated["revenue_sum_squares"]),
                alpha,
            )
            lift.update(
                abs_lift=comparison.abs_lift,
                abs_lift_ci_low=comparison.abs_lift_ci_low,
                abs_lift_ci_high=comparison.abs_lift_ci_high,
                rel_lift=comparison.rel_lift,
                p_value=comparison.p_value,
                incremental_conversions=comparison.abs_lift * n_t,
                incremental_conversions_ci_low=comparison.abs_lift_ci_low * n_t,
                incremental_conversions_ci_high=comparison.abs_lift_ci_high * n_t,
                incremental_revenue=revenue.difference * n_t,
                incremental_revenue_ci_low=None if revenue.ci_low is None else revenue.ci_low * n_t,
                incremental_revenue_ci_high=None if revenue.ci_high is None else revenue.ci_high * n_t,
            )
        lifts.append(lift)
    return lifts
