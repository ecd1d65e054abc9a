"""Generating text with T5: greedy decoding and beam search, with a key/value cache.

Without a cache, producing token t means running the decoder over all t tokens so far: the
work per token grows with the length. With a cache, each decoder layer keeps the keys and
values of the tokens already produced, so a step computes only the new token's query, key
and value and attends to the cache. The encoder output's cross-attention keys and values are
computed once. The step is a pure function of fixed-size arrays, so `jax.jit` compiles it once
and the Python loop over tokens only calls it (benchmarks/t5_generation.py compares speeds).
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.masks import cross_attention_mask, decoding_mask
from minitrans.nn import is_concrete, scaled_dot_product_attention


def init_cache(model, encoder_output: jax.Array, max_length: int) -> dict:
    """Empty self-attention caches for every decoder layer, and the cross-attention keys and
    values of the encoder output (computed once)."""
    config, batch = model.config, encoder_output.shape[0]
    shape = (batch, config.num_heads, max_length, config.d_kv)
    layers = model.decoder.blocks
    return {"self_k": [jnp.zeros(shape) for _ in layers], "self_v": [jnp.zeros(shape) for _ in layers],
            "cross_k": [b.cross_attention.split_heads(b.cross_attention.key(encoder_output)) for b in layers],
            "cross_v": [b.cross_attention.split_heads(b.cross_attention.value(encoder_output)) for b in layers]}


def decode_step(model, tokens: jax.Array, position: jax.Array, cache: dict, attention_mask: jax.Array,
                max_length: int):
    """One decoder step for the tokens at `position` (batch,) -> (logits (batch, vocab), cache)."""
    if is_concrete(position) and not 0 <= int(position) < max_length:
        raise ValueError(f"position {int(position)} is outside the cache of {max_length} positions: "
                         "build the cache with a larger max_length")
    config, stack = model.config, model.decoder
    x = model.shared(tokens[:, None])  # (batch, 1, d_model)
    bias = stack.relative_position_bias(1, max_length, offset=position)  # (1, heads, 1, max_length)
    self_mask = decoding_mask(position, max_length)  # (1, 1, 1, max_length)
    cross_mask = cross_attention_mask(attention_mask)  # (batch, 1, 1, source)
    new_k, new_v = [], []
    for i, block in enumerate(stack.blocks):
        attention, h = block.self_attention, block.self_attention_norm(x)
        k = jax.lax.dynamic_update_slice(cache["self_k"][i], attention.split_heads(attention.key(h)), (0, 0, position, 0))
        v = jax.lax.dynamic_update_slice(cache["self_v"][i], attention.split_heads(attention.value(h)), (0, 0, position, 0))
        new_k.append(k)
        new_v.append(v)
        out, _ = scaled_dot_product_attention(attention.split_heads(attention.query(h)), k, v, self_mask, bias, scaled=False)
        x = x + attention.output(out.transpose(0, 2, 1, 3).reshape(x.shape[0], 1, -1))
        cross, h = block.cross_attention, block.cross_attention_norm(x)
        out, _ = scaled_dot_product_attention(cross.split_heads(cross.query(h)), cache["cross_k"][i], cache["cross_v"][i],
                                              cross_mask, scaled=False)
        x = x + cross.output(out.transpose(0, 2, 1, 3).reshape(x.shape[0], 1, -1))
        x = x + block.feed_forward(block.feed_forward_norm(x))
    x = stack.final_norm(x)[:, 0]  # (batch, d_model)
    if config.rescale_output:
        x = x * config.d_model ** -0.5
    logits = model.lm_head(x) if model.lm_head is not None else model.shared.attend(x)
    return logits, {**cache, "self_k": new_k, "self_v": new_v}


def check_generation_args(model, input_ids, max_new_tokens: int, num_beams: int):
    if num_beams < 1:
        raise ValueError(f"num_beams must be at least 1, got {num_beams}")
    if max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
    input_ids = jnp.asarray(input_ids)
    if input_ids.ndim != 2:
        raise ValueError(f"input_ids must have shape (batch, seq), got {tuple(input_ids.shape)}")
    return input_ids


@partial(jax.jit, static_argnums=(0,))
def jitted_full_decode(graphdef, state, buffer, position, encoder_output, attention_mask):
    """Without a cache: the whole decoder over the fixed-size buffer (causal, so the padding
    after `position` changes nothing), keeping the scores at `position`. Compiled once."""
    model = nnx.merge(graphdef, state)
    logits = model.decode(buffer, encoder_output, attention_mask)  # (batch, max_length, vocab)
    return jax.lax.dynamic_index_in_dim(logits, position, axis=1, keepdims=False)


@partial(jax.jit, static_argnums=(0, 5))
def jitted_step(graphdef, state, tokens, position, cache_and_mask, max_length):
    model = nnx.merge(graphdef, state)
    cache, attention_mask = cache_and_mask
    return decode_step(model, tokens, position, cache, attention_mask, max_length)


def generate(model, input_ids, *, max_new_tokens: int = 20, num_beams: int = 1, length_penalty: float = 1.0,
             attention_mask=None, use_cache: bool = True) -> np.ndarray:
    """Greedy decoding (num_beams=1) or beam search. Returns (batch, 1 + n) ids, starting with
    the decoder start token; finished rows are padded. use_cache=False re-runs the whole
    decoder at every step (the slow way, for comparison; also compiled once)."""
    input_ids = check_generation_args(model, input_ids, max_new_tokens, num_beams)
    config = model.config
    attention_mask = (input_ids != config.pad_token_id) if attention_mask is None else jnp.asarray(attention_mask)
    if not use_cache and num_beams > 1:
        raise ValueError("beam search runs with the cache only (use_cache=True)")
    model.eval()
    encoder_output = model.encode(input_ids, attention_mask)
    max_length = max_new_tokens + 1
    graphdef, state = nnx.split(model)
    if num_beams > 1:
        return beam_search(model, graphdef, state, encoder_output, attention_mask, max_new_tokens, num_beams,
                           length_penalty)
    cache = init_cache(model, encoder_output, max_length)
    batch = input_ids.shape[0]
    out = np.full((batch, max_length), config.pad_token_id, np.int64)
    out[:, 0] = config.decoder_start_token_id
    done = np.zeros(batch, bool)
    for position in range(max_new_tokens):
        if use_cache:
            logits, cache = jitted_step(graphdef, state, jnp.asarray(out[:, position]), jnp.asarray(position),
                                        (cache, attention_mask), max_length)
        else:
            logits = jitted_full_decode(graphdef, state, jnp.asarray(out, jnp.int32), jnp.asarray(position),
                                        encoder_output, attention_mask)
        token = np.where(done, config.pad_token_id, np.asarray(logits).argmax(-1))
        out[:, position + 1] = token
        done |= token == config.eos_token_id
        if done.all():
            return out[:, :position + 2]
    return out


def beam_search(model, graphdef, state, encoder_output, attention_mask, max_new_tokens: int, num_beams: int,
                length_penalty: float) -> np.ndarray:
    """Keep the `num_beams` best partial sequences by total log-probability; a sequence that
    ends with EOS is finished and scored by log-probability / length ** length_penalty; return
    each example's best finished (or, at max_new_tokens, best unfinished) sequence."""
    config = model.config
    batch, vocab = encoder_output.shape[0], config.vocab_size
    max_length = max_new_tokens + 1
    expand = lambda x: jnp.repeat(x, num_beams, axis=0)  # (batch * beams, ...)
    cache = init_cache(model, expand(encoder_output), max_length)
    mask = expand(attention_mask)
    sequences = np.full((batch, num_beams, max_length), config.pad_token_id, np.int64)
    sequences[:, :, 0] = config.decoder_start_token_id
    scores = np.full((batch, num_beams), -np.inf)
    scores[:, 0] = 0.0  # all beams start identical: only the first may expand at step 0
    finished: list[list[tuple[float, np.ndarray]]] = [[] for _ in range(batch)]
    for position in range(max_new_tokens):
        tokens = jnp.asarray(sequences[:, :, position].reshape(-1))
        logits, cache = jitted_step(graphdef, state, tokens, jnp.asarray(position), (cache, mask), max_length)
        log_probs = np.asarray(jax.nn.log_softmax(logits.astype(jnp.float32))).reshape(batch, num_beams, vocab)
        total = (scores[:, :, None] + log_probs).reshape(batch, -1)  # (batch, beams * vocab)
        best = np.argsort(-total, axis=1)[:, :2 * num_beams]  # room to replace beams that finish
        new_sequences, new_scores, origin = np.copy(sequences), np.full_like(scores, -np.inf), np.zeros_like(scores, int)
        for b in range(batch):
            kept = 0
            for flat in best[b]:
                beam, token = divmod(int(flat), vocab)
                score = total[b, flat]
                if not np.isfinite(score):
                    continue
                candidate = sequences[b, beam].copy()
                candidate[position + 1] = token
                if token == config.eos_token_id:
                    finished[b].append((score / (position + 1) ** length_penalty, candidate[:position + 2]))
                    continue
                new_sequences[b, kept], new_scores[b, kept], origin[b, kept] = candidate, score, beam
                kept += 1
                if kept == num_beams:
                    break
        sequences, scores = new_sequences, new_scores
        index = jnp.asarray((origin + np.arange(batch)[:, None] * num_beams).reshape(-1))
        cache = {**cache, "self_k": [k[index] for k in cache["self_k"]], "self_v": [v[index] for v in cache["self_v"]]}
        if all(len(f) >= num_beams and max(s for s, _ in f) >= scores[b].max() / max_new_tokens ** length_penalty
               for b, f in enumerate(finished)):
            break
    out = np.full((batch, max_length), config.pad_token_id, np.int64)
    for b in range(batch):
        candidates = finished[b] or [(scores[b, k] / max_new_tokens ** length_penalty, sequences[b, k])
                                     for k in range(num_beams) if np.isfinite(scores[b, k])]
        _, best_sequence = max(candidates, key=lambda c: c[0])
        out[b, :len(best_sequence)] = best_sequence
    return out
