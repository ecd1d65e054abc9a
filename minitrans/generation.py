"""Generating text, for every generative model of minitrans: T5 (encoder-decoder), T5's
decoder-only language model and prefix LM, and GPT-2. One function, `generate`:

    greedy                  generate(model, ids, max_new_tokens=20)
    beam search             generate(model, ids, num_beams=4, length_penalty=1.0)
    sampling                generate(model, ids, do_sample=True, temperature=0.8, top_k=40, top_p=0.95, seed=0)
    from a decoder prefix   generate(t5, ids, decoder_prefix=tokenizer.encode("answer:", add_eos=False))

With a key/value cache (the default), each step computes only the new token's queries, keys
and values: every attention layer keeps the keys and values of the tokens so far
(`MultiHeadAttention.init_cache`), and the encoder's keys and values are computed once. The
model's own forward pass runs each step, so no decoder pass is written twice here. The step is
a pure function of the model's state and fixed-size arrays: `jax.jit` compiles it once and the
Python loop only calls it. `use_cache=False` re-runs the whole model over everything so far at
every step (the slow way; the same tokens, which the tests check).

What comes back (numpy, int): for T5, the decoder's sequences, starting with the decoder start
token (then the prefix, then the generated tokens); for a decoder-only model, the prompts
(left-padded: generation continues every row from the same position) followed by the generated
tokens. Rows that produced EOS continue with padding.
"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

# --------------------------------------------------------------------------- choosing a token


def filter_logits(logits: jax.Array, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> jax.Array:
    """logits / temperature, with every token outside the `top_k` best, and outside the smallest
    set whose probability reaches `top_p` (nucleus sampling), set to -inf. (batch, vocab)."""
    logits = logits.astype(jnp.float32) / temperature
    if top_k is not None:
        kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][..., -1:]  # (batch, 1)
        logits = jnp.where(logits < kth, -jnp.inf, logits)
    if top_p is not None:
        ordered = jnp.sort(logits, axis=-1)[..., ::-1]  # (batch, vocab), best first
        before = jnp.cumsum(jax.nn.softmax(ordered, axis=-1), axis=-1) - jax.nn.softmax(ordered, axis=-1)
        cutoff = jnp.min(jnp.where(before < top_p, ordered, jnp.inf), axis=-1, keepdims=True)  # the last kept
        logits = jnp.where(logits < cutoff, -jnp.inf, logits)
    return logits


def choose(logits: jax.Array, key: jax.Array, sampling: tuple) -> jax.Array:
    """The next token of each row (batch,): the argmax, or a draw with (temperature, top_k, top_p)."""
    if sampling is None:
        return jnp.argmax(logits, axis=-1)
    return jax.random.categorical(key, filter_logits(logits, *sampling), axis=-1)


# --------------------------------------------------------------------------- the models' calls


def is_encoder_decoder(model) -> bool:
    return hasattr(model, "encode")


def logits_of(model, ids, extra):
    """The model's next-token logits (batch, seq, vocab) for `ids`, as each family is called."""
    if is_encoder_decoder(model):
        encoder_output, encoder_mask = extra
        return model.decode(ids, encoder_output, encoder_mask)
    key_mask, positions, prefix_lengths = extra
    if model.config.model_type == "gpt2":
        return model(ids, attention_mask=key_mask, position_ids=positions).logits
    return model(ids, prefix_lengths=prefix_lengths, attention_mask=key_mask).logits


@partial(jax.jit, static_argnums=(0, 6))
def cached_step(graphdef, caches, params, ids, extra, key, sampling):
    """New positions `ids` through the model with its caches -> (next tokens, their log-probabilities
    (batch, vocab), the updated caches)."""
    model = nnx.merge(graphdef, caches, params)
    logits = logits_of(model, ids, extra)[:, -1]  # (batch, vocab)
    _, caches, _ = nnx.split(model, nnx.Cache, ...)
    return choose(logits, key, sampling), jax.nn.log_softmax(logits.astype(jnp.float32)), caches


@partial(jax.jit, static_argnums=(0, 6))
def full_step(graphdef, params, buffer, position, extra, key, sampling):
    """Without a cache: the whole model over the fixed-size buffer (causal, so what comes after
    `position` changes nothing), keeping the scores at `position`."""
    model = nnx.merge(graphdef, params)
    logits = jax.lax.dynamic_index_in_dim(logits_of(model, buffer, extra), position, axis=1, keepdims=False)
    return choose(logits, key, sampling), jax.nn.log_softmax(logits.astype(jnp.float32))


# --------------------------------------------------------------------------- checks and set-up


def check_arguments(model, input_ids, attention_mask, max_new_tokens, num_beams, temperature, top_k, top_p,
                    decoder_prefix, do_sample) -> tuple[np.ndarray, np.ndarray]:
    """Clear errors for arguments generation cannot take, before anything is computed."""
    if not hasattr(model, "init_cache"):
        raise ValueError(f"{type(model).__name__} does not generate text: generate needs a T5, a T5DecoderOnly or a GPT")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
    if not isinstance(num_beams, int) or num_beams < 1:
        raise ValueError(f"num_beams must be at least 1, got {num_beams!r}")
    if do_sample and num_beams > 1:
        raise ValueError("do_sample draws one sequence per row: use num_beams=1 with do_sample=True")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; for the most likely tokens use do_sample=False")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
    if top_p is not None and not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if decoder_prefix is not None and not is_encoder_decoder(model):
        raise ValueError(f"decoder_prefix starts the decoder of an encoder-decoder model; {type(model).__name__} has "
                         "no separate decoder: put the prefix at the end of its prompt instead")
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or ids.shape[1] == 0 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"input_ids must be integers of shape (batch, seq) with seq >= 1, got {ids.dtype} {ids.shape}")
    pad = model.config.pad_token_id if hasattr(model.config, "pad_token_id") else 0
    mask = (ids != pad) if attention_mask is None else np.asarray(attention_mask).astype(bool)
    if mask.shape != ids.shape:
        raise ValueError(f"attention_mask has shape {mask.shape}, input_ids {ids.shape}: they must match")
    if not is_encoder_decoder(model) and not mask.any(axis=1).all():
        raise ValueError("every prompt needs at least one real token (attention_mask all 0 in a row)")
    vocab = model.config.vocab_size
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"token id {int(ids.max() if ids.max() >= vocab else ids.min())} is outside the vocabulary "
                         f"(vocab_size={vocab})")
    if not is_encoder_decoder(model):
        limit = getattr(model.config, "n_positions", None)
        if limit is not None and ids.shape[1] + max_new_tokens > limit:
            raise ValueError(f"the prompt ({ids.shape[1]} positions) + max_new_tokens ({max_new_tokens}) = "
                             f"{ids.shape[1] + max_new_tokens} exceeds the model's n_positions={limit}")
    return ids, mask


def left_aligned(ids: np.ndarray, mask: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """Prompts moved to the right end of their rows (padding first), so every row continues at
    the same position: (ids, mask), same shapes."""
    out, out_mask = np.full_like(ids, pad), np.zeros_like(mask)
    width = ids.shape[1]
    for row in range(len(ids)):
        real = ids[row][mask[row]]
        out[row, width - len(real):] = real
        out_mask[row, width - len(real):] = True
    return out, out_mask


# --------------------------------------------------------------------------- generate


def generate(model, input_ids, attention_mask=None, *, max_new_tokens: int = 20, num_beams: int = 1,
             length_penalty: float = 1.0, do_sample: bool = False, temperature: float = 1.0, top_k: int | None = None,
             top_p: float | None = None, seed: int = 0, eos_token_id: int | None = None, decoder_prefix=None,
             use_cache: bool = True) -> np.ndarray:
    """Generate up to `max_new_tokens` tokens for each row of `input_ids` (batch, seq); see the
    module's docstring for what comes back. `attention_mask` (1 = real token) marks padded
    prompts (default: input_ids != pad). EOS (`eos_token_id`, default the config's) ends a row."""
    ids, mask = check_arguments(model, input_ids, attention_mask, max_new_tokens, num_beams, temperature, top_k,
                                top_p, decoder_prefix, do_sample)
    config = model.config
    pad = getattr(config, "pad_token_id", 0)
    eos = getattr(config, "eos_token_id", None) if eos_token_id is None else eos_token_id
    if not getattr(model, "causal", True):
        use_cache = False  # a bidirectional model's earlier positions would see the later tokens
    if num_beams > 1 and not use_cache:
        raise ValueError("beam search runs with the cache only (use_cache=True)")
    sampling = (float(temperature), top_k, top_p) if do_sample else None
    model.eval()
    if is_encoder_decoder(model):
        start = [config.decoder_start_token_id] + [int(t) for t in (decoder_prefix or [])]
        prompt = np.tile(np.asarray(start, np.int64), (len(ids), 1))  # (batch, 1 + prefix)
        encoder_output = model.encode(jnp.asarray(ids), jnp.asarray(mask))
        setup = {"encoder_output": encoder_output, "encoder_mask": jnp.asarray(mask)}
    else:
        prompt, mask = left_aligned(ids, mask, pad)
        setup = {}
    if num_beams > 1:
        return beam_search(model, prompt, mask, setup, max_new_tokens, num_beams, length_penalty, eos, pad)
    return sample_or_greedy(model, prompt, mask, setup, max_new_tokens, sampling, seed, eos, pad, use_cache)


def step_inputs(model, setup: dict, key_mask: np.ndarray, prompt_width: int):
    """The per-family extra inputs of a step: the encoder's output and mask (T5), or the key
    mask over the whole buffer, each position's index and the prefix length (decoder-only)."""
    if is_encoder_decoder(model):
        return setup["encoder_output"], setup["encoder_mask"]
    positions = np.maximum(np.cumsum(key_mask, axis=1) - 1, 0)  # left padding: count from the first real token
    prefix = jnp.full((len(key_mask),), prompt_width, jnp.int32) if getattr(model, "prefix_lm", False) else None
    return jnp.asarray(key_mask), jnp.asarray(positions), prefix


def start_cache(model, batch: int, length: int, setup: dict):
    if is_encoder_decoder(model):
        model.init_cache(batch, length, setup["encoder_output"])
    else:
        model.init_cache(batch, length)
    graphdef, caches, params = nnx.split(model, nnx.Cache, ...)
    model.clear_cache()  # the model itself stays as it was; the caches live in the loop
    return graphdef, caches, params


def sample_or_greedy(model, prompt, prompt_mask, setup, max_new_tokens, sampling, seed, eos, pad, use_cache):
    batch, width = prompt.shape
    length = width + max_new_tokens
    buffer = np.full((batch, length), pad, np.int64)
    buffer[:, :width] = prompt
    key_mask = np.ones((batch, length), bool)
    if not is_encoder_decoder(model):
        key_mask[:, :width] = prompt_mask
    extra = step_inputs(model, setup, key_mask, width)
    key = jax.random.key(seed)
    done = np.zeros(batch, bool)
    if use_cache:
        graphdef, caches, params = start_cache(model, batch, length, setup)
    else:
        graphdef, params = nnx.split(model)
    for step in range(max_new_tokens):
        position = width + step  # where the new token goes
        key, draw = jax.random.split(key)
        if use_cache:
            new = slice(0, width) if step == 0 else slice(position - 1, position)  # the prompt first, then one token
            step_extra = extra if is_encoder_decoder(model) else (extra[0], extra[1][:, new], extra[2])
            token, _, caches = cached_step(graphdef, caches, params, jnp.asarray(buffer[:, new], jnp.int32),
                                           step_extra, draw, sampling)
        else:
            visible = extra if is_encoder_decoder(model) else \
                (jnp.asarray(key_mask & (np.arange(length) < position)), extra[1], extra[2])
            token, _ = full_step(graphdef, params, jnp.asarray(buffer, jnp.int32), jnp.asarray(position - 1),
                                 visible, draw, sampling)
        token = np.where(done, pad, np.asarray(token))
        buffer[:, position] = token
        if eos is not None:
            done |= token == eos
            if done.all():
                return buffer[:, :position + 1]
    return buffer


def beam_search(model, prompt, prompt_mask, setup, max_new_tokens: int, num_beams: int, length_penalty: float,
                eos, pad) -> np.ndarray:
    """Keep the `num_beams` best partial sequences of each row by total log-probability; a
    sequence that ends with EOS is finished and scored by log-probability / length **
    length_penalty; return each row's best finished (or, at max_new_tokens, best unfinished) one."""
    batch, width = prompt.shape
    length = width + max_new_tokens
    expand = lambda x: np.repeat(np.asarray(x), num_beams, axis=0)  # (batch * beams, ...)
    if is_encoder_decoder(model):
        setup = {"encoder_output": jnp.repeat(setup["encoder_output"], num_beams, axis=0),
                 "encoder_mask": jnp.repeat(setup["encoder_mask"], num_beams, axis=0)}
    key_mask = np.ones((batch * num_beams, length), bool)
    if not is_encoder_decoder(model):
        key_mask[:, :width] = expand(prompt_mask)
    extra = step_inputs(model, setup, key_mask, width)
    graphdef, caches, params = start_cache(model, batch * num_beams, length, setup)
    sequences = np.full((batch, num_beams, length), pad, np.int64)
    sequences[:, :, :width] = prompt[:, None]
    scores = np.full((batch, num_beams), -np.inf)
    scores[:, 0] = 0.0  # all beams start identical: only the first may expand at the first step
    finished: list[list[tuple[float, np.ndarray]]] = [[] for _ in range(batch)]
    key = jax.random.key(0)
    for step in range(max_new_tokens):
        position = width + step
        new = slice(0, width) if step == 0 else slice(position - 1, position)
        step_extra = extra if is_encoder_decoder(model) else (extra[0], extra[1][:, new], extra[2])
        _, log_probs, caches = cached_step(graphdef, caches, params, jnp.asarray(
            sequences[:, :, new].reshape(batch * num_beams, -1), jnp.int32), step_extra, key, None)
        vocab = log_probs.shape[-1]
        total = (scores[:, :, None] + np.asarray(log_probs).reshape(batch, num_beams, vocab)).reshape(batch, -1)
        best = np.argsort(-total, axis=1)[:, :2 * num_beams]  # room to replace beams that finish
        new_sequences, new_scores = np.copy(sequences), np.full_like(scores, -np.inf)
        origin = np.zeros_like(scores, int)
        for b in range(batch):
            kept = 0
            for flat in best[b]:
                beam, token = divmod(int(flat), vocab)
                score = total[b, flat]
                if not np.isfinite(score):
                    continue
                candidate = sequences[b, beam].copy()
                candidate[position] = token
                if eos is not None and token == eos:
                    finished[b].append((score / (step + 1) ** length_penalty, candidate[:position + 1]))
                    continue
                new_sequences[b, kept], new_scores[b, kept], origin[b, kept] = candidate, score, beam
                kept += 1
                if kept == num_beams:
                    break
        sequences, scores = new_sequences, new_scores
        index = jnp.asarray((origin + np.arange(batch)[:, None] * num_beams).reshape(-1))
        caches = jax.tree.map(lambda c: c[index] if c.ndim else c, caches)  # each beam takes its origin's cache
        if all(len(f) >= num_beams and max(s for s, _ in f) >= scores[b].max() / max_new_tokens ** length_penalty
               for b, f in enumerate(finished)):
            break
    out = np.full((batch, length), pad, np.int64)
    for b in range(batch):
        candidates = finished[b] or [(scores[b, k] / max_new_tokens ** length_penalty, sequences[b, k])
                                     for k in range(num_beams) if np.isfinite(scores[b, k])]
        _, best_sequence = max(candidates, key=lambda c: c[0])
        out[b, :len(best_sequence)] = best_sequence
    return out
