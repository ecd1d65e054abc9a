"""minitrans.generation for every generative model: T5 against the reference's greedy ids;
cached and uncached generation give the same tokens for T5, T5's decoder-only LM and prefix LM
and GPT-2 (padded prompts included); beam search against brute force; sampling; a decoder
prefix; bad arguments."""

import itertools
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from minitrans.exercises.t5 import compiled
from minitrans.generation import filter_logits, generate
from minitrans.kernels import compiled_call
from minitrans.models.gpt import GPT, GPT2Config
from minitrans.models.t5 import T5Config, T5DecoderOnly, T5ForConditionalGeneration, greedy_generate

FIXTURES = Path(__file__).parent / "fixtures"


def sharpened(model, factor):
    for _, param in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        param[...] = param[...] * factor  # sharper distributions: varied greedy output
    return model


def small_t5(vocab=8, seed=1, sharpen=3.0):
    return sharpened(T5ForConditionalGeneration(T5Config.tiny(vocab_size=vocab), rngs=nnx.Rngs(seed)), sharpen)


def decoder_only_models():
    return {"GPT-2": sharpened(GPT(GPT2Config(vocab_size=30, n_positions=24, n_embd=32, n_layer=2, n_head=4),
                                   rngs=nnx.Rngs(2)), 2.0),
            "T5 language model": sharpened(T5DecoderOnly(T5Config.tiny(vocab_size=30), rngs=nnx.Rngs(3)), 2.0),
            "T5 prefix LM": sharpened(T5DecoderOnly(T5Config.tiny(vocab_size=30), prefix_lm=True, rngs=nnx.Rngs(4)), 2.0)}


@pytest.mark.parametrize("name", ["t5_tiny_random_sharp", "t5_v1_1_tiny_random_sharp"])
@pytest.mark.slow
def test_cached_greedy_gives_the_reference_ids(name, tmp_path):
    shutil.copy(FIXTURES / name / "config.json", tmp_path / "config.json")
    shutil.copy(FIXTURES / name / "weights.safetensors", tmp_path / "model.safetensors")
    model = T5ForConditionalGeneration.from_pretrained(tmp_path)
    ref = np.load(FIXTURES / f"{name}_outputs.npz")
    cached = generate(model, ref["input_ids"], ref["attention_mask"], max_new_tokens=12)
    assert cached.tolist() == ref["generated"].tolist()
    uncached = generate(model, ref["input_ids"], ref["attention_mask"], max_new_tokens=12, use_cache=False)
    assert uncached.tolist() == cached.tolist()


@pytest.mark.slow
def test_t5_cached_and_uncached_agree_with_the_exercise_with_eos_and_padding():
    model = small_t5(vocab=12)
    ids = jnp.array([[3, 4, 5, 6, 1], [7, 8, 1, 0, 0]])
    want = greedy_generate(compiled(model), ids, 8).tolist()
    assert generate(model, ids, max_new_tokens=8).tolist() == want
    assert generate(model, ids, max_new_tokens=8, use_cache=False).tolist() == want


@pytest.mark.slow
def test_the_cached_t5_decoder_matches_the_full_decoder_at_every_position():
    model = small_t5(vocab=12, sharpen=1.0)  # ordinary weights: float32 rounding stays far below 1e-5
    ids, targets = jnp.array([[3, 4, 5, 6, 1]]), jnp.array([[0, 9, 2, 7, 5]])
    mask = ids != 0
    encoder_output = model.encode(ids, mask)
    full = model.decode(targets, encoder_output, mask)  # (1, 5, vocab)
    model.init_cache(1, 5, encoder_output)
    first = model.decode(targets[:, :2], encoder_output, mask)  # two positions at once, then one at a time
    np.testing.assert_allclose(first, full[:, :2], atol=1e-5)
    for position in range(2, 5):
        np.testing.assert_allclose(model.decode(targets[:, position:position + 1], encoder_output, mask)[:, 0],
                                   full[:, position], atol=1e-5)
    model.clear_cache()
    np.testing.assert_allclose(model.decode(targets, encoder_output, mask), full, atol=1e-6)


@pytest.mark.parametrize("name", ["GPT-2", "T5 language model", "T5 prefix LM"])  # decoder_only_models' keys
@pytest.mark.slow
def test_decoder_only_cached_and_uncached_agree_on_padded_prompts(name):
    model = decoder_only_models()[name]
    prompts = [[5, 6, 7, 8, 9, 10], [11, 12, 13], [14]]
    ids = np.zeros((3, 6), np.int64)
    for row, prompt in enumerate(prompts):
        ids[row, :len(prompt)] = prompt  # right-padded, as a tokenizer pads
    mask = ids != 0
    cached = generate(model, ids, mask, max_new_tokens=8, eos_token_id=-1)
    uncached = generate(model, ids, mask, max_new_tokens=8, eos_token_id=-1, use_cache=False)
    assert cached.tolist() == uncached.tolist()
    assert cached.shape == (3, 14) and cached[1, :3].tolist() == [0, 0, 0]  # prompts come back left-padded
    assert len({tuple(row[6:]) for row in cached}) > 1  # the rows continue differently
    for row, prompt in enumerate(prompts):  # each row as if it were alone: the padding changes nothing
        alone = generate(model, np.array([prompt]), max_new_tokens=8, eos_token_id=-1)
        assert alone[0, len(prompt):].tolist() == cached[row, 6:].tolist()
    # every generated token is the argmax of the full model's scores at the position before it
    if name == "GPT-2":
        single = generate(model, np.array([prompts[0]]), max_new_tokens=8, eos_token_id=-1)
        logits = np.asarray(compiled_call(model, single[:, :-1]).logits)
        assert (logits[0, 5:].argmax(-1) == single[0, 6:]).all()


@pytest.mark.slow
def test_exhaustive_beam_search_finds_the_most_likely_finished_sequence():
    # a beam as wide as every sequence finds the most likely one that ends with EOS or fills the
    # buffer (length penalty 0: the total log-probability decides)
    vocab, eos, steps = 6, 1, 3
    model = small_t5(vocab=vocab, seed=4)
    ids = jnp.array([[2, 3, 4, 5, 1]])
    sequences = [list(s) for s in itertools.product(range(vocab), repeat=steps)]
    logits = compiled_call(model, jnp.repeat(ids, len(sequences), 0),
                           decoder_input_ids=jnp.array([[0] + s[:-1] for s in sequences])).logits
    log_probs = np.asarray(jax.nn.log_softmax(logits, -1))  # (n, steps, vocab)
    best, best_score, best_ending = None, -np.inf, None
    for n, s in enumerate(sequences):
        total = 0.0
        for t, token in enumerate(s):
            total += log_probs[n, t, token]
            if token == eos or t == steps - 1:
                if total > best_score:
                    best, best_score = [0] + s[:t + 1], total
                if token == eos and (best_ending is None or total > best_ending[1]):
                    best_ending = ([0] + s[:t + 1], total)
                break
    assert best_ending[0] != best[:len(best_ending[0])]  # the case makes full-length sequences matter
    found = generate(model, ids, max_new_tokens=steps, num_beams=vocab ** (steps - 1) * 2, length_penalty=0.0)
    assert found[0, :len(best)].tolist() == best


@pytest.mark.slow
def test_another_length_penalty_or_eos_compiles_nothing_new():
    from minitrans.generation import beam_generation, cached_generation

    model = small_t5(vocab=10, seed=5)
    ids = jnp.array([[2, 3, 4, 1], [5, 6, 1, 0]])
    generate(model, ids, max_new_tokens=4, num_beams=3, length_penalty=1.0)
    greedy = generate(model, ids, max_new_tokens=4, eos_token_id=-1)
    compiled = beam_generation._cache_size(), cached_generation._cache_size()
    for penalty in (0.0, 0.5, 2.0):  # inputs of the compiled programs, not constants in them
        generate(model, ids, max_new_tokens=4, num_beams=3, length_penalty=penalty)
    first = int(greedy[0, 1])  # row 0's first token made EOS: row 0 must stop there, so the value reaches the loop
    stopped = generate(model, ids, max_new_tokens=4, eos_token_id=first)
    generate(model, ids, max_new_tokens=4, num_beams=3, eos_token_id=first)
    assert (beam_generation._cache_size(), cached_generation._cache_size()) == compiled
    assert stopped[0, 1] == first and (stopped[0, 2:] == model.config.pad_token_id).all()
    assert stopped.shape[1] < greedy.shape[1] or (stopped[1] == greedy[1]).all()


def end_at_eos(row, eos):
    """The generated tokens up to the first EOS (transformers pads what follows with EOS when the
    pad id is 0, minitrans with the pad id)."""
    row = list(row[1:])
    return row[:row.index(eos) + 1] if eos in row else row


@pytest.mark.parametrize("eos", [None, 154])
@pytest.mark.slow
def test_beam_search_gives_the_reference_sequences(eos, tmp_path):
    shutil.copy(FIXTURES / "t5_tiny_random_sharp" / "config.json", tmp_path / "config.json")
    shutil.copy(FIXTURES / "t5_tiny_random_sharp" / "weights.safetensors", tmp_path / "model.safetensors")
    model = T5ForConditionalGeneration.from_pretrained(tmp_path)
    ref = np.load(FIXTURES / "t5_tiny_random_sharp_beams.npz")
    ended = 0
    for beams, penalty in ref["settings"]:
        want = ref[f"eos{eos}_beams{int(beams)}_penalty{penalty}"]
        got = generate(model, ref["input_ids"], ref["attention_mask"], max_new_tokens=10, num_beams=int(beams),
                       length_penalty=float(penalty), eos_token_id=eos)
        stop = model.config.eos_token_id if eos is None else eos
        assert [end_at_eos(r, stop) for r in got] == [end_at_eos(r, stop) for r in want], (beams, penalty)
        ended += sum(stop in r[1:] for r in want)
    assert ended >= (15 if eos else 0)  # with EOS 154, beams end early in many rows


@pytest.mark.slow
def test_beam_search_runs_on_decoder_only_models():
    model = decoder_only_models()["GPT-2"]
    ids = np.array([[5, 6, 7], [8, 9, 0]])
    beams = generate(model, ids, max_new_tokens=5, num_beams=3, eos_token_id=-1)
    one = generate(model, ids, max_new_tokens=5, num_beams=1, eos_token_id=-1)
    assert beams.shape == one.shape == (2, 8)
    # a beam of width 3 finds a sequence at least as likely as greedy's
    def log_likelihood(seq):
        logits = np.asarray(jax.nn.log_softmax(compiled_call(model, seq[None, :-1]).logits, -1))[0]
        return sum(logits[t - 1, seq[t]] for t in range(3, 8))
    assert log_likelihood(beams[0]) >= log_likelihood(one[0]) - 1e-4


@pytest.mark.slow
def test_sampling():
    model = decoder_only_models()["T5 language model"]
    ids = np.array([[5, 6, 7]])
    greedy = generate(model, ids, max_new_tokens=6, eos_token_id=-1)
    assert generate(model, ids, max_new_tokens=6, do_sample=True, top_k=1, eos_token_id=-1).tolist() == greedy.tolist()
    assert generate(model, ids, max_new_tokens=6, do_sample=True, top_p=1e-6, eos_token_id=-1).tolist() == greedy.tolist()
    draws = {tuple(generate(model, ids, max_new_tokens=6, do_sample=True, temperature=2.0, seed=s, eos_token_id=-1)[0])
             for s in range(6)}
    assert len(draws) > 1  # different seeds, different samples
    again = generate(model, ids, max_new_tokens=6, do_sample=True, temperature=2.0, seed=0, eos_token_id=-1)
    assert tuple(again[0]) in draws  # the same seed, the same sample


@pytest.mark.slow
def test_another_temperature_or_top_p_compiles_nothing_new():
    from minitrans.generation import cached_generation

    model = decoder_only_models()["GPT-2"]
    ids = np.array([[5, 6, 7]])
    first = generate(model, ids, max_new_tokens=4, do_sample=True, temperature=0.8, top_p=0.9, eos_token_id=-1)
    compiled = cached_generation._cache_size()
    for temperature, top_p in ((1.5, 0.5), (0.3, 0.99)):  # inputs of the compiled loop, not constants in it
        generate(model, ids, max_new_tokens=4, do_sample=True, temperature=temperature, top_p=top_p, eos_token_id=-1)
    assert cached_generation._cache_size() == compiled
    again = generate(model, ids, max_new_tokens=4, do_sample=True, temperature=0.8, top_p=0.9, eos_token_id=-1)
    assert again.tolist() == first.tolist()  # the values still reach the draw: the same ones, the same sample
    nearly_greedy = generate(model, ids, max_new_tokens=4, do_sample=True, temperature=0.8, top_p=1e-6, eos_token_id=-1)
    assert nearly_greedy.tolist() == generate(model, ids, max_new_tokens=4, eos_token_id=-1).tolist()


def test_filter_logits_keeps_the_top_k_and_the_nucleus():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.1, 0.06, 0.04]]))
    kept = lambda **kw: np.isfinite(np.asarray(filter_logits(logits, **kw)))[0].tolist()
    assert kept(top_k=2) == [True, True, False, False, False]
    assert kept(top_p=0.5) == [True, False, False, False, False]  # 0.5 reached by the first token
    assert kept(top_p=0.85) == [True, True, True, False, False]  # 0.5 + 0.3 < 0.85: a third is needed
    np.testing.assert_allclose(filter_logits(logits, temperature=2.0), logits / 2.0, rtol=1e-6)


@pytest.mark.slow
def test_a_decoder_prefix_starts_the_answer():
    model = small_t5(vocab=12)
    ids = jnp.array([[3, 4, 5, 6, 1]])
    prefix = [7, 9]
    out = generate(model, ids, max_new_tokens=5, decoder_prefix=prefix, eos_token_id=-1)
    assert out[0, :3].tolist() == [0, 7, 9]
    logits = np.asarray(compiled_call(model, ids, decoder_input_ids=out[:, :-1]).logits)[0]
    assert (logits[2:].argmax(-1) == out[0, 3:]).all()  # greedy after the prefix
    assert generate(model, ids, max_new_tokens=5, decoder_prefix=prefix, eos_token_id=-1, use_cache=False).tolist() \
        == out.tolist()


def test_bad_generation_arguments():
    model = small_t5()
    gpt = decoder_only_models()["GPT-2"]
    cases = [(lambda: generate(model, jnp.array([[2, 1]]), num_beams=0), "num_beams must be at least 1, got 0"),
             (lambda: generate(model, jnp.array([[2, 1]]), max_new_tokens=0), "max_new_tokens must be a positive integer"),
             (lambda: generate(model, jnp.array([[2, 1]]), num_beams=2, use_cache=False), "beam search runs with the cache"),
             (lambda: generate(model, jnp.array([[2, 1]]), do_sample=True, top_k=0), "top_k must be an integer >= 1"),
             (lambda: generate(model, jnp.array([[2, 1]]), do_sample=True, temperature=0), "temperature must be > 0"),
             (lambda: generate(model, jnp.array([[2, 1]]), top_p=1.5), r"top_p must be in \(0, 1\]"),
             (lambda: generate(gpt, np.ones((1, 20), int), max_new_tokens=5), "exceeds the model's n_positions=24"),
             (lambda: generate(gpt, np.array([[5, 6]]), decoder_prefix=[3]), "GPT has no separate decoder"),
             (lambda: generate(model, jnp.array([[2, 99]])), r"token id 99 is outside the vocabulary \(vocab_size=8\)"),
             (lambda: generate(gpt, np.array([[5, 6], [0, 0]])), "every prompt needs at least one real token")]
    for call, message in cases:
        with pytest.raises(ValueError, match=message):
            call()
