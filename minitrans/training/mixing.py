"""Multi-task mixing (T5 paper, section 3.5.2): how often to draw from each task's data.

With e_m examples in task m:
- examples-proportional:  r_m = min(e_m, K) / sum_n min(e_n, K); the limit K keeps a huge
  task from drowning the others;
- temperature-scaled:     take those rates to the power 1/T and renormalise; T = 1 is
  proportional, larger T moves towards equal mixing;
- equal:                  r_m = 1 / M.
"""

import numpy as np


def mixing_rates(sizes: dict[str, int], strategy: str = "proportional", limit: int | None = None,
                 temperature: float = 1.0) -> dict[str, float]:
    """Sampling rates per task from its number of examples."""
    # BEGIN SOLUTION
    if not sizes:
        raise ValueError("no tasks to mix")
    bad = {name: n for name, n in sizes.items() if n <= 0}
    if bad:
        raise ValueError(f"every task needs at least one example; empty: {bad}")
    if strategy == "equal":
        return {name: 1.0 / len(sizes) for name in sizes}
    if strategy not in ("proportional", "temperature"):
        raise ValueError(f"strategy must be 'proportional', 'temperature' or 'equal', got {strategy!r}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    capped = np.array([min(n, limit) if limit else n for n in sizes.values()], dtype=float)
    rates = capped / capped.sum()
    if strategy == "temperature":
        rates = rates ** (1.0 / temperature)
        rates = rates / rates.sum()
    return dict(zip(sizes, rates.tolist()))
    # END SOLUTION


def mixture_batch(datasets: dict[str, list], rates: dict[str, float], step: int, size: int,
                  seed: int = 0) -> list[tuple[str, object]]:
    """The `size` (task, example) pairs of training step `step`: each example's task drawn by
    its rate, then an example of that task uniformly. The draw depends only on (seed, step),
    so a run resumed from a checkpoint sees the batches the uninterrupted run would."""
    missing = set(datasets) ^ set(rates)
    if missing:
        raise ValueError(f"datasets and rates name different tasks: {sorted(missing)}")
    empty = [name for name, data in datasets.items() if len(data) == 0]
    if empty:
        raise ValueError(f"empty data set(s): {empty}")
    names = list(datasets)
    probabilities = np.array([rates[n] for n in names], dtype=float)
    rng = np.random.default_rng([seed, step])
    chosen = rng.choice(len(names), size=size, p=probabilities / probabilities.sum())
    return [(names[t], datasets[names[t]][rng.integers(len(datasets[names[t]]))]) for t in chosen]


class Mixture:
    """Several tasks' training examples drawn at a mixing strategy's rates: what one multi-task
    run trains on. `epoch_size` is how many examples one pass mixes in (each task capped at the
    limit K); `batch(step, size)` is the step's examples, the same on a resumed run."""

    def __init__(self, datasets: dict[str, list], strategy: str = "proportional", limit: int | None = None,
                 temperature: float = 1.0, seed: int = 0):
        sizes = {name: len(data) for name, data in datasets.items()}
        self.datasets, self.seed = datasets, seed
        self.rates = mixing_rates(sizes, strategy, limit, temperature)
        self.epoch_size = sum(min(n, limit) if limit else n for n in sizes.values())
        self.description = (", ".join(f"{name} {n:,} examples (rate {self.rates[name]:.3f})" for name, n in sizes.items())
                            + f"; mixing {strategy}" + (f", K={limit:,}" if limit else "")
                            + (f", T={temperature:g}" if strategy == "temperature" else ""))

    def batch(self, step: int, size: int) -> list:
        return [example for _, example in mixture_batch(self.datasets, self.rates, step, size, self.seed)]
