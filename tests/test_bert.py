"""BERT against the reference implementation: a real pretrained checkpoint (all-MiniLM-L6-v2)
and a random BertForPreTraining, both through fixtures made by reference/bert_fixtures.py."""

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import minilm_folder
from flax import nnx

import minitrans
from minitrans.checkpoints import CheckpointError
from minitrans.kernels import compiled_call
from minitrans.models.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForPreTraining,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertModel,
)
from minitrans.summary import count_parameters, parameter_count

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def minilm():
    return BertModel.from_pretrained(minilm_folder())


@pytest.fixture
def tiny_random_folder(tmp_path):
    """The reference's random BertForPreTraining as a checkpoint folder."""
    shutil.copy(FIXTURES / "bert_tiny_random" / "config.json", tmp_path / "config.json")
    shutil.copy(FIXTURES / "bert_tiny_random" / "weights.safetensors", tmp_path / "model.safetensors")
    return tmp_path


@pytest.mark.slow
def test_minilm_matches_transformers_on_a_padded_batch_with_a_pair(minilm):
    ref = np.load(FIXTURES / "bert_minilm_outputs.npz")
    assert ref["token_type_ids"].max() == 1 and ref["attention_mask"].min() == 0  # a pair, and padding
    out = minilm(jnp.asarray(ref["input_ids"]), jnp.asarray(ref["token_type_ids"]),
                 jnp.asarray(ref["attention_mask"]))
    real = ref["attention_mask"].astype(bool)
    diff = np.abs(np.asarray(out.last_hidden_state) - ref["last_hidden_state"])
    assert diff[real].max() < 1e-4, diff[real].max()
    assert diff.max() < 1e-4  # padded positions too: BERT's mask hides pad keys only
    np.testing.assert_allclose(out.pooler_output, ref["pooler_output"], atol=1e-4)


def test_minilm_under_jit_matches_eager(minilm):
    ref = np.load(FIXTURES / "bert_minilm_outputs.npz")
    graphdef, state = nnx.split(minilm)
    args = [jnp.asarray(ref[k]) for k in ("input_ids", "token_type_ids", "attention_mask")]
    out = jax.jit(lambda s, *a: nnx.merge(graphdef, s)(*a).last_hidden_state)(state, *args)
    np.testing.assert_allclose(out, ref["last_hidden_state"], atol=1e-4)


@pytest.mark.slow
def test_random_pretraining_model_matches_transformers(tiny_random_folder):
    ref = np.load(FIXTURES / "bert_tiny_random_outputs.npz")
    model = minitrans.from_pretrained(tiny_random_folder)
    assert isinstance(model, BertForPreTraining)
    out = compiled_call(model, ref["input_ids"], ref["token_type_ids"], ref["attention_mask"])
    np.testing.assert_allclose(out.prediction_logits, ref["prediction_logits"], atol=1e-4)
    np.testing.assert_allclose(out.seq_relationship_logits, ref["seq_relationship_logits"], atol=1e-4)
    # scoring only the masked positions gives the same numbers at those positions
    positions = jnp.array([[1, 4, 7], [0, 2, 8]])
    gathered = compiled_call(model, ref["input_ids"], ref["token_type_ids"], ref["attention_mask"],
                             masked_positions=positions).prediction_logits
    np.testing.assert_allclose(gathered, np.take_along_axis(ref["prediction_logits"], np.asarray(positions)[..., None], 1),
                               atol=1e-4)


@pytest.mark.slow
def test_save_pretrained_round_trips_with_the_reference_names(tiny_random_folder, tmp_path):
    from safetensors.numpy import load_file
    model = BertForPreTraining.from_pretrained(tiny_random_folder)
    saved = model.save_pretrained(tmp_path / "ours")
    ours, theirs = load_file(saved / "model.safetensors"), load_file(tiny_random_folder / "model.safetensors")
    assert ours.keys() == theirs.keys()  # the same names transformers wrote, so it loads ours back
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name])
    config = json.loads((saved / "config.json").read_text())
    assert config["architectures"] == ["BertForPreTraining"] and config["model_type"] == "bert"
    again = minitrans.from_pretrained(saved)
    ids = jnp.array([[2, 8, 9, 3]])
    np.testing.assert_array_equal(again(ids).prediction_logits, model(ids).prediction_logits)


def test_a_base_checkpoint_loads_into_task_models_and_names_the_new_head(tiny_random_folder, capsys):
    qa = BertForQuestionAnswering.from_pretrained(tiny_random_folder)
    printed = capsys.readouterr().out
    assert "newly initialised (train them): qa_outputs.bias, qa_outputs.weight" in printed
    assert "unused: bert.pooler.dense.bias" in printed and "cls.seq_relationship.weight" in printed
    full = BertForPreTraining.from_pretrained(tiny_random_folder)
    ids = jnp.array([[2, 8, 9, 3]])
    np.testing.assert_array_equal(qa.bert(ids).last_hidden_state, full.bert(ids).last_hidden_state)
    base = BertModel.from_pretrained(tiny_random_folder)  # strips "bert.", ignores the heads
    np.testing.assert_array_equal(base(ids).last_hidden_state, full.bert(ids).last_hidden_state)
    out = qa(ids)
    assert out.start_logits.shape == (1, 4) and out.end_logits.shape == (1, 4)
    classifier = BertForSequenceClassification.from_pretrained(tiny_random_folder, num_labels=3, verbose=False)
    assert classifier(ids).logits.shape == (1, 3)
    mlm = BertForMaskedLM.from_pretrained(tiny_random_folder, verbose=False)
    np.testing.assert_allclose(mlm(ids).logits, full(ids).prediction_logits, atol=1e-6)


@pytest.mark.slow
def test_mean_pooling_reads_the_average_of_the_real_tokens(tiny_random_folder):
    classifier = BertForSequenceClassification.from_pretrained(tiny_random_folder, num_labels=3, verbose=False,
                                                                classifier_pooling="mean")
    ids = jnp.array([[2, 7, 9, 4, 0, 0]])
    mask = jnp.array([[1, 1, 1, 1, 0, 0]])
    hidden = np.asarray(classifier.bert(ids, attention_mask=mask).last_hidden_state)[0, :4]  # the 4 real tokens
    kernel, bias = np.asarray(classifier.classifier.kernel[...]), np.asarray(classifier.classifier.bias[...])
    np.testing.assert_allclose(classifier(ids, attention_mask=mask).logits[0], hidden.mean(0) @ kernel + bias,
                               atol=1e-5)
    np.testing.assert_allclose(classifier(ids[:, :4]).logits, classifier(ids, attention_mask=mask).logits, atol=1e-5)
    cls = BertForSequenceClassification.from_pretrained(tiny_random_folder, num_labels=3, verbose=False)
    assert not np.allclose(cls(ids[:, :4]).logits, classifier(ids[:, :4]).logits)  # [CLS] pooling by default
    with pytest.raises(ValueError, match="classifier_pooling must be 'cls' or 'mean', got 'max'"):
        BertConfig(classifier_pooling="max")


def test_base_preset_has_bert_base_uncased_parameter_count(capsys):
    model = nnx.eval_shape(lambda: BertModel(BertConfig.base(), rngs=nnx.Rngs(0)))  # shapes only
    assert count_parameters(model) == 109_482_240
    assert parameter_count(model, depth=1) == 109_482_240
    table = capsys.readouterr().out
    assert "embeddings    23,837,184" in table and "pooler           590,592" in table


def test_presets_and_config_json_round_trip(tmp_path):
    assert (BertConfig.tiny().hidden_size, BertConfig.mini().num_hidden_layers, BertConfig.base().hidden_size) == (128, 4, 768)
    config = BertConfig.mini(vocab_size=1000)
    config.to_json_file(tmp_path / "config.json")
    assert BertConfig.from_json_file(tmp_path / "config.json") == config


def test_bad_configs_and_checkpoints_say_what_is_wrong(tiny_random_folder, tmp_path):
    with pytest.raises(ValueError, match="unknown BertConfig key.*hiden_size"):
        BertConfig.from_dict({"hiden_size": 10})
    with pytest.raises(ValueError, match="hidden_size=10 is not divisible by num_attention_heads=4"):
        BertConfig(hidden_size=10, num_attention_heads=4)
    shape_error = r"bert.embeddings.word_embeddings.weight has shape \(500, 32\), the config expects \(600, 32\)"
    with pytest.raises(CheckpointError, match=shape_error):
        BertForPreTraining.from_pretrained(tiny_random_folder, vocab_size=600)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        BertModel.from_pretrained(tmp_path / "nowhere")
    from safetensors.numpy import load_file, save_file
    tensors = load_file(tiny_random_folder / "model.safetensors")
    del tensors["bert.encoder.layer.1.output.dense.weight"]
    tensors["bert.encoder.layer.9.surprise"] = np.zeros(3, np.float32)
    save_file(tensors, str(tiny_random_folder / "model.safetensors"))
    with pytest.raises(CheckpointError) as error:
        BertForPreTraining.from_pretrained(tiny_random_folder)
    assert "missing tensors: bert.encoder.layer.1.output.dense.weight" in str(error.value)
    assert "unexpected tensors: bert.encoder.layer.9.surprise" in str(error.value)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["GPTNeoX"]}))
    with pytest.raises(ValueError, match="architectures=\\['GPTNeoX'\\]; minitrans knows BertForMaskedLM"):
        minitrans.from_pretrained(tmp_path)


@pytest.mark.slow
def test_bad_inputs_are_named():
    model = BertModel(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                 intermediate_size=16, max_position_embeddings=6), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input_ids has 7 positions, max_position_embeddings is 6"):
        model(jnp.ones((1, 7), jnp.int32))
    with pytest.raises(ValueError, match=r"token id 50 is outside the vocabulary \(vocab_size=50\)"):
        model(jnp.array([[1, 50]]))
    with pytest.raises(ValueError, match=r"token_type_ids must be in \[0, 1\], got 2"):
        model(jnp.array([[1, 5]]), token_type_ids=jnp.array([[0, 2]]))
    with pytest.raises(ValueError, match=r"attention_mask has shape \(1, 3\), input_ids \(1, 2\)"):
        model(jnp.array([[1, 5]]), attention_mask=jnp.ones((1, 3)))
    with pytest.raises(ValueError, match=r"input_ids must be integers of shape \(batch, seq\)"):
        model(jnp.ones((2,), jnp.int32))


@pytest.mark.slow
def test_dropout_is_off_unless_asked_for_training():
    model = BertForPreTraining(BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                          intermediate_size=16, max_position_embeddings=8),
                               rngs=nnx.Rngs(params=0, dropout=1))
    ids = jnp.array([[1, 5, 7, 9]])
    first = model(ids).prediction_logits
    np.testing.assert_array_equal(model(ids).prediction_logits, first)
    model.train()
    assert not np.allclose(model(ids).prediction_logits, first)


@pytest.mark.slow
def test_sentence_embeddings_rank_a_paraphrase_above_unrelated_sentences(minilm):
    from minitrans.embeddings import mean_pooling, sentence_embeddings
    from minitrans.tokenizers import WordPieceTokenizer

    tok = WordPieceTokenizer.from_pretrained(minilm_folder())
    sentences = ["A man is playing a guitar.", "Someone plays an acoustic guitar.",
                 "The stock market fell sharply today.", "A chef is cooking pasta in the kitchen."]
    vectors = sentence_embeddings(minilm, tok, sentences)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > 0.5 > max(similarity[0, 2], similarity[0, 3], similarity[1, 2])
    # mean pooling counts real tokens only: padding a sentence does not move its vector
    ref = np.load(FIXTURES / "bert_minilm_outputs.npz")
    pooled = mean_pooling(jnp.asarray(ref["last_hidden_state"]), jnp.asarray(ref["attention_mask"]))
    n = int(ref["attention_mask"][0].sum())
    np.testing.assert_allclose(pooled[0], ref["last_hidden_state"][0, :n].mean(0), atol=1e-5)
