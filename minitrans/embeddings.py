"""Sentence embeddings from a BERT encoder: feature-based transfer learning.

The encoder stays frozen; a sentence's vector is the mean of its token vectors (real tokens
only, under the attention mask), normalised to length 1, so the dot product of two sentence
vectors is their cosine similarity. This is how all-MiniLM-L6-v2 was trained to be used
(sentence-transformers: mean pooling, then normalisation).
"""

import jax
import jax.numpy as jnp
import numpy as np

from minitrans.kernels import compiled_call


def mean_pooling(last_hidden_state: jax.Array, attention_mask: jax.Array) -> jax.Array:
    """(batch, seq, hidden), (batch, seq) -> (batch, hidden): the average over real tokens."""
    mask = jnp.asarray(attention_mask, last_hidden_state.dtype)[..., None]  # (batch, seq, 1)
    return (last_hidden_state * mask).sum(1) / jnp.maximum(mask.sum(1), 1e-9)


def normalize(vectors: jax.Array) -> jax.Array:
    return vectors / jnp.maximum(jnp.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


def sentence_embeddings(model, tokenizer, sentences: list[str], batch_size: int = 32,
                        max_length: int = 256) -> np.ndarray:
    """Unit-length sentence vectors (len(sentences), hidden) from a BertModel in eval mode."""
    if isinstance(sentences, str):
        sentences = [sentences]
    if not sentences:
        raise ValueError("no sentences to embed")
    out = []
    for start in range(0, len(sentences), batch_size):
        batch = tokenizer(sentences[start:start + batch_size], max_length=max_length, truncation=True)
        hidden = compiled_call(model, batch["input_ids"], batch["token_type_ids"], batch["attention_mask"]).last_hidden_state
        out.append(np.asarray(normalize(mean_pooling(hidden, batch["attention_mask"]))))
    return np.concatenate(out)
