"""Transfer-learning strategies as choices of what to train (the rows of the T5 paper's
table 6): all parameters; the head only (feature-based); adapter layers, norms and the head;
gradual unfreezing. Each is a mask over the parameters, matched by path: booleans (trains or
not), or for gradual unfreezing the step from which each parameter trains. `freeze` turns it
into an optimizer that leaves the frozen ones exactly where they are.

    mask = apply_strategy(model, "adapters-32")   # adds the adapters, returns the mask
    Trainer(model, ..., trainable_mask=mask)
"""

import fnmatch
import re
from typing import NamedTuple

import jax
import jax.numpy as jnp
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
    """`optimizer` for the parameters where `mask` is True; exactly zero updates elsewhere. A
    mask of integers (gradual unfreezing) gives each parameter the step it starts training at."""
    if any(np.asarray(leaf).dtype != bool for leaf in jax.tree.leaves(mask)):
        return optax.chain(trains_from(mask), optimizer, trains_from(mask))
    labels = jax.tree.map(lambda trainable: "train" if bool(trainable) else "freeze", mask)
    return optax.multi_transform({"train": optimizer, "freeze": optax.set_to_zero()}, labels)


class GateState(NamedTuple):
    count: jax.Array  # updates seen so far


def trains_from(schedule) -> optax.GradientTransformation:
    """Zero each parameter's gradient (or update) before the step `schedule` gives it. Put before
    Adam, a frozen parameter's moments stay at zero until it thaws; after it, weight decay does
    not move it either."""
    starts = jax.tree.map(lambda k: jnp.asarray(k, jnp.int32), schedule)

    def init(params):
        return GateState(jnp.zeros([], jnp.int32))

    def update(updates, state, params=None):
        gated = jax.tree.map(lambda u, k: jnp.where(state.count >= k, u, jnp.zeros_like(u)), updates, starts)
        return gated, GateState(state.count + 1)

    return optax.GradientTransformation(init, update)


def count_trainable(params, mask) -> tuple[int, int]:
    """(parameters that train at some point, all parameters)."""
    sizes = jax.tree.leaves(jax.tree.map(lambda p: p.size, params))
    flags = [bool(f) if np.asarray(f).dtype == bool else int(f) < NEVER for f in jax.tree.leaves(mask)]
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


ADAPTERS_FILE = "adapters.safetensors"  # beside a checkpoint: its adapters (not part of Hugging Face's layout)


def adapters_of(model: nnx.Module) -> list[Adapter]:
    base = getattr(model, "bert", None)
    if base is None:
        return []
    return [layer for block in base.encoder.layers for layer in block.layers[1].body.layers if isinstance(layer, Adapter)]


def save_adapters(model: nnx.Module, folder) -> int:
    """Write the model's adapters to folder/adapters.safetensors (a checkpoint's config.json and
    model.safetensors hold the pre-trained network only); returns how many."""
    from pathlib import Path

    from safetensors.numpy import save_file

    found = adapters_of(model)
    if found:
        tensors = {f"{i}.{part}.{name}": np.asarray(getattr(getattr(adapter, part), name)[...])
                   for i, adapter in enumerate(found) for part in ("down", "up") for name in ("kernel", "bias")}
        save_file(tensors, str(Path(folder) / ADAPTERS_FILE))
    return len(found)


def load_adapters(model: nnx.Module, folder) -> int:
    """Add and fill the adapters saved beside a checkpoint (none saved: nothing changes)."""
    from pathlib import Path

    from safetensors.numpy import load_file

    path = Path(folder) / ADAPTERS_FILE
    if not path.is_file():
        return 0
    tensors = load_file(str(path))
    count = len({key.split(".")[0] for key in tensors})
    base = getattr(model, "bert", None)
    if base is None or count != len(base.encoder.layers):
        raise ValueError(f"{path} holds {count} adapters; {type(model).__name__} has "
                         f"{len(base.encoder.layers) if base is not None else 'no BERT'} blocks to put them in")
    add_adapters(base.encoder, base.config.hidden_size, tensors["0.down.kernel"].shape[1], rngs=nnx.Rngs(0))
    for i, adapter in enumerate(adapters_of(model)):
        for part in ("down", "up"):
            for name in ("kernel", "bias"):
                getattr(getattr(adapter, part), name)[...] = jnp.asarray(tensors[f"{i}.{part}.{name}"])
    return count


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



NEVER = 2**31 - 1  # the schedule's step for a parameter that never trains


def blocks_of(params) -> tuple[str, int]:
    """(the path of the model's stack of blocks, "bert/encoder/layers" for BERT; how many)."""
    found: dict[str, set] = {}
    for path in parameter_paths(params):
        match = re.match(r"^(.*?layers)/(\d+)/", path)
        if match:
            found.setdefault(match.group(1), set()).add(int(match.group(2)))
    if not found:
        raise ValueError("gradual unfreezing needs a stack of blocks (parameters under .../layers/<i>/)")
    prefix = max(found, key=lambda p: len(found[p]))
    return prefix, len(found[prefix])


def unfreezing_schedule(params, every: int, head: tuple[str, ...] = (*HEADS, "*pooler*")):
    """Gradual unfreezing (Howard & Ruder, 2018) as a schedule: the head trains from step 0, the
    top block from `every`, the next one down from 2 * `every`, ..., the embeddings last."""
    if every < 1:
        raise ValueError(f"unfreezing needs a period of at least 1 step, got {every}")
    prefix, n = blocks_of(params)
    flat = nnx.to_flat_state(params)
    starts = []
    for path, variable in flat:
        name = "/".join(str(p) for p in path)
        block = re.match(re.escape(prefix) + r"/(\d+)/", name)
        if any(fnmatch.fnmatchcase(name, pattern) for pattern in head):
            start = 0
        elif block:
            start = (n - int(block.group(1))) * every
        else:
            start = (n + 1) * every  # the embeddings, once every block trains
        starts.append((path, variable.replace(np.asarray(start, np.int32))))
    return nnx.from_flat_state(starts)


def parse_strategy(strategy: str) -> tuple[str, int | None]:
    """("all" | "feature_based" | "adapters" | "gradual", the adapters' bottleneck or None) of a
    strategy named as the command line names it."""
    if strategy in ("all", "gradual"):
        return strategy, None
    if strategy in ("feature", "feature_based"):
        return "feature_based", None
    match = re.fullmatch(r"adapters-(\d+)", strategy)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of all, feature, adapters-D "
                         "(D a whole number such as 32), gradual")
    return "adapters", int(match.group(1))


def apply_strategy(model: nnx.Module, strategy: str, *, unfreeze_every: int | None = 100,
                   planned_steps: int | None = None, seed: int = 1):
    """The mask of a strategy named as the command line names it: "all", "feature" (or
    "feature_based"), "adapters-D" (adds adapters of bottleneck D to BERT's blocks first), or
    "gradual" (one more block every `unfreeze_every` steps; None shares the `planned_steps` out
    evenly, as the T5 paper does: the head alone first, the embeddings joining for the last share)."""
    kind, size = parse_strategy(strategy)
    if kind == "gradual":
        params = nnx.state(model, nnx.Param)
        if unfreeze_every is None:
            if not planned_steps:
                raise ValueError("gradual unfreezing needs unfreeze_every or the number of planned steps")
            unfreeze_every = max(1, planned_steps // (blocks_of(params)[1] + 2))  # head, N blocks, embeddings
        return unfreezing_schedule(params, unfreeze_every)
    if kind == "adapters":
        base = getattr(model, "bert", None)
        if base is None:
            raise ValueError(f"adapters go into BERT's encoder blocks; {type(model).__name__} has none")
        add_adapters(base.encoder, base.config.hidden_size, size, rngs=nnx.Rngs(seed))
    return strategy_mask(model, kind)
