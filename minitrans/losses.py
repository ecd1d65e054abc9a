"""The losses of the course, written out: cross entropy, and BERT's two pre-training losses."""

import jax
import jax.numpy as jnp


def cross_entropy(logits: jax.Array, labels: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Mean of -log softmax(logits)[label] over the positions with weight 1.

    logits (..., classes), labels (...) ints, weights (...) 0/1 (default: all 1). Positions with
    weight 0 (padding, unmasked tokens) add nothing; an all-zero weight gives 0, not NaN.
    """
    nll = negative_log_likelihood(logits.astype(jnp.float32), labels.astype(jnp.int32))  # (...)
    if weights is None:
        return nll.mean()
    weights = weights.astype(jnp.float32)
    return (nll * weights).sum() / jnp.maximum(weights.sum(), 1.0)


@jax.custom_vjp
def negative_log_likelihood(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """-log softmax(logits)[label] = logsumexp(logits) - logits[label], per position.

    Its gradient with respect to the logits is softmax(logits) - onehot(label), written out in
    the backward pass below: one pass over the (positions, vocabulary) logits, where autodiff
    of log_softmax + take_along_axis builds a zero tensor of the logits' size, scatters the
    labels into it and keeps the log-probabilities (for a 32,128-token vocabulary, 130 MB per
    32 x 32 target tokens). Same values as the autodiff version (tests/test_nn.py).
    """
    return _nll_forward(logits, labels)[0]


def _nll_forward(logits, labels):
    top = jax.lax.stop_gradient(logits.max(-1, keepdims=True))  # for a stable exp
    log_z = top + jnp.log(jnp.exp(logits - top).sum(-1, keepdims=True))  # (..., 1)
    label_logit = jnp.take_along_axis(logits, labels[..., None], axis=-1)  # (..., 1)
    return (log_z - label_logit)[..., 0], (logits, labels, log_z)


def _nll_backward(saved, g):
    logits, labels, log_z = saved
    onehot = jnp.arange(logits.shape[-1]) == labels[..., None]  # (..., classes), never stored
    return (jnp.exp(logits - log_z) - onehot) * g[..., None], None


negative_log_likelihood.defvjp(_nll_forward, _nll_backward)


def accuracy(logits: jax.Array, labels: jax.Array, weights: jax.Array | None = None) -> jax.Array:
    """Fraction (of weighted positions) where the label has the highest logit. Written as
    "the label's logit is the maximum" rather than argmax == label: a plain max over the
    vocabulary instead of argmax's (value, index) pairs, which cost T5-mini 60 ms a step;
    exact ties count as right."""
    label_logit = jnp.take_along_axis(logits, labels[..., None].astype(jnp.int32), axis=-1)[..., 0]
    correct = (label_logit >= logits.max(-1)).astype(jnp.float32)
    if weights is None:
        return correct.mean()
    weights = weights.astype(jnp.float32)
    return (correct * weights).sum() / jnp.maximum(weights.sum(), 1.0)


def masked_lm_loss(prediction_logits: jax.Array, label_ids: jax.Array, label_weights: jax.Array) -> jax.Array:
    """BERT's multi-mask LM loss: cross entropy at the masked positions only (the slide's
    "predict the masked words"), averaged over them."""
    return cross_entropy(prediction_logits, label_ids, label_weights)


def next_sentence_loss(seq_relationship_logits: jax.Array, next_sentence_labels: jax.Array) -> jax.Array:
    """Binary cross entropy of "is B the sentence after A?" (0 = IsNext, 1 = NotNext)."""
    return cross_entropy(seq_relationship_logits, next_sentence_labels)
