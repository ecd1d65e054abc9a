"""BERT pre-training: masking and next-sentence statistics, the losses against numpy, the
vocabulary learner, the optimizer schedule, and a tiny pre-training run that learns."""

import json
from collections import Counter

import jax.numpy as jnp
import numpy as np
import pytest

from minitrans.cli import main
from minitrans.datasets import bundled  # noqa: E402
from minitrans.datasets.corpus import group_sentences, read_documents
from minitrans.datasets.masking import make_batch, make_nsp_pairs, mask_tokens
from minitrans.losses import IGNORE, accuracy, cross_entropy, masked_lm_loss, next_sentence_loss
from minitrans.models.bert import BertConfig, BertForPreTraining
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.tokenizers.wordpiece_trainer import learn_wordpiece_vocab
from minitrans.training.pretraining import pretrain_bert
from minitrans.training.step import adamw_with_warmup, current_learning_rate, warmup_schedule

CORPUS = bundled("facts_corpus.txt")


def test_mask_tokens_rates_over_many_tokens():
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 1000, size=(400, 128))
    ids[:, 0] = 2
    masked, labels = mask_tokens(ids, mask_token_id=4, vocab_size=1000, special_ids=[0, 1, 2, 3, 4], rng=rng)
    chosen = labels != IGNORE
    assert chosen[:, 0].sum() == 0
    assert (chosen.sum(1) == round(127 * 0.15)).all()  # exactly 15% of each row's 127 ordinary tokens
    n = chosen.sum()
    assert abs((masked[chosen] == 4).mean() - 0.8) < 4 * np.sqrt(0.16 / n)
    assert abs((masked[chosen] == ids[chosen]).mean() - 0.1) < 4 * np.sqrt(0.09 / n) + 0.001
    np.testing.assert_array_equal(masked[~chosen], ids[~chosen])


def test_make_nsp_pairs_is_half_true_next_sentences():
    docs = [[f"d{d} s{s}" for s in range(10)] for d in range(50)]
    pairs = make_nsp_pairs(docs, np.random.default_rng(1))
    assert len(pairs) == 450
    labels = np.array([label for _, _, label in pairs])
    assert abs(labels.mean() - 0.5) < 4 * np.sqrt(0.25 / 450)
    for a, b, label in pairs:
        same_doc = a.split()[0] == b.split()[0]
        assert (label == 0) == same_doc
        if label == 0:
            assert int(b.split()[1][1:]) == int(a.split()[1][1:]) + 1
    with pytest.raises(ValueError, match="at least 2 non-empty documents, got 1"):
        make_nsp_pairs([["a b c", "d e f"], []], np.random.default_rng(0))


@pytest.mark.slow
def test_losses_match_numpy(rng):
    logits = rng.normal(size=(3, 5, 7))
    labels = rng.integers(0, 7, size=(3, 5))
    weights = (rng.random((3, 5)) < 0.5).astype(np.float32)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    nll = -np.take_along_axis(log_probs, labels[..., None], -1)[..., 0]
    expected = (nll * weights).sum() / weights.sum()
    got = masked_lm_loss(jnp.asarray(logits), jnp.asarray(labels), jnp.asarray(weights))
    assert float(got) == pytest.approx(expected, rel=1e-5)
    assert float(cross_entropy(jnp.asarray(logits), jnp.asarray(labels))) == pytest.approx(nll.mean(), rel=1e-5)
    assert float(cross_entropy(jnp.asarray(logits), jnp.asarray(labels), jnp.zeros((3, 5)))) == 0.0
    nsp_logits = rng.normal(size=(4, 2))
    nsp_labels = np.array([0, 1, 1, 0])
    lp = nsp_logits - np.log(np.exp(nsp_logits).sum(-1, keepdims=True))
    assert float(next_sentence_loss(jnp.asarray(nsp_logits), jnp.asarray(nsp_labels))) == pytest.approx(
        -lp[np.arange(4), nsp_labels].mean(), rel=1e-5)
    assert float(accuracy(jnp.asarray(nsp_logits), jnp.asarray(nsp_labels))) == (nsp_logits.argmax(-1) == nsp_labels).mean()


@pytest.fixture(scope="module")
def facts_tokenizer():
    text = open(CORPUS).read()
    return WordPieceTokenizer(learn_wordpiece_vocab(text.splitlines(), 3000))


def test_learned_vocabulary_has_specials_characters_and_merges(facts_tokenizer):
    vocab = facts_tokenizer.vocab
    assert list(vocab)[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert {"the", "capital", "of", "river", "flows"} <= set(vocab)
    assert sorted(vocab.values()) == list(range(len(vocab)))
    # every non-special token is reachable: it splits into itself
    for token in list(vocab)[5:200]:
        if not token.startswith("##"):
            assert facts_tokenizer.tokenize(token) == [token]
    with pytest.raises(ValueError, match="holds no words"):
        learn_wordpiece_vocab(["   ", ""], 100)
    with pytest.raises(ValueError, match="vocab_size=10 is smaller than"):
        learn_wordpiece_vocab(["hello world"], 10)


def test_wordpiece_learner_finds_ing():
    texts = ["playing singing walking talking jumping reading eating sleeping thinking"] * 30 + \
        ["play sing walk talk jump read eat sleep think"] * 30
    vocab = learn_wordpiece_vocab(texts, 60, min_frequency=2)
    assert "##ing" in vocab  # the suffix shared by all those words became one piece


def test_make_batch_lists_the_masked_positions(facts_tokenizer):
    pairs = make_nsp_pairs(group_sentences(read_documents(CORPUS), 40)[:6], np.random.default_rng(0))[:8]
    batch = make_batch(pairs, facts_tokenizer, np.random.default_rng(0), max_length=64, max_predictions=10)
    assert batch.input_ids.shape == (8, 64) and batch.masked_positions.shape == (8, 10)
    for row in range(8):
        n = int(batch.masked_weights[row].sum())
        assert n >= 1
        positions = batch.masked_positions[row, :n]
        assert (batch.input_ids[row, positions] != batch.masked_ids[row, :n]).any() or n < 4
        assert batch.attention_mask[row, positions].all()  # never a pad position
    # the labels are the tokens that were there before masking
    plain = facts_tokenizer([a for a, _, _ in pairs], [b for _, b, _ in pairs], max_length=64,
                            truncation="longest_first", padding="max_length")["input_ids"]
    for row in range(8):
        n = int(batch.masked_weights[row].sum())
        np.testing.assert_array_equal(batch.masked_ids[row, :n], plain[row, batch.masked_positions[row, :n]])
        untouched = np.setdiff1d(np.arange(64), batch.masked_positions[row, :n])
        np.testing.assert_array_equal(batch.input_ids[row, untouched], plain[row, untouched])
    np.testing.assert_array_equal(batch.next_sentence_labels, [label for _, _, label in pairs])


@pytest.mark.slow
def test_adamw_schedule_and_decay_mask():
    tx = adamw_with_warmup(1e-3, total_steps=100, warmup_steps=10)
    params = {"kernel": jnp.ones((2, 2)), "bias": jnp.ones((2,))}
    state = tx.init(params)
    zero = {"kernel": jnp.zeros((2, 2)), "bias": jnp.zeros((2,))}
    for _ in range(20):
        updates, state = tx.update(zero, state, params)
    # zero gradients: only weight decay moves a parameter, and only the matrix
    assert float(jnp.abs(updates["bias"]).max()) == 0.0
    assert float(jnp.abs(updates["kernel"]).max()) > 0.0
    # the rate applied at update 20 is the schedule's at step 19: warm-up over 10, then decay to 0 at 100
    assert current_learning_rate(state) == pytest.approx(1e-3 * (1 - 9 / 90), rel=1e-6)
    assert current_learning_rate(state) == pytest.approx(float(warmup_schedule(1e-3, 100, 10)(19)), rel=1e-6)
    # and the weight decay it applied is that rate times 0.01 times the weight
    assert float(updates["kernel"][0, 0]) == pytest.approx(-1e-3 * (1 - 9 / 90) * 0.01 * float(params["kernel"][0, 0]),
                                                           rel=1e-5)
    with pytest.raises(ValueError, match="learning_rate must be > 0, got 0"):
        adamw_with_warmup(0, 10)
    with pytest.raises(ValueError, match="schedule must be 'linear', 'cosine' or 'constant'"):
        adamw_with_warmup(1e-3, 10, schedule="step")


def test_read_documents_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_documents(tmp_path / "nope.txt")
    (tmp_path / "tiny.txt").write_text("Too short.\n")
    with pytest.raises(ValueError, match="fewer than 2 sentences"):
        read_documents(tmp_path / "tiny.txt")


@pytest.mark.slow
def test_tiny_pretraining_learns_and_saves(facts_tokenizer, tmp_path):
    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=128,
                        max_position_embeddings=64)
    result = pretrain_bert(CORPUS, config, facts_tokenizer, steps=450, batch_size=16, max_length=64,
                           learning_rate=3e-3, warmup_steps=10, eval_every=225, out_dir=tmp_path, log=lambda *_: None)
    evaluations = [r for r in result["history"] if "eval_mlm_loss" in r]
    first, last = evaluations[0], evaluations[-1]
    assert result["steps"] == 450 and last["step"] == 450
    assert last["eval_mlm_loss"] < first["eval_mlm_loss"]
    # well above always answering the corpus's most frequent token (11% of the tokens; measured 21.0%)
    counts = Counter(i for line in CORPUS.read_text().splitlines() for i in facts_tokenizer.encode(line).ids if i > 4)
    majority = counts.most_common(1)[0][1] / sum(counts.values())
    assert 0.1 < majority < 0.13 and last["eval_mlm_accuracy"] > 1.5 * majority
    saved = BertForPreTraining.from_pretrained(tmp_path)
    assert json.loads((tmp_path / "pretraining_history.json").read_text())[-1]["step"] == 450
    assert WordPieceTokenizer.from_pretrained(tmp_path).vocab == facts_tokenizer.vocab
    ids = jnp.asarray([facts_tokenizer.encode("The capital of [MASK] is here.").ids])
    np.testing.assert_allclose(saved(ids).prediction_logits, result["model"](ids).prediction_logits, atol=1e-5)


@pytest.mark.slow
def test_pretrain_cli_runs_on_the_bundled_corpus(tmp_path, capsys):
    assert main(["pretrain", "bert", "--config", "tiny", "--steps", "4", "--batch-size", "4", "--max-length", "32",
                 "--eval-every", "2", "--vocab-size", "1500", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "held-out masked-token accuracy" in out and "NSP accuracy" in out
    assert (tmp_path / "model.safetensors").exists() and (tmp_path / "vocab.txt").exists()
    assert json.loads((tmp_path / "latest" / "trainer_state.json").read_text())["matmul_precision"] == "float32"
    assert main(["pretrain", "bert", "--config", "tiny", "--steps", "2", "--batch-size", "4", "--max-length", "32",
                 "--vocab", str(tmp_path / "vocab.txt"), "--bfloat16", "--out", str(tmp_path / "mixed")]) == 0
    assert json.loads((tmp_path / "mixed" / "latest" / "trainer_state.json").read_text())["matmul_precision"] == "bfloat16"
    assert main(["pretrain", "bert", "--config", "huge", "--steps", "1", "--out", str(tmp_path / "other")]) == 2
    assert "--config must be one of tiny, mini, base" in capsys.readouterr().err


def test_squad_paragraphs_make_a_corpus():
    from conftest import shared_data

    from minitrans.datasets.corpus import read_corpus
    documents = read_corpus(shared_data("squad/dev-v1.1.json.gz"))
    assert len(documents) == 48  # one document per Wikipedia article
    assert sum(map(len, documents)) > 5000 and documents[0][0].startswith("Super Bowl 50")
