"""One training step as one jitted pure function.

`nnx.split` separates a model into its graph definition (static: the Python structure) and
its state (arrays: parameters, and the dropout RNG counters). The step merges them back,
differentiates the loss with respect to the `nnx.Param`s, applies optax and returns the new
state; jax.jit compiles the whole thing once, and the buffers are donated so the update
happens in place.
"""

import functools
from dataclasses import dataclass
from typing import Any, Callable

import jax
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
    global-norm clipping."""
    lr = warmup_schedule(learning_rate, total_steps, warmup_steps, schedule)
    parts = [optax.clip_by_global_norm(max_grad_norm)] if max_grad_norm else []
    parts.append(optax.adamw(lr, b1=0.9, b2=0.999, eps=1e-6, weight_decay=weight_decay, mask=decay_mask))
    return optax.chain(*parts)


@dataclass
class TrainState:
    """Everything a training run carries from step to step, as arrays."""
    graphdef: Any
    params: Any
    rest: Any  # non-parameter state: the dropout RNG counters
    opt_state: Any

    @classmethod
    def create(cls, model: nnx.Module, optimizer: optax.GradientTransformation) -> "TrainState":
        graphdef, params, rest = nnx.split(model, nnx.Param, ...)
        return cls(graphdef, params, rest, optimizer.init(params))

    def model(self) -> nnx.Module:
        return nnx.merge(self.graphdef, self.params, self.rest)


def make_train_step(graphdef, optimizer: optax.GradientTransformation,
                    loss_fn: Callable[[nnx.Module, dict], tuple[jax.Array, dict]]):
    """Return step(params, rest, opt_state, batch) -> (params, rest, opt_state, loss, metrics).

    `loss_fn(model, batch)` returns (loss, metrics). The model must be in train mode when split
    if dropout should be on.
    """
    @functools.partial(jax.jit, donate_argnums=(0, 1, 2))
    def step(params, rest, opt_state, batch):
        model = nnx.merge(graphdef, params, rest)  # dropout's RNG counter advances at this level
        (loss, metrics), grads = nnx.value_and_grad(loss_fn, has_aux=True)(model, batch)
        _, params, rest = nnx.split(model, nnx.Param, ...)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), rest, opt_state, loss, metrics

    return step
