"""Multi-task mixing rates against the T5 paper's formulas, and a sampler that follows them."""

import numpy as np
import pytest

from minitrans.training.mixing import MixtureSampler, mixing_rates

SIZES = {"glue": 1_000, "squad": 10_000, "c4": 1_000_000}


def test_examples_proportional_with_a_limit():
    capped = np.array([1_000, 10_000, 50_000.0])
    rates = mixing_rates(SIZES, "proportional", limit=50_000)
    assert list(rates.values()) == pytest.approx(list(capped / capped.sum()))
    plain = mixing_rates(SIZES)
    assert plain["c4"] == pytest.approx(1_000_000 / 1_011_000)


def test_temperature_moves_towards_equal():
    capped = np.array([1_000, 10_000, 50_000.0])
    t2 = mixing_rates(SIZES, "temperature", limit=50_000, temperature=2.0)
    expected = (capped / capped.sum()) ** 0.5
    assert list(t2.values()) == pytest.approx(list(expected / expected.sum()))
    assert mixing_rates(SIZES, "temperature", limit=50_000, temperature=1.0) == pytest.approx(
        mixing_rates(SIZES, "proportional", limit=50_000))
    hot = mixing_rates(SIZES, "temperature", temperature=1000.0)
    assert all(r == pytest.approx(1 / 3, abs=0.01) for r in hot.values())
    assert mixing_rates(SIZES, "equal") == pytest.approx({k: 1 / 3 for k in SIZES})


def test_sampler_empirical_rates_match_the_formula():
    rates = mixing_rates(SIZES, "temperature", limit=50_000, temperature=2.0)
    datasets = {name: list(range(min(n, 500))) for name, n in SIZES.items()}
    sampler = MixtureSampler(datasets, rates, seed=0)
    draws = [next(sampler)[0] for _ in range(20_000)]
    for name, rate in rates.items():
        observed = draws.count(name) / len(draws)
        assert abs(observed - rate) < 4 * np.sqrt(rate * (1 - rate) / len(draws))
    one, two = MixtureSampler(datasets, rates, seed=3), MixtureSampler(datasets, rates, seed=3)
    assert [next(one) for _ in range(200)] == [next(two) for _ in range(200)]  # seeded


def test_every_example_is_seen_once_per_pass():
    sampler = MixtureSampler({"a": list(range(10))}, {"a": 1.0}, seed=1)
    assert sorted(next(sampler)[1] for _ in range(10)) == list(range(10))


def test_bad_mixtures_are_named():
    with pytest.raises(ValueError, match="empty: {'glue': 0}"):
        mixing_rates({"glue": 0, "squad": 3})
    with pytest.raises(ValueError, match="strategy must be"):
        mixing_rates(SIZES, "random")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        mixing_rates(SIZES, "temperature", temperature=0)
    with pytest.raises(ValueError, match="empty data set"):
        MixtureSampler({"a": []}, {"a": 1.0})
