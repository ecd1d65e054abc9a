"""T5 generation: the cached step against the reference's greedy ids and the uncached loop;
beam search against brute force; bad arguments."""

import itertools
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from minitrans.generation import decode_step, generate, init_cache
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration, greedy_generate

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.parametrize("name", ["t5_tiny_random_sharp", "t5_v1_1_tiny_random_sharp"])
def test_cached_greedy_gives_the_reference_ids(name, tmp_path):
    shutil.copy(FIXTURES / name / "config.json", tmp_path / "config.json")
    shutil.copy(FIXTURES / name / "weights.safetensors", tmp_path / "model.safetensors")
    model = T5ForConditionalGeneration.from_pretrained(tmp_path)
    ref = np.load(FIXTURES / f"{name}_outputs.npz")
    cached = generate(model, ref["input_ids"], max_new_tokens=12, attention_mask=ref["attention_mask"])
    assert cached.tolist() == ref["generated"].tolist()
    beam_of_one = generate(model, ref["input_ids"], max_new_tokens=12, attention_mask=ref["attention_mask"], num_beams=1)
    assert beam_of_one.tolist() == cached.tolist()


def small_model(vocab=8, seed=1, sharpen=3.0):
    model = T5ForConditionalGeneration(T5Config.tiny(vocab_size=vocab), rngs=nnx.Rngs(seed))
    for _, param in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        param[...] = param[...] * sharpen  # sharper distributions: varied greedy output
    return model


def test_cached_and_uncached_greedy_agree_with_eos_and_padding():
    model = small_model(vocab=12)
    ids = jnp.array([[3, 4, 5, 6, 1], [7, 8, 1, 0, 0]])
    assert generate(model, ids, max_new_tokens=8).tolist() == greedy_generate(model, ids, 8).tolist()
    assert generate(model, ids, max_new_tokens=8, use_cache=False).tolist() == greedy_generate(model, ids, 8).tolist()


def test_the_cached_step_matches_the_full_decoder_at_every_position():
    model = small_model(vocab=12, sharpen=1.0)  # ordinary weights: float32 rounding stays far below 1e-5
    ids, targets = jnp.array([[3, 4, 5, 6, 1]]), jnp.array([[0, 9, 2, 7, 5]])
    mask = ids != 0
    encoder_output = model.encode(ids, mask)
    full = model.decode(targets, encoder_output, mask)  # (1, 5, vocab)
    cache = init_cache(model, encoder_output, 5)
    for position in range(5):
        logits, cache = decode_step(model, targets[:, position], jnp.asarray(position), cache, mask, 5)
        np.testing.assert_allclose(logits, full[:, position], atol=1e-5)
    with pytest.raises(ValueError, match="position 5 is outside the cache of 5 positions"):
        decode_step(model, targets[:, 0], 5, cache, mask, 5)


def test_exhaustive_beam_search_finds_the_most_likely_finished_sequence():
    vocab, eos, steps = 6, 1, 3
    model = small_model(vocab=vocab, seed=4)
    ids = jnp.array([[2, 3, 4, 5, 1]])
    sequences = [list(s) for s in itertools.product(range(vocab), repeat=steps)]
    logits = model(jnp.repeat(ids, len(sequences), 0), decoder_input_ids=jnp.array([[0] + s[:-1] for s in sequences])).logits
    log_probs = np.asarray(jax.nn.log_softmax(logits, -1))  # (n, steps, vocab)
    best, best_score = None, -np.inf
    for n, s in enumerate(sequences):
        total = 0.0
        for t, token in enumerate(s):
            total += log_probs[n, t, token]
            if token == eos:
                if total > best_score:
                    best, best_score = [0] + s[:t + 1], total
                break
    found = generate(model, ids, max_new_tokens=steps, num_beams=vocab ** (steps - 1) * 2, length_penalty=0.0)
    assert found[0, :len(best)].tolist() == best
    greedy = generate(model, ids, max_new_tokens=steps)
    assert greedy.shape[0] == 1


def test_bad_generation_arguments():
    model = small_model()
    with pytest.raises(ValueError, match="num_beams must be at least 1, got 0"):
        generate(model, jnp.array([[2, 1]]), num_beams=0)
    with pytest.raises(ValueError, match="max_new_tokens must be at least 1"):
        generate(model, jnp.array([[2, 1]]), max_new_tokens=0)
    with pytest.raises(ValueError, match="beam search runs with the cache only"):
        generate(model, jnp.array([[2, 1]]), num_beams=2, use_cache=False)
