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


def layer_norm(x, layer):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    y = (x - mean) / np.sqrt(var + layer.eps) * p(layer.scale)
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


def activation(x, name):
    if name.startswith("gated-"):
        a, b = np.split(x, 2, axis=-1)
        return ACTIVATIONS[name[len("gated-"):]](a) * b
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


def multi_head_attention(x, layer, context=None, mask=None, bias=None):
    context = x if context is None else context
    b, t, _ = x.shape
    h, d = layer.num_heads, layer.head_dim

    def heads(y):
        return y.reshape(y.shape[0], y.shape[1], h, d).transpose(0, 2, 1, 3)

    out, weights = attention(heads(dense(x, layer.query)), heads(dense(context, layer.key)),
                             heads(dense(context, layer.value)), mask, bias, layer.scaled)
    return dense(out.transpose(0, 2, 1, 3).reshape(b, t, h * d), layer.output), weights


def feed_forward_block(x, block):
    """The course's pre-LN FeedForwardBlock, dropout off: read from its layer list."""
    layers = list(block.layers)
    if type(layers[0]).__name__ == "LayerNorm":
        x = layer_norm(x, layers[0])
        layers = layers[1:]
    dense_layers = [layer for layer in layers if type(layer).__name__ == "Dense"]
    act = next(layer for layer in layers if type(layer).__name__ == "Activation")
    return dense(activation(dense(x, dense_layers[0]), act.name), dense_layers[1])


def encoder_block(x, block, mask=None):
    """EncoderBlock, pre-LN or post-LN, dropout off."""
    attention_res, ff_res = block.layers
    attn_layers = list(attention_res.body.layers)
    if attention_res.post_norm is None:  # pre-LN: x + attn(LN(x)); x + FF(x)
        y = x + multi_head_attention(layer_norm(x, attn_layers[0]), attn_layers[1], mask=mask)[0]
        return y + feed_forward_block(y, ff_res.body.layers[0])
    y = layer_norm(x + multi_head_attention(x, attn_layers[0], mask=mask)[0], attention_res.post_norm)
    return layer_norm(y + feed_forward_block(y, ff_res.body.layers[0]), ff_res.post_norm)


def sinusoidal_table(length, features):
    table = np.zeros((length, features))
    for pos in range(length):
        for i in range(features):
            angle = pos / 10000 ** ((i - i % 2) / features)
            table[pos, i] = math.sin(angle) if i % 2 == 0 else math.cos(angle)
    return table


def transformer_encoder(ids, model, attention_mask=None):
    """The course's TransformerEncoder classifier, dropout off."""
    ids = np.asarray(ids)
    real = (ids != 0) if attention_mask is None else np.asarray(attention_mask, bool)
    x = p(model.embedding.embedding)[ids] + sinusoidal_table(ids.shape[1], model.embedding.features)
    mask = real[:, None, None, :]
    for block in model.blocks.layers:
        x = encoder_block(x, block, mask)
    x = layer_norm(x, model.norm)
    pooled = (x * real[..., None]).sum(1) / np.maximum(real.sum(1, keepdims=True), 1)
    return log_softmax(dense(pooled, model.head))
