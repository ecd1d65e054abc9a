"""The losses of the course, written out: cross entropy, and BERT's two pre-training losses."""

import jax
import jax.numpy as jnp

from minitrans.kernels import negative_log_likelihood

IGNORE = -100  # the label of a position that is not scored (padding, unmasked tokens), as in Hugging Face


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
