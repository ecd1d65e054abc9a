"""Plain numpy re-computations of the layers, written independently of the JAX code.

The graded checks of the exercises and the test suite compare minitrans against these:
same parameters in, the same numbers out, with nothing shared but the formulas of the papers.
Each function reads the parameters it needs from a minitrans module by attribute.
"""

import math

import numpy as np


def p(param) -> np.ndarray:
    """The value of an nnx.Param as a float64 numpy array."""
    return np.asarray(param[...], dtype=np.float64)


def dense(x, layer):
    y = x @ p(layer.kernel)
    return y + p(layer.bias) if layer.bias is not None else y


def layer_norm(x, layer, eps=None):
    """LayerNorm with the layer's scale and bias; `eps` from the caller when given."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + (layer.eps if eps is None else eps)) * p(layer.scale)
    return y + p(layer.bias) if layer.bias is not None else y


def rms_norm(x, layer):
    return x / np.sqrt((x ** 2).mean(-1, keepdims=True) + layer.eps) * p(layer.scale)


def softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def gelu(x):
    from scipy.special import erf  # scipy comes with jax
    return 0.5 * x * (1 + erf(x / math.sqrt(2)))


def gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


ACTIVATIONS = {"relu": lambda x: np.maximum(x, 0), "gelu": gelu, "gelu_new": gelu_tanh,
               "gelu_tanh": gelu_tanh, "silu": lambda x: x / (1 + np.exp(-x)), "tanh": np.tanh}


def activate(x, name):
    """The activation named as in Hugging Face configs; "gated-gelu" is T5 v1.1's tanh GELU, gated."""
    if name.startswith("gated-"):
        a, b = np.split(x, 2, axis=-1)
        base = name[len("gated-"):]
        return ACTIVATIONS["gelu_new" if base == "gelu" else base](a) * b
    return ACTIVATIONS[name](x)


def attention(q, k, v, mask=None, bias=None, scaled=True):
    """Loop-free but independent: q (b,h,q,d), k/v (b,h,k,d), mask broadcastable to (b,1,q,k)."""
    scores = np.matmul(q, np.swapaxes(k, -1, -2))
    if scaled:
        scores = scores / math.sqrt(q.shape[-1])
    if bias is not None:
        scores = scores + bias
    if mask is None:
        weights = softmax(scores)
    else:
        mask = np.broadcast_to(np.asarray(mask, bool), scores.shape)
        weights = np.zeros_like(scores)
        for index in np.ndindex(scores.shape[:-1]):
            row_mask = mask[index]
            if row_mask.any():
                weights[index][row_mask] = softmax(scores[index][row_mask])
    return np.matmul(weights, v), weights


def multi_head_attention(x, layer, context=None, mask=None, bias=None, *, num_heads=None, scaled=None,
                         keep=None):
    """Multi-head attention with the layer's four projections. `num_heads` and `scaled` come from
    the caller when given (a graded check states them), else from the layer; `keep` is a
    boolean mask of the attention weights, scaled by 1 / (mean keep probability) (dropout)."""
    context = x if context is None else context
    b, t, _ = x.shape
    h = layer.num_heads if num_heads is None else num_heads
    d = p(layer.query.kernel).shape[1] // h
    scaled = layer.scaled if scaled is None else scaled

    def heads(y):
        return y.reshape(y.shape[0], y.shape[1], h, d).transpose(0, 2, 1, 3)

    q, k, v = heads(dense(x, layer.query)), heads(dense(context, layer.key)), heads(dense(context, layer.value))
    _, weights = attention(q, k, v, mask, bias, scaled)
    if keep is not None:
        weights = weights * keep[0] / keep[1]
    out = np.matmul(weights, v)
    return dense(out.transpose(0, 2, 1, 3).reshape(b, t, h * d), layer.output), weights


def part(module, path: str, kind: str):
    """The sub-layer of `module` at `path` ("layers.0.body.layers.1"), which must be a `kind`.
    A graded check reads a student's parameters this way: where the course's structure puts
    them, so a block built differently fails with a message saying what was expected where."""
    from minitrans.exercises import CheckFailed

    node = module
    for step in path.split("."):
        try:
            node = node[int(step)] if step.isdigit() else getattr(node, step)
        except (AttributeError, IndexError, KeyError, TypeError):
            node = None
        if node is None:
            break
    if type(node).__name__ != kind:
        found = "nothing" if node is None else f"a {type(node).__name__}"
        raise CheckFailed(f"expected a {kind} at {type(module).__name__}.{path}, found {found}")
    return node


def dropped(x, keep):
    """Dropout with a given mask: `keep` is (boolean mask, 1 - rate), or None for no dropout."""
    return x if keep is None else np.where(keep[0], x / keep[1], 0.0)


def feed_forward_block(x, block, *, norm_position="pre", activation="relu", eps=1e-6, keep=None):
    """The course's FeedForwardBlock, configured by the caller: pre-LN
    [LayerNorm, Dense, activation, Dropout, Dense, Dropout] or post-LN [Dense, activation, Dense,
    Dropout]. `keep` = {"middle": ..., "output": ...} dropout masks (see `dropped`), else eval mode."""
    keep = keep or {}
    if norm_position == "pre":
        ln = part(block, "layers.0", "LayerNorm")
        x = layer_norm(x, ln, eps)
        widen, narrow = part(block, "layers.1", "Dense"), part(block, "layers.4", "Dense")
        hidden = dropped(activate(dense(x, widen), activation), keep.get("middle"))
    else:
        widen, narrow = part(block, "layers.0", "Dense"), part(block, "layers.2", "Dense")
        hidden = activate(dense(x, widen), activation)
    return dropped(dense(hidden, narrow), keep.get("output"))


def encoder_block(x, block, mask=None, *, num_heads, norm_position="pre", activation="relu", eps=1e-6, keep=None):
    """EncoderBlock as the course (pre-LN) or BERT (post-LN) builds it, configured by the caller.
    `keep`: dropout masks {"attention", "residual", "middle", "output"} (see `dropped`)."""
    keep = keep or {}
    ff = {"middle": keep.get("middle"), "output": keep.get("output")}
    if norm_position == "pre":
        ln = part(block, "layers.0.body.layers.0", "LayerNorm")
        mha = part(block, "layers.0.body.layers.1", "MultiHeadAttention")
        y = x + dropped(multi_head_attention(layer_norm(x, ln, eps), mha, mask=mask, num_heads=num_heads,
                                             scaled=True, keep=keep.get("attention"))[0], keep.get("residual"))
        return y + feed_forward_block(y, part(block, "layers.1.body.layers.0", "FeedForwardBlock"),
                                      norm_position="pre", activation=activation, eps=eps, keep=ff)
    mha = part(block, "layers.0.body.layers.0", "MultiHeadAttention")
    first, second = part(block, "layers.0.post_norm", "LayerNorm"), part(block, "layers.1.post_norm", "LayerNorm")
    y = layer_norm(x + dropped(multi_head_attention(x, mha, mask=mask, num_heads=num_heads, scaled=True,
                                                   keep=keep.get("attention"))[0], keep.get("residual")), first, eps)
    ff_out = feed_forward_block(y, part(block, "layers.1.body.layers.0", "FeedForwardBlock"), norm_position="post",
                                activation=activation, eps=eps, keep=ff)
    return layer_norm(y + ff_out, second, eps)


def relative_position_bucket(relative_position: int, bidirectional: bool, num_buckets: int = 32,
                             max_distance: int = 128) -> int:
    """T5's bucket of one relative position (key - query), one integer at a time, from the paper's
    description (Raffel et al., 2020, section 2.1): with bidirectional buckets, keys after the
    query use the upper half of the buckets; within a half, the first quarter of the buckets
    holds the distances 0, 1, 2, ... one each, and the rest spread the distances up to
    max_distance evenly on a log scale, anything farther sharing the last bucket."""
    per_side = num_buckets // 2 if bidirectional else num_buckets
    if bidirectional:
        first = per_side if relative_position > 0 else 0
        distance = abs(relative_position)
    else:  # the decoder: only keys before the query are told apart
        first, distance = 0, max(0, -relative_position)
    one_each = per_side // 2
    if distance < one_each:
        return first + distance
    steps = math.log(distance / one_each) / math.log(max_distance / one_each) * (per_side - one_each)
    return first + min(one_each + int(steps), per_side - 1)


def span_corruption(ids, draws, noise: float, vocab_size: int, convention: str, eos_id=None):
    """tokenize_and_mask from whole arrays: a token is masked where its draw is below `noise`;
    a masked token after an unmasked one (or first) opens a span, the k-th span's sentinel is
    vocab_size - k; inputs keep the unmasked tokens and each span's sentinel, targets each
    sentinel followed by its span."""
    ids, masked = np.asarray(ids), np.asarray(draws) < noise
    opens = masked & ~np.concatenate([[False], masked[:-1]])
    sentinels = vocab_size - np.cumsum(opens)
    inputs = [int(s) if o else int(t) for t, m, o, s in zip(ids, masked, opens, sentinels) if o or not m]
    targets = [int(x) for t, m, o, s in zip(ids, masked, opens, sentinels) if m for x in ([s, t] if o else [t])]
    spans = int(opens.sum())
    if convention == "t5":
        targets += [vocab_size - spans - 1] if spans else []
        if eos_id is not None:
            inputs, targets = inputs + [eos_id], targets + [eos_id]
    elif convention == "course-2023":
        targets.append(eos_id)
    return inputs, targets


def sinusoidal_table(length, features):
    table = np.zeros((length, features))
    for pos in range(length):
        for i in range(features):
            angle = pos / 10000 ** ((i - i % 2) / features)
            table[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    return table


def transformer_encoder(ids, model, attention_mask=None, *, num_heads, activation="relu", eps=1e-6,
                        embedding_keep=None, pool="real"):
    """The course's TransformerEncoder classifier (pre-LN blocks), configured by the caller:
    embedding -> dropout (`embedding_keep`, see `dropped`) -> + positions -> blocks -> LayerNorm
    -> mean over the real positions (pool="real") or all of them (pool="all") -> Dense -> log-softmax."""
    ids = np.asarray(ids)
    real = (ids != 0) if attention_mask is None else np.asarray(attention_mask, bool)
    x = dropped(p(model.embedding.embedding)[ids], embedding_keep) + sinusoidal_table(ids.shape[1],
                                                                                     model.embedding.features)
    mask = real[:, None, None, :]
    for block in model.blocks.layers:
        x = encoder_block(x, block, mask, num_heads=num_heads, activation=activation, eps=eps)
    x = layer_norm(x, model.norm, eps)
    weights = real if pool == "real" else np.ones_like(real)
    pooled = (x * weights[..., None]).sum(1) / np.maximum(weights.sum(1, keepdims=True), 1)
    return log_softmax(dense(pooled, model.head))
