"""CBOW, ELMo and GPT: GPT-2 parity with the reference, the LSTM against numpy, the models'
defining properties, generation, the bidirectional-copying experiment, and bad input."""

import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from minitrans.checkpoints import CheckpointError
from minitrans.datasets import bundled
from minitrans.experiments import lineage
from minitrans.generation import generate
from minitrans.kernels import compiled_call
from minitrans.models.cbow import CBOW, analogy, cbow_loss, context_windows, nearest
from minitrans.models.elmo import LSTM, ELMo, elmo_loss
from minitrans.models.gpt import GPT, GPT2Config, sample_top_k
from minitrans.tokenizers.words import WordVocabulary

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def gpt2_folder(tmp_path):
    shutil.copy(FIXTURES / "gpt2_tiny_random" / "config.json", tmp_path / "config.json")
    shutil.copy(FIXTURES / "gpt2_tiny_random" / "weights.safetensors", tmp_path / "model.safetensors")
    return tmp_path


def test_gpt2_checkpoint_matches_transformers(gpt2_folder, tmp_path):
    ref = np.load(FIXTURES / "gpt2_tiny_random_outputs.npz")
    model = GPT.from_pretrained(gpt2_folder)
    np.testing.assert_allclose(compiled_call(model, ref["input_ids"]).logits, ref["logits"], atol=1e-4)
    from safetensors.numpy import load_file
    saved = model.save_pretrained(tmp_path / "ours")
    ours, theirs = load_file(saved / "model.safetensors"), load_file(gpt2_folder / "model.safetensors")
    assert ours.keys() == theirs.keys()  # c_attn is joined back from query, key and value
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name])


def test_gpt2_checkpoint_errors_are_named(gpt2_folder):
    from safetensors.numpy import load_file, save_file
    tensors = load_file(gpt2_folder / "model.safetensors")
    tensors["transformer.h.0.attn.c_attn.weight"] = tensors["transformer.h.0.attn.c_attn.weight"][:, :90]
    save_file(tensors, str(gpt2_folder / "model.safetensors"))
    shape_error = r"h.0.attn.c_attn.weight has shape \(32, 90\), the config expects \(32, 32\) for part 1 of 3"
    with pytest.raises(CheckpointError, match=shape_error):
        GPT.from_pretrained(gpt2_folder)


def test_gpt_is_causal_and_the_bidirectional_variant_is_not():
    config = GPT2Config(vocab_size=30, n_positions=8, n_embd=16, n_layer=2, n_head=2)
    causal, full = GPT(config, rngs=nnx.Rngs(0)), GPT(config, causal=False, rngs=nnx.Rngs(0))
    a, b = jnp.array([[1, 2, 3, 4, 5]]), jnp.array([[1, 2, 3, 9, 9]])
    np.testing.assert_allclose(causal(a).logits[0, :3], causal(b).logits[0, :3], atol=1e-6)
    assert not np.allclose(full(a).logits[0, :3], full(b).logits[0, :3], atol=1e-4)
    with pytest.raises(ValueError, match="input_ids has 9 positions, n_positions is 8"):
        causal(jnp.ones((1, 9), jnp.int32))


@pytest.mark.slow
def test_sampling_and_generation():
    logits = jnp.log(jnp.array([[0.5, 0.3, 0.2]]))
    draws = [int(sample_top_k(logits, k, top_k=1)[0]) for k in jax.random.split(jax.random.key(0), 20)]
    assert set(draws) == {0}  # top_k=1 is greedy
    with pytest.raises(ValueError, match="temperature must be > 0, got 0"):
        sample_top_k(logits, jax.random.key(0), temperature=0)
    model = GPT(GPT2Config(vocab_size=30, n_positions=12, n_embd=16, n_layer=1, n_head=2), rngs=nnx.Rngs(0))
    out = generate(model, np.array([[1, 2]]), max_new_tokens=5, do_sample=True, top_k=1)[0].tolist()
    assert len(out) == 7 and out[:2] == [1, 2]
    # greedy generation equals the argmax of a full forward pass at each step
    ids = [1, 2]
    for _ in range(5):
        ids.append(int(np.asarray(compiled_call(model, np.array([ids])).logits)[0, -1].argmax()))
    assert out == ids
    with pytest.raises(ValueError, match="temperature must be > 0"):
        generate(model, np.array([[1]]), max_new_tokens=3, do_sample=True, temperature=-1.0)
    with pytest.raises(ValueError, match="exceeds the model's n_positions=12"):
        generate(model, np.array([[1, 2, 3]]), max_new_tokens=10)


def test_lstm_scan_matches_a_python_loop_and_respects_padding():
    lstm = LSTM(3, 4, rngs=nnx.Rngs(0))
    x = jnp.asarray(np.random.default_rng(0).normal(size=(2, 5, 3)), jnp.float32)
    mask = jnp.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    hs = np.asarray(lstm(x, mask))
    h = c = jnp.zeros((2, 4))
    for t in range(5):
        h_new, c_new = lstm.cell((h, c), x[:, t])
        keep = mask[:, t:t + 1] > 0
        h, c = jnp.where(keep, h_new, h), jnp.where(keep, c_new, c)
        np.testing.assert_allclose(hs[:, t], h, atol=1e-6)
    backward = LSTM(3, 4, reverse=True, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(backward(x[1:2, :3], jnp.ones((1, 3)))[0], backward(x, mask)[1, :3], atol=1e-6)


@pytest.mark.slow
def test_elmo_vectors_depend_on_context_and_cbow_vectors_do_not():
    elmo = ELMo(40, 16, rngs=nnx.Rngs(0))
    first, second = jnp.array([[2, 5, 6, 7, 8, 3]]), jnp.array([[2, 5, 6, 7, 9, 3]])
    # the word at position 3 (id 7) has the same left context but a different right context
    a, b = elmo.embed(first)[0, 3], elmo.embed(second)[0, 3]
    assert not np.allclose(a, b, atol=1e-5)
    out = elmo(first)
    assert out.forward_logits.shape == out.backward_logits.shape == (1, 6, 40)
    loss, metrics = elmo_loss(elmo, {"input_ids": first})
    assert float(loss) == pytest.approx((float(metrics["forward_loss"]) + float(metrics["backward_loss"])) / 2)
    assert float(loss) == pytest.approx(np.log(40), rel=0.1)  # untrained: about ln(vocab)
    cbow = CBOW(40, 8, rngs=nnx.Rngs(0))
    # CBOW has one vector per word, whatever surrounds it: its vector is its row of the input table,
    # and a context containing the word twice contributes that same row twice to the average
    vectors = cbow.word_vectors()
    assert vectors.shape == (40, 8)
    np.testing.assert_array_equal(vectors[7], np.asarray(cbow.embedding(jnp.array([7]))[0]))
    hidden = lambda ids: np.asarray(cbow.embedding(jnp.asarray(ids)).mean(0))
    np.testing.assert_allclose(hidden([7, 7, 5, 6]) - hidden([9, 9, 5, 6]), (vectors[7] - vectors[9]) / 2, atol=1e-6)


def test_context_windows_and_bad_input():
    assert context_windows(list("abcde"), 2) == [(["a", "b", "d", "e"], "c")]
    with pytest.raises(ValueError, match=r"a context window of \+-3 words needs at least 7 words; the sentence has 5"):
        context_windows(list("abcde"), 3)
    with pytest.raises(ValueError, match="holds no words"):
        WordVocabulary.build(["", "  "])
    with pytest.raises(ValueError, match="need at least 10"):
        lineage.load_sentences(bundled("facts_corpus.txt"), max_chars=200)


@pytest.fixture(scope="module")
def facts():
    sentences = lineage.load_sentences(bundled("facts_corpus.txt"))
    train, held = lineage.split_held_out(sentences)
    vocab = WordVocabulary.build(train)
    return vocab, lineage.encode(train, vocab, 24), lineage.encode(held, vocab, 24)


@pytest.mark.slow
def test_cbow_learns_and_groups_words_used_alike(facts):
    vocab, train, held = facts
    contexts, centres = lineage.cbow_examples(train, 2)
    rng = np.random.default_rng(0)
    before = lineage.cbow_perplexity(CBOW(len(vocab), 32, rngs=nnx.Rngs(0)), held, 2)
    model, losses = lineage.fit(CBOW(len(vocab), 32, rngs=nnx.Rngs(0)), cbow_loss,
                                lambda i: (lambda ix: {"context": contexts[ix], "centre": centres[ix]})(
                                    rng.integers(len(centres), size=256)),
                                300, 1e-2)
    after = lineage.cbow_perplexity(model, held, 2)
    assert after < before / 5, (before, after)
    vectors = model.word_vectors()
    goods = {"copper", "tea", "wool", "glass", "salt", "timber", "silk", "olives", "tin", "paper", "honey", "rice"}
    assert len(goods & set(nearest(vectors, vocab, "copper", k=5))) >= 2  # exports sit together
    assert analogy(vectors, vocab, "copper", "tea", "wool", k=3)
    with pytest.raises(KeyError, match="'zzzz' is not in the vocabulary"):
        nearest(vectors, vocab, "zzzz")


@pytest.mark.slow
def test_hiding_the_future_changes_nothing_for_a_causal_model(facts):
    """`generation_perplexity` scores each next word with the words after it hidden. A causal
    model never saw them: its figure equals `gpt_perplexity`. (That a peeking model learns to
    copy, and is lost when the future is hidden, lesson 07 checks with `peeking_experiment`'s
    figures.)"""
    vocab, _, held = facts
    config = GPT2Config(vocab_size=len(vocab), n_positions=16, n_embd=32, n_layer=1, n_head=2,
                        resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    causal = GPT(config, causal=True, rngs=nnx.Rngs(0))
    assert lineage.generation_perplexity(causal, held, 16) == pytest.approx(lineage.gpt_perplexity(causal, held, 16),
                                                                            rel=1e-4)


def test_generation_perplexity_of_a_peeking_model_equals_a_loop_over_positions(facts):
    """A fully visible model's figure, against numpy: for each position t, the model run on words
    0..t (padding after them), float64 log-softmax of its scores at t, the next word's share."""
    vocab, _, held = facts
    config = GPT2Config(vocab_size=len(vocab), n_positions=8, n_embd=32, n_layer=1, n_head=2,
                        resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
    peeking = GPT(config, causal=False, rngs=nnx.Rngs(1))
    rows = lineage.pad_rows(held[:40], 8)
    logits = jax.jit(lambda ids: peeking(ids).logits)  # (rows, 8, vocab)
    total = count = 0.0
    for t in range(7):
        visible = np.where(np.arange(8)[None] <= t, rows, 0)
        scores = np.asarray(logits(jnp.asarray(visible))[:, t], np.float64)
        log_probs = scores - scores.max(-1, keepdims=True)
        log_probs -= np.log(np.exp(log_probs).sum(-1, keepdims=True))
        real = rows[:, t + 1] != 0
        total -= (log_probs[np.arange(len(rows)), rows[:, t + 1]] * real).sum()
        count += real.sum()
    assert lineage.generation_perplexity(peeking, held[:40], 8) == pytest.approx(np.exp(total / count), rel=1e-4)
