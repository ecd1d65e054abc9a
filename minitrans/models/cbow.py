"""CBOW, the continuous bag of words (Mikolov et al., 2013), as the course builds it.

Predict the centre word of a window from the C words on each side: average the context
words' embeddings (the course's W1 x with x the averaged one-hot vectors), a ReLU, then a
Dense layer to vocabulary scores. The context is a fixed window, and the model gives each
word one vector, whatever the sentence: "right" is the same in "the right side of the street"
and "the right side of history". The learned embeddings support nearest-neighbour and analogy
look-ups.
"""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.kernels import normal
from minitrans.losses import cross_entropy
from minitrans.models.outputs import SequenceClassifierOutput
from minitrans.nn import Dense, Embedding


def context_windows(words: list, half_window: int) -> list[tuple[list, object]]:
    """Every (context, centre) pair of a sentence: the `half_window` words before and after
    each centre word that has a full window. ["i", "am", "happy", "because", "i"], C=2 ->
    [(["i", "am", "because", "i"], "happy")]."""
    # BEGIN SOLUTION
    if half_window < 1:
        raise ValueError(f"the half window C must be at least 1, got {half_window}")
    if len(words) < 2 * half_window + 1:
        raise ValueError(f"a context window of +-{half_window} words needs at least {2 * half_window + 1} "
                         f"words; the sentence has {len(words)}")
    return [(list(words[i - half_window:i]) + list(words[i + 1:i + half_window + 1]), words[i])
            for i in range(half_window, len(words) - half_window)]
    # END SOLUTION


class CBOW(nnx.Module):
    """context ids (batch, 2C) -> scores for the centre word (batch, vocab)."""

    def __init__(self, vocab_size: int, dim: int = 64, *, rngs: nnx.Rngs):
        self.embedding = Embedding(vocab_size, dim, embedding_init=normal(0.1), rngs=rngs)
        self.hidden_bias = nnx.Param(jnp.zeros((dim,)))
        self.output = Dense(dim, vocab_size, rngs=rngs)

    def __call__(self, context_ids: jax.Array) -> SequenceClassifierOutput:
        averaged = self.embedding(context_ids).mean(axis=1)  # (batch, dim): W1 x
        return SequenceClassifierOutput(self.output(jax.nn.relu(averaged + self.hidden_bias[...])))  # (batch, vocab)

    def word_vectors(self) -> np.ndarray:
        """One vector per word: the embedding table (the course's W1)."""
        return np.asarray(self.embedding.embedding[...])


def cosine_neighbours(vectors: np.ndarray, query: np.ndarray, k: int, exclude=()) -> list[int]:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-9)
    scores = unit @ (query / max(np.linalg.norm(query), 1e-9))
    scores[list(exclude)] = -np.inf
    return [int(i) for i in np.argsort(-scores)[:k]]


def nearest(vectors: np.ndarray, vocab, word: str, k: int = 5) -> list[str]:
    if word not in vocab.stoi:
        raise KeyError(f"{word!r} is not in the vocabulary")
    i = vocab.stoi[word]
    return [vocab.itos[j] for j in cosine_neighbours(vectors, vectors[i], k, exclude=(i, 0, 1))]


def analogy(vectors: np.ndarray, vocab, a: str, b: str, c: str, k: int = 1) -> list[str]:
    """a is to b as c is to ?: the words nearest to vec(b) - vec(a) + vec(c)."""
    for word in (a, b, c):
        if word not in vocab.stoi:
            raise KeyError(f"{word!r} is not in the vocabulary")
    ia, ib, ic = (vocab.stoi[w] for w in (a, b, c))
    query = vectors[ib] - vectors[ia] + vectors[ic]
    return [vocab.itos[j] for j in cosine_neighbours(vectors, query, k, exclude=(ia, ib, ic, 0, 1))]


def cbow_loss(model: CBOW, batch: dict):
    loss = cross_entropy(model(batch["context"]).logits, batch["centre"])
    return loss, {"loss": loss}
