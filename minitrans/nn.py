"""Hand-written layers and combinators: everything a transformer is made of.

Every layer here is a small Flax NNX module whose whole computation fits on one screen:
`Dense`, `Embedding`, `LayerNorm`, `RMSNorm`, `Dropout`, the activations, the course's
combinators `Serial` and `Residual`, `MultiHeadAttention` (built on the function
`scaled_dot_product_attention`) and the two kinds of positional embedding.

Conventions (the same in every file of minitrans):
- Activations are `(batch, seq, features)`; attention heads live in `(batch, heads, seq, head_dim)`.
- Masks are boolean, True = may attend, shape `(batch, 1, query, key)` with size-1 axes
  broadcasting; they are made only by `minitrans.masks` and applied in one place,
  `scaled_dot_product_attention`.
- Every model is built in eval mode (dropout off). `model.train()` turns dropout on,
  `model.eval()` turns it off again; the randomness comes from the `dropout` stream of the
  `nnx.Rngs` the model was built with.
- Layers print as the course's Trax listings do (`Serial[ Dense_16 Relu Dense_4 ]`).
"""

import dataclasses
import math
from contextlib import contextmanager
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.kernels import keep_mask, lecun_normal, linear, normal

Array = jax.Array

default_kernel_init = lecun_normal()
default_embedding_init = normal(stddev=1.0)


def is_concrete(x) -> bool:
    """True when `x` holds actual values (not a tracer inside jit), so it can be checked."""
    return not isinstance(x, jax.core.Tracer)


def check_token_ids(ids, vocab_size: int, name: str = "input_ids", max_length: tuple[int, str] | None = None) -> Array:
    """`ids` as a (batch, seq) integer array, with clear errors for what a model cannot take:
    another shape, more positions than `max_length` = (limit, the config's name for it), or
    ids outside the vocabulary (checked on the host whenever the values are known, so also
    when jit closes over them)."""
    ids = jnp.asarray(ids)
    if ids.ndim != 2 or not jnp.issubdtype(ids.dtype, jnp.integer):
        raise ValueError(f"{name} must be integers of shape (batch, seq), got {ids.dtype} {tuple(ids.shape)}")
    if max_length is not None and ids.shape[1] > max_length[0]:
        raise ValueError(f"{name} has {ids.shape[1]} positions, {max_length[1]} is {max_length[0]}")
    if is_concrete(ids) and ids.size:
        values = np.asarray(ids)
        low, high = int(values.min()), int(values.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(f"{name}: token id {high if high >= vocab_size else low} is outside the vocabulary "
                             f"(vocab_size={vocab_size})")
    return ids


def check_last_dim(layer: str, x: Array, expected: int) -> None:
    if x.ndim == 0 or x.shape[-1] != expected:
        raise ValueError(
            f"{layer} expects inputs whose last dimension is {expected}, got shape {tuple(x.shape)}"
        )


class Layer(nnx.Module):
    """Base class of every minitrans layer.

    It only changes how a layer prints: the course shows models as Trax listings, so
    `print(model)` shows the nesting of the slide instead of NNX's full tree of arrays.
    """

    def describe(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return self.describe()

    __str__ = __repr__


def describe_nested(name: str, layers) -> str:
    """`Name[` + one indented line per sub-layer + `]`, the Trax printout."""
    inner = "\n".join(str(layer) for layer in layers)
    return f"{name}[\n" + "\n".join("  " + line for line in inner.splitlines()) + "\n]"


# --------------------------------------------------------------------------- basic layers


class Dense(Layer):
    """y = x W + b, the fully connected layer. `use_bias=False` gives T5's bias-free projections."""

    def __init__(self, in_features: int, out_features: int, *, use_bias: bool = True,
                 kernel_init=default_kernel_init, rngs: nnx.Rngs):
        self.in_features, self.out_features = in_features, out_features
        self.kernel = nnx.Param(kernel_init(rngs.params(), (in_features, out_features)))
        self.bias = nnx.Param(jnp.zeros((out_features,))) if use_bias else None

    def __call__(self, x: Array) -> Array:
        check_last_dim("Dense", x, self.in_features)
        y = linear(x, self.kernel[...])  # (..., out_features)
        if self.bias is not None:
            y = y + self.bias[...]
        return y

    def describe(self) -> str:
        return f"Dense_{self.out_features}"


class Embedding(Layer):
    """A lookup table: row i is the vector of token i. `attend` is the transposed use,
    x @ table.T, which turns hidden states back into vocabulary logits (weight tying)."""

    def __init__(self, num_embeddings: int, features: int, *,
                 embedding_init=default_embedding_init, rngs: nnx.Rngs):
        self.num_embeddings, self.features = num_embeddings, features
        self.embedding = nnx.Param(embedding_init(rngs.params(), (num_embeddings, features)))

    def __call__(self, ids: Array) -> Array:
        ids = jnp.asarray(ids)
        if not jnp.issubdtype(ids.dtype, jnp.integer):
            raise TypeError(f"Embedding expects integer ids, got dtype {ids.dtype}")
        if is_concrete(ids) and ids.size:
            values = np.asarray(ids)  # checked on the host, also when jit closes over the ids
            low, high = int(values.min()), int(values.max())
            if low < 0 or high >= self.num_embeddings:
                bad = high if high >= self.num_embeddings else low
                raise ValueError(
                    f"id {bad} is outside the embedding table of {self.num_embeddings} rows "
                    f"(ids must be in [0, {self.num_embeddings - 1}])")
        return self.embedding[...][ids]  # (..., features)

    def attend(self, x: Array) -> Array:
        check_last_dim("Embedding.attend", x, self.features)
        return linear(x, self.embedding[...].T)  # (..., num_embeddings)

    def describe(self) -> str:
        return f"Embedding_{self.num_embeddings}_{self.features}"


class LayerNorm(Layer):
    """Normalise each vector to mean 0, variance 1, then scale and shift (Ba et al., 2016).
    Statistics are taken in float32 over the last axis only."""

    def __init__(self, features: int, *, eps: float = 1e-6, use_bias: bool = True,
                 rngs: nnx.Rngs | None = None):
        self.features, self.eps = features, eps
        self.scale = nnx.Param(jnp.ones((features,)))
        self.bias = nnx.Param(jnp.zeros((features,))) if use_bias else None

    def __call__(self, x: Array) -> Array:
        check_last_dim("LayerNorm", x, self.features)
        x32 = x.astype(jnp.float32)
        mean = x32.mean(-1, keepdims=True)
        var = ((x32 - mean) ** 2).mean(-1, keepdims=True)
        y = (x32 - mean) * jax.lax.rsqrt(var + self.eps) * self.scale[...]
        if self.bias is not None:
            y = y + self.bias[...]
        return y.astype(x.dtype)


class RMSNorm(Layer):
    """T5's layer norm (Zhang & Sennrich, 2019): divide by the root mean square, then scale.
    No mean is subtracted and there is no bias."""

    def __init__(self, features: int, *, eps: float = 1e-6, rngs: nnx.Rngs | None = None):
        self.features, self.eps = features, eps
        self.scale = nnx.Param(jnp.ones((features,)))

    def __call__(self, x: Array) -> Array:
        check_last_dim("RMSNorm", x, self.features)
        x32 = x.astype(jnp.float32)
        variance = (x32 ** 2).mean(-1, keepdims=True)
        return (x32 * jax.lax.rsqrt(variance + self.eps) * self.scale[...]).astype(x.dtype)


class Dropout(Layer):
    """Zero each value with probability `rate` and scale the rest by 1 / (1 - rate), in train
    mode only; in eval mode it is the identity.

    `shared_axes`, as in the course's Trax layer, lists axes along which one random draw is
    shared: `shared_axes=(1,)` on `(batch, seq, d)` drops the same features at every position.
    Built in eval mode; `module.train()` turns it on. The randomness comes from the `dropout`
    stream of `rngs` (falling back to its default stream).
    """

    def __init__(self, rate: float, *, shared_axes: tuple[int, ...] = (),
                 rngs: nnx.Rngs | None = None, deterministic: bool = True):
        if not (isinstance(rate, (int, float)) and 0.0 <= rate < 1.0):
            raise ValueError(f"Dropout rate must be a number in [0, 1), got {rate!r}")
        self.rate = float(rate)
        self.shared_axes = tuple(shared_axes)
        self.deterministic = deterministic
        self.rngs = rngs["dropout"].fork() if rngs is not None else nnx.data(None)

    def __call__(self, x: Array) -> Array:
        if self.deterministic or self.rate == 0.0:
            return x
        if self.rngs is None:
            raise ValueError("Dropout is in train mode but was built without rngs: build it with "
                             "rngs=nnx.Rngs(params=0, dropout=1), or call .eval() for inference")
        for axis in self.shared_axes:
            if not -x.ndim <= axis < x.ndim:
                raise ValueError(f"Dropout shared axis {axis} does not exist for shape {x.shape}")
        shape = tuple(1 if (i in self.shared_axes or i - x.ndim in self.shared_axes) else n
                      for i, n in enumerate(x.shape))
        keep = keep_mask(self.rngs(), shape, self.rate)
        return jnp.where(keep, x / (1.0 - self.rate), 0.0).astype(x.dtype)


def set_dropout(model: nnx.Module, rate: float) -> None:
    """Set every Dropout layer of `model` to `rate`, and the dropout fields of its config (so a
    saved checkpoint says what it was trained with): a recipe chosen after the model was built."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {rate}")
    for _, module in nnx.iter_graph(model):
        if isinstance(module, Dropout):
            module.rate = float(rate)
    config = getattr(model, "config", None)
    if dataclasses.is_dataclass(config) and getattr(config, "dropout_keys", ()):
        model.config = dataclasses.replace(config, **{key: float(rate) for key in config.dropout_keys})


def dropout_rate(model: nnx.Module) -> float:
    """The largest rate of `model`'s Dropout layers (what a run trains with; 0 for none)."""
    return max((m.rate for _, m in nnx.iter_graph(model) if isinstance(m, Dropout)), default=0.0)


# --------------------------------------------------------------------------- activations


def relu(x: Array) -> Array:
    return jnp.maximum(x, 0)


def gelu(x: Array) -> Array:
    """The exact GELU, x * Phi(x) (Hendrycks & Gimpel, 2016), as in BERT."""
    return 0.5 * x * (1.0 + jax.lax.erf(x / math.sqrt(2.0)))


def gelu_tanh(x: Array) -> Array:
    """The tanh approximation of GELU used by GPT-2 and T5 v1.1 ("gelu_new")."""
    return 0.5 * x * (1.0 + jnp.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def silu(x: Array) -> Array:
    return x * jax.nn.sigmoid(x)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": relu, "gelu": gelu, "gelu_new": gelu_tanh, "gelu_tanh": gelu_tanh,
    "gelu_pytorch_tanh": gelu_tanh, "silu": silu, "swish": silu, "tanh": jnp.tanh,
}


def gated(activation: Callable[[Array], Array]) -> Callable[[Array], Array]:
    """A gated linear unit (Shazeer, 2020): split the features in half, activation(a) * b.
    The Dense before it must produce twice the hidden size."""
    def gated_activation(x: Array) -> Array:
        a, b = jnp.split(x, 2, axis=-1)
        return activation(a) * b
    return gated_activation


def parse_activation(name: str) -> tuple[str, bool]:
    """(the activation's name in ACTIVATIONS, whether it is gated) for a config's name: "relu",
    "gelu", "gelu_new", ..., or "gated-" + one of them. "gated-gelu" means the tanh GELU, as in
    T5 v1.1 and Hugging Face's T5 configs (its "gelu" alone is the exact one, as in BERT)."""
    base, is_gated = name.removeprefix("gated-"), name.startswith("gated-")
    if base not in ACTIVATIONS:
        known = sorted(ACTIVATIONS) + ["gated-" + k for k in sorted(ACTIVATIONS)]
        raise ValueError(f"unknown activation {name!r}; expected one of {known}")
    return ("gelu_new" if is_gated and base == "gelu" else base), is_gated


class Activation(Layer):
    """An activation function as a layer, named as in Hugging Face configs ("relu", "gelu",
    "gelu_new", ...). A "gated-" prefix makes the gated variant: "gated-gelu" is T5 v1.1's."""

    def __init__(self, name: str):
        base, self.is_gated = parse_activation(name)
        self.name = name
        self.fn = gated(ACTIVATIONS[base]) if self.is_gated else ACTIVATIONS[base]

    def __call__(self, x: Array) -> Array:
        return self.fn(x)

    def describe(self) -> str:
        return "".join(part.capitalize() for part in self.name.replace("-", "_").split("_"))


# --------------------------------------------------------------------------- combinators


def calls_with_mask(layer) -> bool:
    return getattr(layer, "uses_mask", False)


class Serial(Layer):
    """Run layers one after the other, as the course's `tl.Serial`. Nested lists flatten.

    The attention mask is handed to the layers that use it (attention, and combinators that
    contain attention): `Serial(...)(x, mask=mask)`.
    """

    uses_mask = True

    def __init__(self, *layers):
        flat = []
        for layer in layers:
            flat.extend(layer if isinstance(layer, (list, tuple)) else [layer])
        self.layers = nnx.List(flat)

    def __call__(self, x: Array, *, mask: Array | None = None) -> Array:
        for layer in self.layers:
            x = layer(x, mask=mask) if calls_with_mask(layer) else layer(x)
        return x

    def describe(self) -> str:
        return describe_nested(type(self).__name__, self.layers)


class Residual(Layer):
    """x + Serial(*layers)(x), the course's `tl.Residual`: the skip connection.

    `post_norm` applies a norm after the addition, norm(x + f(x)): that is the post-LN
    transformer of the original paper and of BERT. Without it, the norm goes first inside
    the layers (pre-LN, as in the course, GPT-2 and T5).
    """

    uses_mask = True

    def __init__(self, *layers, post_norm: Layer | None = None):
        self.body = Serial(*layers)
        self.post_norm = post_norm

    def __call__(self, x: Array, *, mask: Array | None = None) -> Array:
        y = x + self.body(x, mask=mask)
        return self.post_norm(y) if self.post_norm is not None else y

    def describe(self) -> str:
        layers = list(self.body.layers) + ([self.post_norm] if self.post_norm is not None else [])
        return describe_nested("Residual" + ("_then_norm" if self.post_norm is not None else ""),
                               layers)


# --------------------------------------------------------------------------- attention


def check_mask(mask: Array, batch: int, query: int, key: int) -> None:
    expected = f"(batch, 1, query, key) = ({batch}, 1, {query}, {key})"
    if mask.ndim != 4:
        raise ValueError(f"mask has shape {tuple(mask.shape)}; expected 4 axes {expected}, "
                         "size-1 batch and query axes broadcast (see minitrans.masks)")
    b, h, q, k = mask.shape
    if b not in (1, batch) or h != 1 or q not in (1, query) or k != key:
        raise ValueError(f"mask has shape {tuple(mask.shape)}; expected {expected}, "
                         "size-1 batch and query axes broadcast (see minitrans.masks)")
    if mask.dtype != jnp.bool_:
        raise TypeError(f"mask must be boolean (True = may attend), got dtype {mask.dtype}")


def scaled_dot_product_attention(q: Array, k: Array, v: Array, mask: Array | None = None,
                                 bias: Array | None = None, scaled: bool = True,
                                 dropout: Callable[[Array], Array] | None = None):
    """softmax(q k^T / sqrt(d_head) + bias) v, "Attention Is All You Need", section 3.2.1.

    q: (batch, heads, query, d_head); k, v: (batch, heads, key, d_head) (or any leading axes, such
    as batch x heads as one: the decoding caches of MultiHeadAttention).
    mask: boolean, True = may attend, broadcastable to (batch, 1, query, key).
    bias: added to the scores before the softmax (T5's relative position bias).
    scaled=False skips the 1/sqrt(d_head) factor (T5 folds it into its initialisation).
    dropout: applied to the attention weights (train mode only).
    Returns (output (batch, heads, query, d_head), weights (batch, heads, query, key)).
    Masked positions get exactly zero weight; a query that may attend to nothing (a fully
    padded row) gets all-zero weights and a zero output, never NaN.
    """
    # BEGIN SOLUTION
    scores = jnp.einsum("...qd,...kd->...qk", q, k)  # (batch, heads, query, key)
    if scaled:
        scores = scores / jnp.sqrt(jnp.asarray(q.shape[-1], scores.dtype))
    if bias is not None:
        scores = scores + bias
    if mask is not None:
        scores = jnp.where(mask, scores, jnp.finfo(scores.dtype).min)
    weights = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(q.dtype)
    if mask is not None:
        weights = jnp.where(mask, weights, 0.0)  # exact zeros, also for fully masked rows
    if dropout is not None:
        weights = dropout(weights)
    output = jnp.einsum("...qk,...kd->...qd", weights, v)  # (batch, heads, query, d_head)
    # END SOLUTION
    return output, weights


_recorded_weights: list | None = None  # set by recording_attention


@contextmanager
def recording_attention():
    """`with recording_attention() as weights: model(...)` collects the attention weights
    (batch, heads, query, key) of every MultiHeadAttention call, in the order of the calls (for
    a BERT: layer 0, 1, ...): what pictures of attention draw. Run the model eagerly (not under
    jax.jit) inside it."""
    global _recorded_weights
    previous, _recorded_weights = _recorded_weights, []
    try:
        yield _recorded_weights
    finally:
        _recorded_weights = previous


def merge_heads_axis(t: Array) -> Array:
    """(batch, heads, n, m) -> (batch x heads, n, m)."""
    return t.reshape(t.shape[0] * t.shape[1], *t.shape[2:])


class MultiHeadAttention(Layer):
    """Multi-head attention (Vaswani et al., 2017, section 3.2.2).

    Project the queries (from `x`) and keys and values (from `context`, or from `x` itself for
    self-attention) into `num_heads` heads of size `head_dim`, attend in each head, join the
    heads and project back to d_model. Options cover the models of the course: biases on the
    projections (BERT, GPT) or none (T5); scaled scores (all but T5); an additive position
    bias (T5); attention-weight dropout (BERT).
    """

    uses_mask = True

    def __init__(self, d_model: int, num_heads: int, *, head_dim: int | None = None,
                 use_bias: bool = True, scaled: bool = True, dropout_rate: float = 0.0,
                 kernel_init=default_kernel_init, rngs: nnx.Rngs):
        if num_heads < 1:
            raise ValueError(f"num_heads must be at least 1, got {num_heads}")
        if head_dim is None:
            if d_model % num_heads:
                raise ValueError(f"d_model={d_model} is not divisible by num_heads={num_heads}; "
                                 "choose num_heads dividing d_model or pass head_dim")
            head_dim = d_model // num_heads
        self.d_model, self.num_heads, self.head_dim, self.scaled = d_model, num_heads, head_dim, scaled
        inner = num_heads * head_dim
        dense = dict(use_bias=use_bias, kernel_init=kernel_init, rngs=rngs)
        self.query = Dense(d_model, inner, **dense)
        self.key = Dense(d_model, inner, **dense)
        self.value = Dense(d_model, inner, **dense)
        self.output = Dense(inner, d_model, **dense)
        self.dropout = Dropout(dropout_rate, rngs=rngs)
        self.cached_key, self.cached_value, self.cache_index = nnx.data(None), nnx.data(None), nnx.data(None)
        self.beams, self.ancestors = 1, nnx.data(None)

    def split_heads(self, x: Array) -> Array:
        batch, seq, _ = x.shape
        x = x.reshape(batch, seq, self.num_heads, self.head_dim)  # (batch, seq, heads, head_dim)
        return x.transpose(0, 2, 1, 3)  # (batch, heads, seq, head_dim)

    # Decoding one token at a time (minitrans.generation): each step computes the keys and
    # values of its new positions only and attends to those of every position so far, kept here.
    # The caches hold the batch and head axes as one, (batch x heads, head_dim, key) for the keys
    # and (batch x heads, key, head_dim) for the values, and attention over them runs on arrays
    # of that shape (`attend_merged`). Kept as (batch, heads, ...), XLA:CPU copied each cache
    # three times a step at batch 1 (dropping the size-1 axis for the products split the
    # in-place update in two). The keys are kept transposed: the scores' product reads them in
    # the order it multiplies them (on XLA:CPU, 1.1-3.9x faster). Both in benchmarks/RESULTS.md.
    #
    # Beam search (beams > 1): the rows of x are an example's beams one after the other, and a
    # beam often continues another row's beam. Copying every cache to the row of the beam it
    # continues would move all the keys and values at every step. Instead they stay where they
    # were written: the caches hold each example's beams side by side (position by position:
    # key p x beams + j is beam j's at position p), and `ancestors` (rows, length) says which
    # beam wrote each position of a row's history. Each beam then attends to all its example's
    # keys, masked to its own history (`attend_across_beams`).

    def init_cache(self, batch: int, max_length: int, beams: int = 1) -> None:
        """Self-attention: empty key and value caches of `max_length` positions (for each of
        `beams` beams of `batch` examples); each call then writes its positions' keys and values
        at `cache_index` and attends to the whole cache (its mask must cover max_length keys:
        minitrans.masks.cached_causal_mask)."""
        shape = (batch * self.num_heads, max_length * beams, self.head_dim)  # (batch x heads, key, head_dim)
        if beams > 1:
            own = jnp.arange(batch * beams, dtype=jnp.int32)[:, None] % beams  # (rows, 1): each row its own beam
            self.ancestors = nnx.Cache(jnp.broadcast_to(own, (batch * beams, max_length)))
        self.cached_key = nnx.Cache(jnp.zeros(shape).swapaxes(1, 2))  # (batch x heads, head_dim, key)
        self.cached_value = nnx.Cache(jnp.zeros(shape))
        self.cache_index = nnx.Cache(jnp.zeros((), jnp.int32))
        self.beams = beams

    def init_static_cache(self, context: Array, beams: int = 1) -> None:
        """Cross-attention: the keys and values of `context` (the encoder's output, one row per
        example), computed once; each call then attends to them and does not project the
        context again (for `beams` > 1, every beam of an example to its example's)."""
        keys = merge_heads_axis(self.split_heads(self.key(context)))  # (batch x heads, key, head_dim)
        self.cached_key = nnx.Cache(keys.swapaxes(1, 2))  # (batch x heads, head_dim, key)
        self.cached_value = nnx.Cache(merge_heads_axis(self.split_heads(self.value(context))))
        self.cache_index = nnx.data(None)
        self.beams = beams

    def clear_cache(self) -> None:
        self.cached_key, self.cached_value, self.cache_index = nnx.data(None), nnx.data(None), nnx.data(None)
        self.beams, self.ancestors = 1, nnx.data(None)

    @property
    def cache_length(self) -> int:
        return self.cached_value.shape[1] if self.ancestors is None else self.ancestors.shape[1]

    def reorder_cache(self, rows: Array) -> None:
        """Beam search: row i continues the beam of row `rows[i]` (rows (batch x beams,)), so it
        takes that beam's history. No key or value moves; the encoder's stay shared."""
        if self.ancestors is not None:
            self.ancestors[...] = self.ancestors[...][rows]

    def keys_and_values(self, x: Array, context: Array) -> tuple[Array, Array]:
        """(keys, values): projected from `context`, each (batch, heads, key, head_dim); or from
        the cache, each (batch x heads, key, head_dim) (for beams > 1, key x beams), the new
        positions `x` written into it first (self-attention)."""
        if self.cached_key is None:
            return self.split_heads(self.key(context)), self.split_heads(self.value(context))
        if self.cache_index is None:  # static: the encoder's, computed once
            return self.cached_key[...].swapaxes(1, 2), self.cached_value[...]
        keys, values = self.split_heads(self.key(x)), self.split_heads(self.value(x))  # (rows, heads, new, head_dim)
        index = self.cache_index[...]
        if self.beams > 1:
            keys, values = self.beams_inside(keys), self.beams_inside(values)  # (batch, heads, new x beams, head_dim)
            own = jnp.arange(len(x), dtype=jnp.int32)[:, None] % self.beams  # each row writes its own positions
            self.ancestors[...] = jax.lax.dynamic_update_slice(
                self.ancestors[...], jnp.broadcast_to(own, x.shape[:2]), (0, index))
        keys, values = merge_heads_axis(keys), merge_heads_axis(values)  # (batch x heads, new, head_dim)
        first = index * self.beams  # where the new keys go
        self.cached_key[...] = jax.lax.dynamic_update_slice(self.cached_key[...], keys.swapaxes(1, 2), (0, 0, first))
        self.cached_value[...] = jax.lax.dynamic_update_slice(self.cached_value[...], values, (0, first, 0))
        self.cache_index[...] = index + x.shape[1]
        return self.cached_key[...].swapaxes(1, 2), self.cached_value[...]

    def beams_inside(self, t: Array, beams_first: bool = False) -> Array:
        """(batch x beams, heads, n, m) -> (batch, heads, n x beams, m), each example's beams
        side by side (or, beams_first, one after the other: (batch, heads, beams x n, m))."""
        rows, heads, n, m = t.shape
        t = t.reshape(rows // self.beams, self.beams, heads, n, m)  # (batch, beams, heads, n, m)
        t = t.transpose(0, 2, 1, 3, 4) if beams_first else t.transpose(0, 2, 3, 1, 4)
        return t.reshape(rows // self.beams, heads, n * self.beams, m)

    def attend_merged(self, q: Array, k: Array, v: Array, mask: Array | None, bias: Array | None):
        """Attention of q (batch, heads, query, head_dim) over cached keys and values (batch x
        heads, key, head_dim), with the batch and head axes as one; the mask and bias are
        broadcast to every head. -> (batch, heads, query, head_dim), weights (batch, heads, query, key)."""
        batch, heads, query, _ = q.shape

        def merged(t):  # (batch or 1, heads or 1, query or 1, key) -> (batch x heads, query, key)
            return None if t is None else merge_heads_axis(jnp.broadcast_to(t, (batch, heads, query, t.shape[3])))

        out, weights = scaled_dot_product_attention(merge_heads_axis(q), k, v, mask=merged(mask), bias=merged(bias),
                                                    scaled=self.scaled, dropout=self.dropout)
        return out.reshape(batch, heads, query, -1), weights.reshape(batch, heads, query, -1)

    def attend_across_beams(self, q: Array, k: Array, v: Array, mask: Array | None, bias: Array | None):
        """Beam search's attention: an example's beams become its queries, (batch, heads, beams x
        new, head_dim), over the keys of all its beams' rows (self-attention) or of the encoder,
        each beam masked to its own history. -> (rows, heads, new, head_dim), weights."""
        rows, heads, new, _ = q.shape
        batch, beams = rows // self.beams, self.beams

        def as_queries(t):  # (rows or 1, h, new or 1, key) -> (batch, h, beams x new, key)
            return self.beams_inside(jnp.broadcast_to(t, (rows, t.shape[1], new, t.shape[3])), beams_first=True)

        q = as_queries(q)
        mask = None if mask is None else as_queries(mask)
        bias = None if bias is None else as_queries(bias)
        if self.ancestors is not None:  # self-attention: keys (batch x heads, length x beams, head_dim)
            wrote = self.ancestors[...][:, :, None] == jnp.arange(beams)  # (rows, length, beams)
            history = as_queries(wrote.reshape(rows, 1, 1, -1))  # (batch, 1, beams x new, length x beams)
            mask = history if mask is None else jnp.repeat(mask, beams, axis=3) & history
            bias = None if bias is None else jnp.repeat(bias, beams, axis=3)
        out, weights = self.attend_merged(q, k, v, mask, bias)  # out: (batch, heads, beams x new, head_dim)
        out = out.reshape(batch, heads, beams, new, -1).transpose(0, 2, 1, 3, 4)  # (batch, beams, heads, new, head_dim)
        return out.reshape(rows, heads, new, -1), weights

    def __call__(self, x: Array, context: Array | None = None, *, mask: Array | None = None,
                 position_bias: Array | None = None, return_weights: bool = False):
        """x: (batch, query, d_model); context: (batch, key, d_model) for cross-attention."""
        context = x if context is None else context
        for name, t in (("x", x), ("context", context)):
            if t.ndim != 3 or t.shape[-1] != self.d_model:
                raise ValueError(f"MultiHeadAttention expects {name} of shape (batch, seq, "
                                 f"d_model={self.d_model}), got {tuple(t.shape)}")
        batch, query_len, _ = x.shape
        q = self.split_heads(self.query(x))  # (batch, heads, query, head_dim)
        k, v = self.keys_and_values(x, context)  # (batch, heads, key, head_dim); cached: (batch x heads, key, head_dim)
        if mask is not None:  # in beam search, over one beam's positions
            check_mask(mask, batch, query_len, k.shape[-2] if self.ancestors is None else self.cache_length)
        if self.beams > 1:
            heads, weights = self.attend_across_beams(q, k, v, mask, position_bias)
        elif self.cached_key is not None:
            heads, weights = self.attend_merged(q, k, v, mask, position_bias)
        else:
            heads, weights = scaled_dot_product_attention(
                q, k, v, mask=mask, bias=position_bias, scaled=self.scaled, dropout=self.dropout)
        heads = heads.transpose(0, 2, 1, 3).reshape(batch, query_len, -1)  # (batch, query, inner)
        out = self.output(heads)  # (batch, query, d_model)
        if _recorded_weights is not None:
            _recorded_weights.append(weights)
        return (out, weights) if return_weights else out

    def describe(self) -> str:
        return f"MultiHeadAttention_{self.num_heads}heads"


# --------------------------------------------------------------------------- positions


def sinusoidal_table(length: int, features: int) -> np.ndarray:
    """PE[pos, 2i] = sin(pos / 10000^(2i/d)), PE[pos, 2i+1] = cos(...) (Vaswani et al., 3.5)."""
    positions = np.arange(length)[:, None]  # (length, 1)
    rates = 1.0 / 10000 ** (np.arange(0, features, 2) / features)  # (ceil(features/2),)
    table = np.zeros((length, features), dtype=np.float32)
    table[:, 0::2] = np.sin(positions * rates)
    table[:, 1::2] = np.cos(positions * rates[: features // 2])
    return table


def check_length(layer: str, x: Array, max_length: int, features: int) -> None:
    check_last_dim(layer, x, features)
    if x.ndim != 3:
        raise ValueError(f"{layer} expects (batch, seq, {features}), got shape {tuple(x.shape)}")
    if x.shape[1] > max_length:
        raise ValueError(f"{layer}: input has {x.shape[1]} positions, max_length is {max_length}")


class SinusoidalPositionalEmbedding(Layer):
    """Adds the fixed sine/cosine position signal of the original transformer to x
    (the course's `tl.PositionalEncoding`). Nothing is learned."""

    def __init__(self, max_length: int, features: int):
        self.max_length, self.features = max_length, features

    def __call__(self, x: Array) -> Array:
        check_length("SinusoidalPositionalEmbedding", x, self.max_length, self.features)
        table = sinusoidal_table(x.shape[1], self.features)  # (seq, features), a constant
        return x + jnp.asarray(table, x.dtype)


class LearnedPositionalEmbedding(Layer):
    """Adds a learned vector per position to x (BERT, GPT-2)."""

    def __init__(self, max_length: int, features: int, *,
                 embedding_init=normal(stddev=0.02), rngs: nnx.Rngs):
        self.max_length, self.features = max_length, features
        self.table = Embedding(max_length, features, embedding_init=embedding_init, rngs=rngs)

    def __call__(self, x: Array) -> Array:
        check_length("LearnedPositionalEmbedding", x, self.max_length, self.features)
        return x + self.table(jnp.arange(x.shape[1]))[None]  # (1, seq, features) broadcast
