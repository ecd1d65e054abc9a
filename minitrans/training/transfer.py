"""Transfer-learning strategies as choices of what to train (the rows of the T5 paper's
table 6): all parameters; the head only (feature-based); adapter layers, norms and the head;
gradual unfreezing. Each is a boolean mask over the parameters, matched by path, turned into
an optimizer that leaves the frozen ones exactly where they are.
"""

import fnmatch

import jax
import numpy as np
import optax
from flax import nnx

from minitrans.nn import Dense, Layer


def parameter_paths(params) -> list[str]:
    """Every parameter's path, "bert/encoder/layers/0/..." style."""
    return ["/".join(str(p) for p in path) for path, _ in nnx.to_flat_state(params)]


def trainable_mask(params, patterns: list[str]):
    """A pytree of booleans shaped like `params`: True where the parameter's path matches one
    of the glob `patterns` ("*qa_outputs*", "*adapter*", "*norm*")."""
    # BEGIN SOLUTION
    flat = nnx.to_flat_state(params)
    keep = ["/".join(str(p) for p in path) for path, _ in flat]
    marks = [any(fnmatch.fnmatchcase(path, pattern) for pattern in patterns) for path in keep]
    return nnx.from_flat_state([(path, variable.replace(np.asarray(flag))) for (path, variable), flag in zip(flat, marks)])
    # END SOLUTION


def freeze(optimizer: optax.GradientTransformation, mask) -> optax.GradientTransformation:
    """`optimizer` for the parameters where `mask` is True; exactly zero updates elsewhere."""
    labels = jax.tree.map(lambda trainable: "train" if bool(trainable) else "freeze", mask)
    return optax.multi_transform({"train": optimizer, "freeze": optax.set_to_zero()}, labels)


def count_trainable(params, mask) -> tuple[int, int]:
    sizes = jax.tree.leaves(jax.tree.map(lambda p: p.size, params))
    flags = [bool(f) for f in jax.tree.leaves(mask)]
    return sum(s for s, f in zip(sizes, flags) if f), sum(sizes)


def describe_trainable(params, mask, name: str) -> str:
    trainable, total = count_trainable(params, mask)
    return f"{name}: {trainable:,} trainable of {total:,} parameters ({trainable / total:.2%})"


class Adapter(Layer):
    """A bottleneck adapter (Houlsby et al., 2019): h + up(relu(down(h))). `up` starts at zero,
    so a freshly added adapter leaves the pre-trained network's output unchanged."""

    def __init__(self, d_model: int, size: int, *, rngs: nnx.Rngs):
        # self.down: Dense d_model -> size; self.up: Dense size -> d_model, kernel starting at zero
        # BEGIN SOLUTION
        self.down = Dense(d_model, size, rngs=rngs)
        self.up = Dense(size, d_model, kernel_init=nnx.initializers.zeros, rngs=rngs)
        # END SOLUTION

    def __call__(self, h: jax.Array) -> jax.Array:
        # BEGIN SOLUTION
        return h + self.up(jax.nn.relu(self.down(h)))
        # END SOLUTION

    def describe(self) -> str:
        return f"Adapter_{self.down.out_features}"


def add_adapters(blocks, d_model: int, size: int, *, rngs: nnx.Rngs) -> int:
    """Put an Adapter after the feed-forward block of every EncoderBlock in `blocks` (a Serial
    of them: BERT's encoder, GPT's h, the course's encoder); returns how many were added."""
    added = 0
    for block in blocks.layers:
        feed_forward_residual = block.layers[1]
        feed_forward_residual.body.layers.append(Adapter(d_model, size, rngs=rngs))
        added += 1
    return added


HEADS = ["*qa_outputs*", "*classifier*", "*head*"]
STRATEGIES = ("all", "feature_based", "adapters")


def strategy_mask(model: nnx.Module, strategy: str):
    """The trainable mask of a named strategy for `model`'s parameters."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {sorted(STRATEGIES)}")
    params = nnx.state(model, nnx.Param)
    if strategy == "all":
        return trainable_mask(params, ["*"])
    if strategy == "feature_based":
        return trainable_mask(params, HEADS)
    adapters = {path.rsplit("/", 2)[0] for path in parameter_paths(params) if path.endswith(("down/kernel", "up/kernel"))}
    if not adapters:
        raise ValueError("the adapters strategy needs adapters: call add_adapters(...) first")
    return trainable_mask(params, [a + "/*" for a in sorted(adapters)] + ["*norm*"] + HEADS)


def unfrozen_blocks(step: int, every: int, num_blocks: int) -> int:
    """Gradual unfreezing: how many blocks, counted from the top, train at `step` (one more
    every `every` steps, all of them eventually)."""
    return min(num_blocks, step // every)


def gradual_unfreezing_mask(params, block_prefix: str, num_blocks: int, unfrozen: int, always: list[str]):
    """Train the top `unfrozen` blocks under `block_prefix` (e.g. "bert/encoder/layers") and the
    parameters matching `always` (the head)."""
    patterns = [f"{block_prefix}/{i}/*" for i in range(num_blocks - unfrozen, num_blocks)] + list(always)
    return trainable_mask(params, patterns)

