"""ELMo (Peters et al., 2018): contextual word vectors from a bidirectional language model.

Two stacked LSTMs read the sentence left to right and predict each next word; two more read
it right to left and predict each previous word. A word's ELMo vector is a learned weighted
sum of its representations at every layer (token embedding, LSTM layer 1, LSTM layer 2),
each the concatenation of both directions. Unlike CBOW's fixed window, every word sees the
whole sentence, so "right" gets different vectors in different sentences.

The LSTM cell is written by hand and run over the sequence with `jax.lax.scan` (the loop over
time is the lesson here). Simplification: tokens are embedded with a word table; the paper
uses a character CNN.
"""

import flax.struct
import jax
import jax.numpy as jnp
from flax import nnx

from minitrans.kernels import normal
from minitrans.losses import cross_entropy
from minitrans.nn import Dense, Embedding


class LSTMCell(nnx.Module):
    """One step of a long short-term memory (Hochreiter & Schmidhuber, 1997):

        i, f, g, o = split(W [x; h] + b)                    four gates from input and state
        c' = sigmoid(f) * c + sigmoid(i) * tanh(g)          forget some memory, write some
        h' = sigmoid(o) * tanh(c')                          expose some memory
    """

    def __init__(self, input_size: int, hidden_size: int, *, rngs: nnx.Rngs):
        self.hidden_size = hidden_size
        self.gates = Dense(input_size + hidden_size, 4 * hidden_size, rngs=rngs)

    def __call__(self, carry: tuple[jax.Array, jax.Array], x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """carry = (h, c), each (batch, hidden); x (batch, input) -> the new (h, c)."""
        # BEGIN SOLUTION
        h, c = carry
        i, f, g, o = jnp.split(self.gates(jnp.concatenate([x, h], axis=-1)), 4, axis=-1)
        c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
        h = jax.nn.sigmoid(o) * jnp.tanh(c)
        return h, c
        # END SOLUTION


class LSTM(nnx.Module):
    """An LSTMCell run over a whole sequence with jax.lax.scan; `reverse=True` reads it right
    to left. Padding positions (mask 0) leave the state unchanged."""

    def __init__(self, input_size: int, hidden_size: int, *, reverse: bool = False, rngs: nnx.Rngs):
        self.cell = LSTMCell(input_size, hidden_size, rngs=rngs)
        self.reverse = reverse

    def __call__(self, x: jax.Array, mask: jax.Array) -> jax.Array:
        """x (batch, seq, input), mask (batch, seq) -> hidden states (batch, seq, hidden)."""
        batch = x.shape[0]
        zeros = jnp.zeros((batch, self.cell.hidden_size), x.dtype)

        def step(carry, inputs):
            x_t, m_t = inputs  # (batch, input), (batch,)
            h, c = self.cell(carry, x_t)
            keep = m_t[:, None] > 0
            carry = (jnp.where(keep, h, carry[0]), jnp.where(keep, c, carry[1]))
            return carry, carry[0]

        time_major = (x.transpose(1, 0, 2), mask.transpose(1, 0).astype(x.dtype))  # (seq, batch, ...)
        _, hs = jax.lax.scan(step, (zeros, zeros), time_major, reverse=self.reverse)
        return hs.transpose(1, 0, 2)  # (batch, seq, hidden)


@flax.struct.dataclass
class ELMoOutput:
    forward_logits: jax.Array  # (batch, seq, vocab): each position's scores for the next word
    backward_logits: jax.Array  # (batch, seq, vocab): ... and for the previous word


class ELMo(nnx.Module):
    """A two-layer bidirectional LSTM language model with a scalar mix of its layers."""

    def __init__(self, vocab_size: int, dim: int = 128, *, rngs: nnx.Rngs):
        self.embedding = Embedding(vocab_size, dim, embedding_init=normal(0.1), rngs=rngs)
        self.forward1, self.forward2 = (LSTM(dim, dim, rngs=rngs) for _ in range(2))
        self.backward1, self.backward2 = (LSTM(dim, dim, reverse=True, rngs=rngs) for _ in range(2))
        self.softmax = Dense(dim, vocab_size, rngs=rngs)  # shared by both directions, as in ELMo
        self.mix_weights = nnx.Param(jnp.zeros((3,)))  # s_j: softmax-normalised layer weights
        self.gamma = nnx.Param(jnp.ones(()))

    def layers(self, ids: jax.Array, mask: jax.Array) -> list[jax.Array]:
        """The three representations of each word, each (batch, seq, 2 * dim)."""
        x = self.embedding(ids)  # (batch, seq, dim)
        f1, b1 = self.forward1(x, mask), self.backward1(x, mask)
        f2, b2 = f1 + self.forward2(f1, mask), b1 + self.backward2(b1, mask)  # residual, as in ELMo
        return [jnp.concatenate([x, x], -1), jnp.concatenate([f1, b1], -1), jnp.concatenate([f2, b2], -1)]

    def __call__(self, ids: jax.Array, mask: jax.Array | None = None) -> "ELMoOutput":
        """Forward-LM scores (each position -> next word) and backward-LM scores (-> previous)."""
        mask = (ids != 0) if mask is None else mask
        top = self.layers(ids, mask)[2]  # (batch, seq, 2 * dim)
        forward, backward = jnp.split(top, 2, axis=-1)
        return ELMoOutput(self.softmax(forward), self.softmax(backward))

    def embed(self, ids: jax.Array, mask: jax.Array | None = None) -> jax.Array:
        """ELMo vectors: gamma * sum_j softmax(s)_j * layer_j, (batch, seq, 2 * dim)."""
        mask = (ids != 0) if mask is None else mask
        weights = jax.nn.softmax(self.mix_weights[...])
        return self.gamma[...] * sum(w * layer for w, layer in zip(weights, self.layers(ids, mask)))


def elmo_loss(model: ELMo, batch: dict):
    """The mean of the forward and the backward language-model cross entropies."""
    ids, mask = batch["input_ids"], batch["input_ids"] != 0
    out = model(ids, mask)
    forward = cross_entropy(out.forward_logits[:, :-1], ids[:, 1:], mask[:, 1:])
    backward = cross_entropy(out.backward_logits[:, 1:], ids[:, :-1], mask[:, :-1])
    loss = (forward + backward) / 2
    return loss, {"loss": loss, "forward_loss": forward, "backward_loss": backward}
