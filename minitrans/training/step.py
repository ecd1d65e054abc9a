"""One training step as one jitted pure function, and the optimizer the papers use.

`nnx.split` separates a model into its graph definition (static: the Python structure), its
parameters and its random-number state (the dropout streams' counters). A step merges them
back, differentiates the loss with respect to the parameters, applies optax and returns the
new state; `jax.jit` compiles it once and the buffers are donated, so the update happens in
place. `TrainState.train_step(batch)` runs it; with gradient accumulation,
`accumulate(batch)` several times and then `apply_accumulated()`.
"""

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx


def decay_mask(params) -> Any:
    """Weight decay on matrices only: not on biases, norm scales (1-D) or anything else 1-D."""
    return jax.tree.map(lambda p: p.ndim > 1, params)


def warmup_schedule(learning_rate: float, total_steps: int, warmup_steps: int = 0,
                    schedule: str = "linear") -> optax.Schedule:
    """The learning rate at each update: from 0 up to `learning_rate` in a straight line over
    `warmup_steps`, then down to 0 at `total_steps` (linear or cosine), or kept (constant, for
    runs bounded by time). Warm-up keeps Adam's first, badly estimated steps small."""
    if learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {learning_rate}")
    if total_steps < 1 or warmup_steps < 0:
        raise ValueError(f"need total_steps >= 1 and warmup_steps >= 0, got {total_steps} and {warmup_steps}")
    if schedule not in ("linear", "cosine", "constant"):
        raise ValueError(f"schedule must be 'linear', 'cosine' or 'constant', got {schedule!r}")
    # BEGIN SOLUTION
    warmup_steps = min(warmup_steps, total_steps)
    decay_steps = max(total_steps - warmup_steps, 1)
    if schedule == "linear":
        decay = optax.linear_schedule(learning_rate, 0.0, decay_steps)
    elif schedule == "cosine":
        decay = optax.cosine_decay_schedule(learning_rate, decay_steps)
    else:
        decay = optax.constant_schedule(learning_rate)
    if not warmup_steps:
        return decay
    return optax.join_schedules([optax.linear_schedule(0.0, learning_rate, warmup_steps), decay], [warmup_steps])
    # END SOLUTION


def adamw_with_warmup(learning_rate: float, total_steps: int, warmup_steps: int = 0,
                      weight_decay: float = 0.01, schedule: str = "linear",
                      max_grad_norm: float | None = 1.0) -> optax.GradientTransformation:
    """AdamW as BERT trains: the `warmup_schedule`, weight decay off for biases and norms,
    global-norm clipping. The learning rate lives in the optimizer state
    (`optax.inject_hyperparams`), so what is logged is what was applied (`current_learning_rate`)."""
    lr = warmup_schedule(learning_rate, total_steps, warmup_steps, schedule)
    adamw = optax.inject_hyperparams(optax.adamw, static_args=("mask",))
    parts = [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm else []
    parts.append(adamw(learning_rate=lr, b1=0.9, b2=0.999, eps=1e-6, weight_decay=weight_decay, mask=decay_mask))
    return optax.chain(*parts)


def current_learning_rate(opt_state) -> float | None:
    """The learning rate of the last update, read from the optimizer state (None if the
    optimizer does not keep one there)."""
    def injected(node) -> bool:
        return isinstance(getattr(node, "hyperparams", None), dict) and "learning_rate" in node.hyperparams

    found = [s.hyperparams["learning_rate"] for s in jax.tree.leaves(opt_state, is_leaf=injected) if injected(s)]
    return float(found[0]) if found else None


def weighted(loss_fn: Callable) -> Callable:
    """loss_fn(model, batch) -> (loss, metrics), as the sum it averages: (loss * n, metrics, n).

    n is metrics["tokens"] when the loss function reports how many terms its mean is over (a
    mean over real tokens), else the batch's number of rows (a mean over examples). Gradient
    accumulation adds these sums and divides once, so k micro-batches give the gradient of one
    batch of all their rows, even when they hold different numbers of real tokens (averaging the
    k means, as optax.MultiSteps does, equals it only when the counts are equal).
    """
    def total(model, batch):
        loss, metrics = loss_fn(model, batch)
        n = metrics.get("tokens", jnp.asarray(next(iter(batch.values())).shape[0], jnp.float32))
        return loss * n, (loss, metrics, n)
    return total


def make_train_step(graphdef, optimizer: optax.GradientTransformation, loss_fn: Callable):
    """step(params, rng_state, opt_state, batch) -> (params, rng_state, opt_state, loss, metrics),
    jitted with its state buffers donated. The model must be in train mode when split if
    dropout should be on."""
    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, rng_state, opt_state, batch):
        model = nnx.merge(graphdef, params, rng_state)  # dropout's RNG counter advances at this level
        (loss, metrics), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch)
        _, params, rng_state = nnx.split(model, nnx.Param, ...)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), rng_state, opt_state, loss, metrics

    return step


def make_accumulation_steps(graphdef, optimizer: optax.GradientTransformation, loss_fn: Callable):
    """(add, apply): add(params, rng_state, sums, batch) adds a micro-batch's weighted gradient
    to `sums` = (gradient sum, weight sum); apply(params, opt_state, sums) updates with their ratio."""
    total = weighted(loss_fn)

    @functools.partial(jax.jit, donate_argnums=(1, 2))
    def add(params, rng_state, sums, batch):
        model = nnx.merge(graphdef, params, rng_state)
        (_, (loss, metrics, n)), grads = nnx.value_and_grad(total, has_aux=True)(model, batch)
        _, _, rng_state = nnx.split(model, nnx.Param, ...)
        grad_sum, weight = sums
        return rng_state, (jax.tree.map(jnp.add, grad_sum, grads), weight + n), loss, metrics

    @functools.partial(jax.jit, donate_argnums=(0, 1))  # no output has the sums' shapes: nothing to donate them to
    def apply(params, opt_state, sums):
        grad_sum, weight = sums
        grads = jax.tree.map(lambda g: g / jnp.maximum(weight, 1e-12), grad_sum)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    return add, apply


@dataclass
class TrainState:
    """Everything a training run carries from step to step, as arrays, and the compiled step.

    params: the model's nnx.Params; rng_state: the rest of its state, the dropout streams'
    keys and counters; opt_state: the optimizer's moments, step count and learning rate."""
    graphdef: Any
    params: Any
    rng_state: Any
    opt_state: Any
    optimizer: optax.GradientTransformation
    loss_fn: Callable
    sums: Any = field(default=None, repr=False)  # the gradient accumulated so far, and its weight

    @classmethod
    def create(cls, model: nnx.Module, optimizer: optax.GradientTransformation, loss_fn: Callable) -> "TrainState":
        graphdef, params, rng_state = nnx.split(model, nnx.Param, ...)
        return cls(graphdef, params, rng_state, optimizer.init(params), optimizer, loss_fn)

    @functools.cached_property
    def compiled(self):
        return make_train_step(self.graphdef, self.optimizer, self.loss_fn)

    @functools.cached_property
    def compiled_accumulation(self):
        return make_accumulation_steps(self.graphdef, self.optimizer, self.loss_fn)

    def train_step(self, batch: dict):
        """One update on `batch`; returns (loss, metrics), still on the device."""
        self.params, self.rng_state, self.opt_state, loss, metrics = self.compiled(
            self.params, self.rng_state, self.opt_state, batch)
        return loss, metrics

    def accumulate(self, batch: dict):
        """Add `batch`'s gradient to the running sum (no update yet); returns (loss, metrics)."""
        add, _ = self.compiled_accumulation
        if self.sums is None:
            self.sums = (jax.tree.map(jnp.zeros_like, self.params), jnp.zeros((), jnp.float32))
        self.rng_state, self.sums, loss, metrics = add(self.params, self.rng_state, self.sums, batch)
        return loss, metrics

    def apply_accumulated(self) -> None:
        """One update with the mean gradient of everything accumulated since the last one."""
        _, apply = self.compiled_accumulation
        self.params, self.opt_state = apply(self.params, self.opt_state, self.sums)
        self.sums = None

    def model(self) -> nnx.Module:
        return nnx.merge(self.graphdef, self.params, self.rng_state)

    @property
    def learning_rate(self) -> float | None:
        return current_learning_rate(self.opt_state)
