"""Generating text, for every generative model of minitrans: T5 (encoder-decoder), T5's
decoder-only language model and prefix LM, and GPT-2. One function, `generate`:

    greedy                  generate(model, ids, max_new_tokens=20)
    beam search             generate(model, ids, num_beams=4, length_penalty=1.0)
    sampling                generate(model, ids, do_sample=True, temperature=0.8, top_k=40, top_p=0.95, seed=0)
    from a decoder prefix   generate(t5, ids, decoder_prefix=tokenizer.encode("answer:", add_eos=False))

With a key/value cache (the default), each step computes only the new token's queries, keys
and values: every attention layer keeps the keys and values of the tokens so far
(`MultiHeadAttention.init_cache`), and the encoder's keys and values are computed once. The
model's own forward pass runs each step, so no decoder pass is written twice here. A step is a
pure function of the model's state and fixed-size arrays, so the whole generation compiles
into one program: the prompt's step, then a `jax.lax.while_loop` over the new tokens that
stops when every row has ended (no Python between tokens). Beam search follows the rules of
transformers' `generate`, so that the same weights give the same sequences. `use_cache=False`
re-runs the whole model over everything so far at every step, from a Python loop (the slow
way; the same tokens, which the tests check).

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

from minitrans import kernels
from minitrans.nn import MultiHeadAttention

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


def choose(logits: jax.Array, key: jax.Array, knobs: tuple, sampling: tuple | None) -> jax.Array:
    """The next token of each row (batch,): the argmax (`sampling` None), or a draw. `sampling`
    = (top_k, nucleus?) decides what the program computes (top_k fixes a shape); `knobs` =
    (temperature, top_p) are its inputs, so another temperature or top_p compiles nothing new."""
    if sampling is None:
        return kernels.top_k(logits, 1)[1][:, 0]  # jnp.argmax(logits, axis=-1), faster over a vocabulary
    (top_k, nucleus), (temperature, top_p) = sampling, knobs
    return jax.random.categorical(key, filter_logits(logits, temperature, top_k, top_p if nucleus else None), axis=-1)


# --------------------------------------------------------------------------- the models' calls


def is_encoder_decoder(model) -> bool:
    return hasattr(model, "encode")


def logits_of(model, ids, extra: dict):
    """The model's next-token logits (batch, seq, vocab) for `ids`, as each family is called."""
    if is_encoder_decoder(model):
        return model.decode(ids, extra["encoder_output"], extra["encoder_mask"])
    if model.config.model_type == "gpt2":
        return model(ids, attention_mask=extra["key_mask"], position_ids=extra["positions"]).logits
    return model(ids, prefix_lengths=extra["prefix_lengths"], attention_mask=extra["key_mask"]).logits


def at(extra: dict, start, size: int) -> dict:
    """The step's inputs for the positions start .. start + size: a decoder-only model needs
    their position indices; the rest (masks over the whole buffer, the encoder's output) stays."""
    if "positions" not in extra:
        return extra
    return {**extra, "positions": jax.lax.dynamic_slice_in_dim(extra["positions"], start, size, axis=1)}


def cached_logits(graphdef, caches, params, ids, extra, origin=None):
    """New positions `ids` (batch, new) through the model with its caches -> (the last
    position's logits (batch, vocab), the updated caches). Beam search first gives each row the
    history of the beam it continues (`origin`, (batch,) rows): which cached keys and values are
    its (MultiHeadAttention.reorder_cache; none of them moves)."""
    model = nnx.merge(graphdef, caches, params)
    if origin is not None:
        for _, module in nnx.iter_graph(model):
            if isinstance(module, MultiHeadAttention):
                module.reorder_cache(origin)
    logits = logits_of(model, ids, extra)[:, -1]
    _, caches, _ = nnx.split(model, nnx.Cache, ...)
    return logits, caches


@partial(jax.jit, static_argnums=(0, 4, 8))
def cached_generation(graphdef, caches, params, buffer, prompt_width, extra, key, knobs, sampling, eos, pad):
    """Greedy or sampled generation with the cache, compiled whole: the prompt goes through the
    model once, then a `lax.while_loop` feeds each new token back until the buffer (batch,
    length) is full or every row has produced EOS -> (the buffer, the first position not written).
    One call for every token: Python does not wait between them. `eos` (-1: none) and `pad` are
    int32 inputs of the program, so another EOS compiles nothing new."""

    def write(caches, buffer, done, key, position, token):
        token = jnp.where(done, pad, token)  # (batch,): a row that has ended pads
        buffer = jax.lax.dynamic_update_slice_in_dim(buffer, token[:, None], position, axis=1)
        done = done | (token == eos)  # eos -1 matches no token
        return caches, buffer, done, key, position + 1

    def one_token(state):
        caches, buffer, done, key, position = state  # `position`: where the next token goes
        key, draw = jax.random.split(key)
        last = jax.lax.dynamic_slice_in_dim(buffer, position - 1, 1, axis=1)  # (batch, 1)
        logits, caches = cached_logits(graphdef, caches, params, last, at(extra, position - 1, 1))
        return write(caches, buffer, done, key, position, choose(logits, draw, knobs, sampling))

    def going_on(state):
        _, buffer, done, _, position = state
        return (position < buffer.shape[1]) & ~done.all()

    key, draw = jax.random.split(key)
    logits, caches = cached_logits(graphdef, caches, params, buffer[:, :prompt_width], at(extra, 0, prompt_width))
    done = jnp.zeros(len(buffer), bool)
    state = write(caches, buffer, done, key, jnp.int32(prompt_width), choose(logits, draw, knobs, sampling))
    _, buffer, _, _, position = jax.lax.while_loop(going_on, one_token, state)
    return buffer, position


@partial(jax.jit, static_argnums=(0, 4))
def beam_generation(graphdef, caches, params, sequences, prompt_width, extra, eos, length_penalty):
    """Beam search, compiled whole like `cached_generation`, with the rules of transformers'
    `generate` (its defaults). `sequences` (batch, beams, length) holds the prompt in every beam.

    Each step, the 2 x beams best continuations of an example by total log-probability are
    taken; of those, the best `beams` that do not end go on (alive). A continuation ends with
    EOS or when it fills the buffer; an ending one among the first `beams` joins the example's
    `beams` best finished sequences, scored by log-probability / generated length **
    length_penalty. An example is settled once it has `beams` finished sequences and its best
    alive one, scored at its current length, cannot beat the worst of them; it then takes no
    more. -> each example's best finished sequence (batch, length). The length penalty and `eos`
    (-1: none) are inputs of the program, not constants in it: trying several compiles the
    search once."""
    batch, beams, length = sequences.shape
    rows = jnp.arange(batch)[:, None] * beams  # (batch, 1): the first row of each example's beams
    first_beams = jnp.arange(2 * beams) < beams  # (2 * beams,)

    def expand(state, ids, extra):
        """The new positions `ids` of every beam through the model (each beam on the cache of
        the one it continues), and the best continuations sorted into alive and finished."""
        caches, origin, alive, scores, finished, finished_scores, searching, position = state
        logits, caches = cached_logits(graphdef, caches, params, ids, extra, origin)
        log_probs = jax.nn.log_softmax(logits.astype(jnp.float32))  # (batch * beams, vocab)
        total = scores[:, :, None] + log_probs.reshape(batch, beams, -1)  # (batch, beams, vocab)
        best, flat = kernels.top_k(total.reshape(batch, -1), 2 * beams)  # (batch, 2 * beams), best first
        beam, token = jnp.divmod(flat, log_probs.shape[-1])
        candidates = jnp.take_along_axis(alive, beam[:, :, None], axis=1)  # (batch, 2 * beams, length)
        candidates = candidates.at[:, :, position].set(token)
        ends = (position == length - 1) | (token == eos)
        generated = position - prompt_width + 1  # tokens generated so far, this one included
        joins = ends & first_beams & jnp.isfinite(best) & searching[:, None]
        ended_scores = jnp.where(joins, best / generated ** length_penalty, -jnp.inf)
        finished_scores, keep = jax.lax.top_k(jnp.concatenate([finished_scores, ended_scores], axis=1), beams)
        finished = jnp.take_along_axis(jnp.concatenate([finished, candidates], axis=1), keep[:, :, None], axis=1)
        scores, keep = jax.lax.top_k(jnp.where(ends, -jnp.inf, best), beams)  # (batch, beams)
        alive = jnp.take_along_axis(candidates, keep[:, :, None], axis=1)
        origin = (jnp.take_along_axis(beam, keep, axis=1) + rows).reshape(-1)  # (batch * beams,)
        searching &= (finished_scores[:, -1] == -jnp.inf) | (scores[:, 0] / generated ** length_penalty
                                                              > finished_scores[:, -1])
        return caches, origin, alive, scores, finished, finished_scores, searching, position + 1

    def one_token(state):
        alive, position = state[2], state[-1]
        last = alive[:, :, position - 1].reshape(batch * beams, 1)
        return expand(state, last, at(extra, position - 1, 1))

    def going_on(state):
        searching, position = state[-2], state[-1]
        return (position < length) & searching.any()

    scores = jnp.full((batch, beams), -jnp.inf).at[:, 0].set(0.0)  # the beams start identical: only the first expands
    state = (caches, jnp.arange(batch * beams), sequences, scores, sequences, jnp.full((batch, beams), -jnp.inf),
             jnp.ones(batch, bool), jnp.int32(prompt_width))
    prompt = sequences[:, :, :prompt_width].reshape(batch * beams, prompt_width)
    state = jax.lax.while_loop(going_on, one_token, expand(state, prompt, at(extra, 0, prompt_width)))
    finished = state[4]
    return finished[:, 0]  # (batch, length): the best, as top_k sorts


@partial(jax.jit, static_argnums=(0, 7))
def full_step(graphdef, params, buffer, position, extra, key, knobs, sampling):
    """Without a cache: the whole model over the fixed-size buffer (causal, so what comes after
    `position` changes nothing), keeping the scores at `position`."""
    model = nnx.merge(graphdef, params)
    logits = jax.lax.dynamic_index_in_dim(logits_of(model, buffer, extra), position, axis=1, keepdims=False)
    return choose(logits, key, knobs, sampling)


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
    sampling = (top_k, top_p is not None) if do_sample else None  # compiled into the program
    knobs = (jnp.float32(temperature), jnp.float32(1.0 if top_p is None else top_p))  # inputs of it
    model.eval()
    if is_encoder_decoder(model):
        start = [config.decoder_start_token_id] + [int(t) for t in (decoder_prefix or [])]
        prompt = np.tile(np.asarray(start, np.int64), (len(ids), 1))  # (batch, 1 + prefix)
        encoder_output = kernels.compiled_call(model, jnp.asarray(ids), jnp.asarray(mask), method="encode")
        setup = {"encoder_output": encoder_output, "encoder_mask": jnp.asarray(mask)}
    else:
        prompt, mask = left_aligned(ids, mask, pad)
        setup = {}
    if num_beams > 1:
        return beam_search(model, prompt, mask, setup, max_new_tokens, num_beams, length_penalty, eos, pad)
    return sample_or_greedy(model, prompt, mask, setup, max_new_tokens, knobs, sampling, seed, eos, pad, use_cache)


def step_inputs(model, setup: dict, key_mask: np.ndarray, prompt_width: int) -> dict:
    """The per-family extra inputs of a step: the encoder's output and mask (T5), or the key
    mask over the whole buffer, each position's index and the prefix length (decoder-only)."""
    if is_encoder_decoder(model):
        return setup
    positions = np.maximum(np.cumsum(key_mask, axis=1) - 1, 0)  # left padding: count from the first real token
    prefix = jnp.full((len(key_mask),), prompt_width, jnp.int32) if getattr(model, "prefix_lm", False) else None
    return {"key_mask": jnp.asarray(key_mask), "positions": jnp.asarray(positions), "prefix_lengths": prefix}


def token_id(token: int | None) -> jax.Array:
    """A token id as an int32 input of a compiled generation (None, no such token: -1)."""
    return jnp.int32(-1 if token is None else token)


def start_cache(model, batch: int, length: int, setup: dict, beams: int = 1):
    if is_encoder_decoder(model):
        model.init_cache(batch, length, setup["encoder_output"], beams)
    else:
        model.init_cache(batch, length, beams)
    graphdef, caches, params = nnx.split(model, nnx.Cache, ...)
    model.clear_cache()  # the model itself stays as it was; the caches live in the loop
    return graphdef, caches, params


def sample_or_greedy(model, prompt, prompt_mask, setup, max_new_tokens, knobs, sampling, seed, eos, pad, use_cache):
    batch, width = prompt.shape
    length = width + max_new_tokens
    buffer = np.full((batch, length), pad, np.int64)
    buffer[:, :width] = prompt
    key_mask = np.ones((batch, length), bool)
    if not is_encoder_decoder(model):
        key_mask[:, :width] = prompt_mask
    extra = step_inputs(model, setup, key_mask, width)
    key = jax.random.key(seed)
    if use_cache:
        graphdef, caches, params = start_cache(model, batch, length, setup)
        buffer, end = cached_generation(graphdef, caches, params, jnp.asarray(buffer, jnp.int32), width, extra, key,
                                        knobs, sampling, token_id(eos), token_id(pad))
        return np.asarray(buffer, np.int64)[:, :int(end)]
    graphdef, params = nnx.split(model)
    done = np.zeros(batch, bool)
    for position in range(width, length):  # where the new token goes
        key, draw = jax.random.split(key)
        visible = extra if is_encoder_decoder(model) else {**extra, "key_mask": jnp.asarray(
            key_mask & (np.arange(length) < position))}
        token = full_step(graphdef, params, jnp.asarray(buffer, jnp.int32), jnp.asarray(position - 1), visible, draw,
                          knobs, sampling)
        token = np.where(done, pad, np.asarray(token))
        buffer[:, position] = token
        if eos is not None:
            done |= token == eos
            if done.all():
                return buffer[:, :position + 1]
    return buffer


def beam_search(model, prompt, prompt_mask, setup, max_new_tokens: int, num_beams: int, length_penalty: float,
                eos, pad) -> np.ndarray:
    """Each row's most likely sequence by beam search (`beam_generation` has the rules), with
    the prompt's positions and padding as in sample_or_greedy: (batch, prompt + max_new_tokens)."""
    batch, width = prompt.shape
    length = width + max_new_tokens
    expand = lambda x: np.repeat(np.asarray(x), num_beams, axis=0)  # (batch * beams, ...)
    graphdef, caches, params = start_cache(model, batch, length, setup, num_beams)  # the encoder's keys once per example
    if is_encoder_decoder(model):
        setup = {"encoder_output": jnp.repeat(setup["encoder_output"], num_beams, axis=0),
                 "encoder_mask": jnp.repeat(setup["encoder_mask"], num_beams, axis=0)}
    key_mask = np.ones((batch * num_beams, length), bool)
    if not is_encoder_decoder(model):
        key_mask[:, :width] = expand(prompt_mask)
    extra = step_inputs(model, setup, key_mask, width)
    sequences = np.full((batch, num_beams, length), pad, np.int32)
    sequences[:, :, :width] = prompt[:, None]
    out = beam_generation(graphdef, caches, params, jnp.asarray(sequences), width, extra, token_id(eos),
                          jnp.float32(length_penalty))
    return np.asarray(out, np.int64)
