"""T5 against the reference (fixtures from reference/t5_fixtures.py): logits, greedy generation,
checkpoint names; the relative position buckets against a numpy re-computation."""

import json
import shutil
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import shared_data
from flax import nnx

from minitrans.checkpoints import CheckpointError
from minitrans.exercises import numpy_reference as ref
from minitrans.exercises.t5 import compiled  # the same model, its encode and decode compiled
from minitrans.kernels import compiled_call
from minitrans.models.t5 import (
    T5Config,
    T5ForConditionalGeneration,
    greedy_generate,
    relative_position_bucket,
    shift_right,
)
from minitrans.summary import count_parameters
from minitrans.tokenizers.sentencepiece import T5Tokenizer

FIXTURES = Path(__file__).parent / "fixtures"
NAMES = ["t5_tiny_random", "t5_v1_1_tiny_random"]


def folder_for(name, tmp_path):
    shutil.copy(FIXTURES / name / "config.json", tmp_path / "config.json")
    shutil.copy(FIXTURES / name / "weights.safetensors", tmp_path / "model.safetensors")
    return tmp_path


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_logits_match_transformers(name, tmp_path):
    ref = np.load(FIXTURES / f"{name}_outputs.npz")
    model = T5ForConditionalGeneration.from_pretrained(folder_for(name, tmp_path))
    assert ref["input_ids"].shape[1] > model.config.relative_attention_max_distance  # far buckets used
    out = compiled_call(model, ref["input_ids"], ref["attention_mask"], labels=ref["labels"])
    np.testing.assert_allclose(out.logits, ref["logits"], atol=1e-4)


@pytest.mark.parametrize("name", [n + "_sharp" for n in NAMES])  # sharpened weights: varied ids
@pytest.mark.slow
def test_greedy_generation_gives_the_reference_ids(name, tmp_path):
    ref = np.load(FIXTURES / f"{name}_outputs.npz")
    model = T5ForConditionalGeneration.from_pretrained(folder_for(name, tmp_path))
    generated = greedy_generate(compiled(model), ref["input_ids"], 12, ref["attention_mask"])
    assert generated.tolist() == ref["generated"].tolist()


def test_the_sharp_fixtures_generate_varied_ids():
    generated = np.load(FIXTURES / "t5_v1_1_tiny_random_sharp_outputs.npz")["generated"]
    assert len(set(generated[0].tolist())) > 5  # so the generation test above can fail


@pytest.mark.slow
def test_save_pretrained_writes_the_reference_names(tmp_path):
    from safetensors.numpy import load_file
    model = T5ForConditionalGeneration.from_pretrained(folder_for("t5_v1_1_tiny_random", tmp_path))
    saved = model.save_pretrained(tmp_path / "ours")
    ours, theirs = load_file(saved / "model.safetensors"), load_file(tmp_path / "model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name])
    again = T5ForConditionalGeneration.from_pretrained(saved)
    ids = jnp.array([[5, 6, 7, 1]])
    np.testing.assert_array_equal(again(ids, labels=ids).logits, model(ids, labels=ids).logits)


@pytest.mark.slow
def test_parameter_counts_equal_t5_small_and_base():
    # nnx.eval_shape builds the model with shapes only: no 220M random numbers drawn
    small = nnx.eval_shape(lambda: T5ForConditionalGeneration(T5Config.small(), rngs=nnx.Rngs(0)))
    base = nnx.eval_shape(lambda: T5ForConditionalGeneration(T5Config.base(), rngs=nnx.Rngs(0)))
    assert (count_parameters(small), count_parameters(base)) == (60_506_624, 222_903_552)


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_buckets,max_distance", [(32, 128), (8, 20)])
def test_relative_position_buckets(bidirectional, num_buckets, max_distance):
    positions = np.arange(-300, 301)
    got = np.asarray(relative_position_bucket(jnp.asarray(positions), bidirectional, num_buckets, max_distance))
    want = [ref.relative_position_bucket(int(p), bidirectional, num_buckets, max_distance) for p in positions]
    np.testing.assert_array_equal(got, want)
    assert got.min() == 0 and got.max() == num_buckets - 1  # every bucket range is reached, none exceeded
    if bidirectional:  # keys after the query (positive) in the upper half, the others in the lower half
        assert (got[positions > 0] >= num_buckets // 2).all() and (got[positions <= 0] < num_buckets // 2).all()
    else:  # the decoder tells apart only keys before the query
        assert (got[positions >= 0] == 0).all() and got[positions == -1] == 1


def test_relative_position_buckets_by_hand():
    """Small distances are exact; far ones share the last bucket (the T5 encoder's 32 / 128)."""
    near = np.asarray(relative_position_bucket(jnp.arange(-3, 4), True, 32, 128))
    np.testing.assert_array_equal(near, [3, 2, 1, 0, 17, 18, 19])
    far = np.asarray(relative_position_bucket(jnp.array([-128, -1000, 128, 1000]), True, 32, 128))
    np.testing.assert_array_equal(far, [15, 15, 31, 31])


def test_shift_right_is_teacher_forcing():
    labels = jnp.array([[11, 12, 13, 1], [21, 22, 1, -100]])
    np.testing.assert_array_equal(shift_right(labels), [[0, 11, 12, 13], [0, 21, 22, 1]])
    np.testing.assert_array_equal(shift_right(jnp.array([[5, -100, -100]])), [[0, 5, 0]])


@pytest.mark.slow
def test_bad_input_and_checkpoints(tmp_path):
    model = T5ForConditionalGeneration(T5Config.tiny(vocab_size=50), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="give decoder_input_ids or labels"):
        model(jnp.array([[3, 4, 1]]))
    with pytest.raises(ValueError, match=r"token id 50 is outside the vocabulary \(vocab_size=50\)"):
        model(jnp.array([[3, 50]]), labels=jnp.array([[1]]))
    with pytest.raises(ValueError, match="unknown T5Config key.*d_modle"):
        T5Config.from_dict({"d_modle": 4})
    bert = FIXTURES / "bert_tiny_random"
    shutil.copy(bert / "config.json", tmp_path / "config.json")
    with pytest.raises(ValueError, match="holds a 'bert' checkpoint .*T5ForConditionalGeneration reads 't5' ones"):
        T5ForConditionalGeneration.from_pretrained(tmp_path)
    (tmp_path / "t5").mkdir()
    folder = folder_for("t5_tiny_random", tmp_path / "t5")
    config = json.loads((folder / "config.json").read_text())
    config["vocab_size"] = 300
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=r"shared.weight has shape \(200, 32\), the config expects \(300, 32\)"):
        T5ForConditionalGeneration.from_pretrained(folder)


def test_tokenize_and_mask_reproduces_the_slide():
    from minitrans.datasets.span_corruption import tokenize_and_mask
    words = "Thank you for inviting me to your party last week .".split()
    vocab = {w: i + 2 for i, w in enumerate(words)}
    names = {i: w for w, i in vocab.items()} | {99: "<X>", 98: "<Y>", 97: "<Z>", 1: "</s>"}
    draws = iter([0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9])
    inputs, targets = tokenize_and_mask([vocab[w] for w in words], vocab_size=100, eos_id=1,
                                        randomizer=lambda: next(draws))
    assert " ".join(names[i] for i in inputs) == "Thank you <X> me to your party <Y> week . </s>"
    assert " ".join(names[i] for i in targets) == "<X> for inviting <Y> last <Z> </s>"


def test_tokenize_and_mask_conventions_with_t5s_vocabulary():
    """The course's conventions on real text with T5's SentencePiece vocabulary: sentinels
    count down from its 32,000 pieces (shown as <Z>, <Y>, ...), the T5 convention's from
    <extra_id_0> = 32099."""
    from minitrans.datasets.span_corruption import get_sentinels, pretty_decode, tokenize_and_mask
    tokenizer = T5Tokenizer(shared_data("t5/spiece.model"))
    text = "Thank you for inviting me to your party last week."
    ids = tokenizer.encode(text, add_eos=False)
    draws = [0.9, 0.9, 0.1, 0.1] + [0.9] * (len(ids) - 4)
    got = {c: tokenize_and_mask(text, tokenizer=tokenizer, convention=c, randomizer=iter(draws).__next__)
           for c in ("t5", "course", "course-2023")}
    assert got["course"] == ([ids[0], ids[1], 31999] + ids[4:], [31999, ids[2], ids[3]])
    assert got["course-2023"] == (got["course"][0], got["course"][1] + [1])
    assert got["t5"] == ([ids[0], ids[1], 32099] + ids[4:], [32099, ids[2], ids[3], 32098])
    assert tokenizer.decode(got["t5"][1]) == "<extra_id_0> for inviting <extra_id_1>"
    assert pretty_decode(got["course"][0], tokenizer) == "Thank you <Z> me to your party last week."
    assert pretty_decode(got["course-2023"][1], tokenizer) == "<Z> for inviting </s>"
    assert pretty_decode(got["t5"][1], tokenizer, tokenizer.vocab_size) == "<Z> for inviting <Y>"
    sentinels = get_sentinels(32000)
    assert (len(sentinels), sentinels[31999], sentinels[31974], sentinels[31973], sentinels[31948]) == (
        52, "<Z>", "<A>", "<z>", "<a>")
    # nothing masked: no sentinel anywhere, in every convention
    assert tokenize_and_mask(text, tokenizer=tokenizer, noise=0.0) == (ids, [])
    assert tokenize_and_mask(text, tokenizer=tokenizer, noise=0.0, eos_id=1) == (ids + [1], [1])
    assert tokenize_and_mask(text, tokenizer=tokenizer, noise=0.0, convention="course-2023") == (ids, [1])
    inputs, targets = tokenize_and_mask(text, tokenizer=tokenizer, noise=1.0, convention="course")
    assert (inputs, targets) == ([31999], [31999] + ids)


@pytest.mark.parametrize("arguments,message", [
    (dict(text="", vocab_size=100, tokenize=lambda t: []), "nothing to mask"),
    (dict(text=[5, 6], vocab_size=100, noise=1.5), r"expected a number in \[0, 1\], got 1.5"),
    (dict(text=[5, 6], vocab_size=100, noise=-0.1), r"in \[0, 1\]"),
    (dict(text=[5, 6], vocab_size=100, convention="course-2023"), "ends the targets with EOS"),
    (dict(text=[5, 6], vocab_size=100, convention="course", eos_id=1), "appends no EOS"),
    (dict(text=[5, 6], vocab_size=100, convention="paper"), "convention must be one of"),
    (dict(text="some words", vocab_size=100), "needs a tokenizer="),
    (dict(text=[5, 6]), "vocab_size is needed"),
])
def test_tokenize_and_mask_refuses_bad_input(arguments, message):
    from minitrans.datasets.span_corruption import tokenize_and_mask
    text = arguments.pop("text")
    with pytest.raises(ValueError, match=message):
        tokenize_and_mask(text, **arguments)


def test_span_corruption_rates_and_round_trip():
    from minitrans.datasets.span_corruption import random_spans_noise_mask, span_corrupt, tokenize_and_mask
    rng = np.random.default_rng(0)
    masks = [random_spans_noise_mask(200, rng=rng) for _ in range(200)]
    assert all(m.sum() == 30 for m in masks)  # exactly 15% of 200
    spans = [int((np.diff(m.astype(int)) == 1).sum()) for m in masks]
    assert 30 / np.mean(spans) == pytest.approx(3.0, rel=0.05)  # mean span length 3
    ids = list(range(10, 60))
    inputs, targets = span_corrupt(ids, random_spans_noise_mask(50, rng=rng), vocab_size=1000)
    # putting each sentinel's tokens back where it stands restores the sequence
    fill, current = {}, None
    for t in targets:
        if t >= 900:
            current = t
            fill[current] = []
        else:
            fill[current].append(t)
    restored = [x for t in inputs for x in (fill[t] if t >= 900 else [t])]
    assert restored == ids
    counts = [sum(1 for t in tokenize_and_mask(list(range(1000)), vocab_size=5000, rng=np.random.default_rng(s))[1]
                  if t < 4000) for s in range(5)]
    assert abs(np.mean(counts) / 1000 - 0.15) < 0.02  # the course's version masks ~15%


@pytest.mark.slow
def test_t5_pretraining_learns_and_saves(tmp_path):
    from minitrans.datasets import bundled
    from minitrans.datasets.span_corruption import make_span_batch, raw_length_for
    from minitrans.tokenizers.sentencepiece import T5Tokenizer
    from minitrans.training.pretraining import pretrain_t5

    assert raw_length_for(128, 32) == 141  # 141 - 21 noise + 7 spans + EOS = 128 inputs; 21 + 7 + 2 = 30 targets
    corpus = bundled("facts_corpus.txt")
    tok = T5Tokenizer.train(corpus.read_text().splitlines(), vocab_size=800, model_prefix=tmp_path / "sp")
    rows = np.arange(10, 10 + 2 * raw_length_for(64, 16)).reshape(2, -1) % 600 + 3
    batch = make_span_batch(rows, tok, np.random.default_rng(0), 64, 16)
    assert batch["input_ids"].shape == (2, 64) and batch["labels"].shape == (2, 16)
    assert (batch["labels"] >= 700).sum() >= 2 and batch["word_weights"].sum() > 0
    config = T5Config(vocab_size=tok.vocab_size, d_model=64, d_kv=16, d_ff=128, num_layers=1, num_heads=4, dropout_rate=0.0)
    result = pretrain_t5(corpus, config, tok, steps=60, batch_size=16, input_length=64, target_length=16,
                         learning_rate=3e-3, warmup_steps=5, eval_every=30, out_dir=tmp_path / "run", log=lambda *_: None)
    evaluations = [r for r in result["history"] if "eval_loss" in r]
    first, last = evaluations[0], evaluations[-1]
    assert last["eval_loss"] < first["eval_loss"] and last["eval_span_accuracy"] > 0.05
    again = T5ForConditionalGeneration.from_pretrained(tmp_path / "run")
    assert (tmp_path / "run" / "spiece.model").exists()
    ids = jnp.asarray([tok.encode("The capital of <extra_id_0> is here.")])
    np.testing.assert_allclose(again(ids, labels=ids).logits, result["model"](ids, labels=ids).logits, atol=1e-5)
