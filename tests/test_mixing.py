"""Multi-task mixing rates against the T5 paper's formulas, and a sampler that follows them."""

import numpy as np
import pytest

from minitrans.training.mixing import Mixture, mixing_rates, mixture_batch

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


def test_batches_follow_the_rates_and_depend_only_on_seed_and_step():
    rates = mixing_rates(SIZES, "temperature", limit=50_000, temperature=2.0)
    datasets = {name: list(range(min(n, 500))) for name, n in SIZES.items()}
    draws = [name for step in range(200) for name, _ in mixture_batch(datasets, rates, step, 100)]
    for name, rate in rates.items():
        observed = draws.count(name) / len(draws)
        assert abs(observed - rate) < 4 * np.sqrt(rate * (1 - rate) / len(draws))
    examples = [example for step in range(200) for name, example in mixture_batch(datasets, rates, step, 100)
                if name == "glue"]
    assert len(set(examples)) > 400  # uniform over the task's 500 examples, not stuck on a few
    assert mixture_batch(datasets, rates, 7, 32, seed=3) == mixture_batch(datasets, rates, 7, 32, seed=3)
    assert mixture_batch(datasets, rates, 7, 32, seed=3) != mixture_batch(datasets, rates, 8, 32, seed=3)
    assert mixture_batch(datasets, rates, 7, 32, seed=3) != mixture_batch(datasets, rates, 7, 32, seed=4)


def test_a_mixture_counts_its_epoch_with_the_limit_and_keeps_its_draws():
    datasets = {"rte": [("rte", i) for i in range(30)], "sst2": [("sst2", i) for i in range(300)]}
    mixture = Mixture(datasets, "proportional", limit=100, seed=5)
    assert mixture.epoch_size == 130  # 30 + min(300, 100)
    assert mixture.rates == pytest.approx({"rte": 30 / 130, "sst2": 100 / 130})
    assert mixture.batch(3, 16) == [example for _, example in mixture_batch(datasets, mixture.rates, 3, 16, 5)]
    assert "K=100" in mixture.description and "rte 30 examples (rate 0.231)" in mixture.description
    assert Mixture(datasets, "equal").epoch_size == 330


def test_bad_mixtures_are_named():
    with pytest.raises(ValueError, match="empty: {'glue': 0}"):
        mixing_rates({"glue": 0, "squad": 3})
    with pytest.raises(ValueError, match="strategy must be"):
        mixing_rates(SIZES, "random")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        mixing_rates(SIZES, "temperature", temperature=0)
    with pytest.raises(ValueError, match="empty data set"):
        mixture_batch({"a": []}, {"a": 1.0}, 0, 4)
    with pytest.raises(ValueError, match="name different tasks"):
        mixture_batch({"a": [1]}, {"b": 1.0}, 0, 4)
