"""Test-set noise against training noise, McNemar's test, and the prediction encoding."""

import math

import numpy as np
import pytest
from scipy import stats as st

from ablation.analysis.evalnoise import (
    correctness,
    finite_test_noise,
    finite_test_noise_examples,
    mcnemar_exact,
)
from ablation.analysis.predcodec import (
    decode_predictions,
    encode_predictions,
    predictions_from_bytes,
    predictions_to_bytes,
)


def test_binomial_share_by_formula_in_fraction_and_percent():
    acc = [0.97, 0.975, 0.968, 0.972]
    n = 1797
    r = finite_test_noise(acc, n)
    p = np.mean(acc)
    assert r.test_var == pytest.approx(p * (1 - p) / n)
    assert r.observed_var == pytest.approx(np.var(acc, ddof=1))
    assert r.share == pytest.approx(r.test_var / r.observed_var) and r.method == "binomial"
    assert r.train_var == pytest.approx(r.observed_var - r.test_var)
    pct = finite_test_noise([a * 100 for a in acc], n, scale=100)
    assert pct.share == pytest.approx(r.share) and pct.test_var == pytest.approx(r.test_var * 1e4)


def test_share_interval_is_the_chi_square_interval_of_the_observed_variance():
    acc = [0.97, 0.975, 0.968, 0.972, 0.971]
    r = finite_test_noise(acc, 10_000)
    s2, k = np.var(acc, ddof=1), len(acc) - 1
    lo_var, hi_var = k * s2 / st.chi2.ppf(0.975, k), k * s2 / st.chi2.ppf(0.025, k)
    assert r.share_ci.low == pytest.approx(r.test_var / hi_var)
    assert r.share_ci.high == pytest.approx(r.test_var / lo_var)
    assert r.share_ci.low < r.share < r.share_ci.high
    assert math.isnan(finite_test_noise([0.9], 100).share)


def _independent_runs(rng, runs, n, shift_sd=0.0):
    """Runs that err independently per example (Jordan's model), optionally plus a per-run
    shift in distribution-level quality (training noise the test set does not explain)."""
    difficulty = rng.beta(0.3, 3.0, n)  # most examples easy, a few hard: error rate p_err
    shift = rng.normal(0, shift_sd, (runs, 1))
    p_err = np.clip(difficulty + shift, 0, 1)
    return rng.random((runs, n)) >= p_err


def test_per_example_term_by_formula():
    c = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 1, 1], [1, 1, 1, 1, 0]], dtype=bool)
    r = finite_test_noise_examples(c, n_resamples=200)
    rate = c.mean(axis=0)
    expected = np.sum(rate * (1 - rate) * 3 / 2) / 5**2
    assert r.test_var == pytest.approx(expected) and r.runs == 3 and r.n_test == 5
    assert r.observed_var == pytest.approx(np.var(c.mean(axis=1), ddof=1))


def test_per_example_share_near_one_when_errors_are_independent():
    rng = np.random.default_rng(0)
    c = _independent_runs(rng, runs=400, n=2000)
    r = finite_test_noise_examples(c, n_resamples=500)
    assert r.share == pytest.approx(1.0, abs=0.2)  # the test set explains it all
    assert r.share_ci.low < 1 < r.share_ci.high
    binom = finite_test_noise(c.mean(axis=1), c.shape[1])
    assert binom.test_var >= r.test_var  # the binomial term is an upper bound
    shifted = finite_test_noise_examples(_independent_runs(rng, 400, 2000, shift_sd=0.01),
                                         n_resamples=500)
    assert shifted.share < 0.6 and shifted.train_var > 0  # distribution-level noise shows


def test_bootstrap_over_examples_matches_brute_force_resampling():
    rng = np.random.default_rng(1)
    c = _independent_runs(rng, runs=5, n=300)
    r = finite_test_noise_examples(c, seed=2, n_resamples=4000)
    brute = []
    for _ in range(4000):
        idx = rng.integers(0, c.shape[1], c.shape[1])
        rate = c[:, idx].mean(axis=0)
        brute.append(np.sum(rate * (1 - rate) * 5 / 4) / c.shape[1] ** 2)
    lo, hi = np.quantile(brute, [0.025, 0.975])
    assert r.test_var_ci.low == pytest.approx(lo, rel=0.1)
    assert r.test_var_ci.high == pytest.approx(hi, rel=0.1)
    assert r.test_var_ci.low < r.test_var < r.test_var_ci.high


def test_mcnemar_exact_is_the_binomial_test_on_discordant_examples():
    a = np.array([1] * 50 + [1] * 9 + [0] * 2 + [0] * 5, dtype=bool)
    b = np.array([1] * 50 + [0] * 9 + [1] * 2 + [0] * 5, dtype=bool)
    m = mcnemar_exact(a, b)
    assert (m.both, m.only_a, m.only_b, m.neither) == (50, 9, 2, 5)
    assert m.p == pytest.approx(st.binomtest(9, 11, 0.5).pvalue)
    assert m.p == pytest.approx(2 * st.binom.cdf(2, 11, 0.5))  # symmetric: double the tail
    assert mcnemar_exact(a, a).p == 1.0
    with pytest.raises(ValueError):
        mcnemar_exact(a, b[:-1])


def test_correctness_from_labels():
    assert list(correctness([1, 2, 3], [1, 0, 3])) == [True, False, True]
    with pytest.raises(ValueError):
        correctness([1, 2], [1, 2, 3])


def test_prediction_encoding_round_trips_and_is_compact():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 10_000)
    pred = np.where(rng.random(10_000) < 0.99, y, rng.integers(0, 10, 10_000))
    blob = predictions_to_bytes(pred)
    assert blob[:1] == b"B" and len(blob) < 6_000  # 10 KB raw as uint8
    assert np.array_equal(predictions_from_bytes(blob), pred)
    assert np.array_equal(decode_predictions(encode_predictions(pred)), pred)
    wide = np.array([0, 300, 65_535, 7])
    assert predictions_to_bytes(wide)[:1] == b"H"
    assert np.array_equal(decode_predictions(encode_predictions(wide)), wide)
    assert decode_predictions(encode_predictions([])).size == 0


@pytest.mark.parametrize("bad", [[-1, 2], [70_000], [[1, 2]], [0.5, 1.0]])
def test_prediction_encoding_rejects_what_it_cannot_store(bad):
    with pytest.raises(ValueError):
        predictions_to_bytes(np.asarray(bad))


def test_prediction_decoding_rejects_garbage():
    for text in ("not base64!", encode_predictions([1, 2])[:-4] + "AAAA", "WHh4"):
        with pytest.raises(ValueError):
            decode_predictions(text)
