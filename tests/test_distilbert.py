"""DistilBERT against the reference implementation (fixture from reference/distilbert_fixtures.py:
a random DistilBertForMaskedLM and a QA head built from a config with torch + transformers), and
`minitrans qa` fine-tuning and answering with it."""

import json
import shutil
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import minilm_folder
from flax import nnx
from safetensors.numpy import load_file, save_file

import minitrans
from minitrans.checkpoints import CheckpointError
from minitrans.cli import main
from minitrans.kernels import compiled_call
from minitrans.models.distilbert import DistilBertConfig, DistilBertForMaskedLM, DistilBertForQuestionAnswering, DistilBertModel
from minitrans.summary import count_parameters

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def folder(tmp_path):
    shutil.copy(FIXTURES / "distilbert_tiny_random" / "config.json", tmp_path / "config.json")
    shutil.copy(FIXTURES / "distilbert_tiny_random" / "weights.safetensors", tmp_path / "model.safetensors")
    return tmp_path


@pytest.mark.slow
def test_masked_lm_and_base_model_match_transformers(folder):
    ref = np.load(FIXTURES / "distilbert_tiny_random_outputs.npz")
    model = minitrans.from_pretrained(folder)  # config.json names DistilBertForMaskedLM
    assert isinstance(model, DistilBertForMaskedLM)
    ids, mask = jnp.asarray(ref["input_ids"]), jnp.asarray(ref["attention_mask"])
    np.testing.assert_allclose(compiled_call(model, ids, attention_mask=mask).logits, ref["logits"], atol=1e-4)
    base = DistilBertModel.from_pretrained(folder)  # strips "distilbert.", leaves the head unused
    np.testing.assert_allclose(compiled_call(base, ids, attention_mask=mask).last_hidden_state, ref["last_hidden_state"],
                               atol=1e-4)


def test_question_answering_head_matches_transformers(folder, capsys):
    ref = np.load(FIXTURES / "distilbert_tiny_random_outputs.npz")
    DistilBertForQuestionAnswering.from_pretrained(folder)
    assert "newly initialised (train them): qa_outputs.bias, qa_outputs.weight" in capsys.readouterr().out
    head = load_file(FIXTURES / "distilbert_tiny_random" / "qa_head.safetensors")
    tensors = {**load_file(folder / "model.safetensors"), **head}
    save_file(tensors, str(folder / "model.safetensors"))
    qa = DistilBertForQuestionAnswering.from_pretrained(folder, verbose=False)
    out = qa(jnp.asarray(ref["input_ids"]), attention_mask=jnp.asarray(ref["attention_mask"]))
    np.testing.assert_allclose(out.start_logits, ref["start_logits"], atol=1e-4)
    np.testing.assert_allclose(out.end_logits, ref["end_logits"], atol=1e-4)


def test_save_pretrained_writes_the_reference_names(folder, tmp_path):
    model = DistilBertForMaskedLM.from_pretrained(folder, verbose=False)
    saved = model.save_pretrained(tmp_path / "ours")
    ours, theirs = load_file(saved / "model.safetensors"), load_file(folder / "model.safetensors")
    assert ours.keys() == theirs.keys()
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name])
    config = json.loads((saved / "config.json").read_text())
    assert config["architectures"] == ["DistilBertForMaskedLM"] and config["model_type"] == "distilbert"


def test_a_tied_copy_that_differs_is_refused(folder):
    tensors = load_file(folder / "model.safetensors")
    tensors["vocab_projector.weight"] = tensors["distilbert.embeddings.word_embeddings.weight"] + 1.0
    save_file(tensors, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointError, match="vocab_projector.weight differs from distilbert.embeddings.word_embeddings"):
        DistilBertForMaskedLM.from_pretrained(folder)


def test_base_preset_has_distilbert_base_parameter_count():
    model = nnx.eval_shape(lambda: DistilBertModel(DistilBertConfig.base(), rngs=nnx.Rngs(0)))
    assert count_parameters(model) == 66_362_880  # distilbert-base-uncased's DistilBertModel


@pytest.mark.slow
def test_minitrans_qa_fine_tunes_and_answers_with_distilbert(tmp_path, capsys):
    checkpoint = tmp_path / "distilbert"
    config = DistilBertConfig(n_layers=2, n_heads=4, dim=64, hidden_dim=128, max_position_embeddings=128)
    DistilBertForQuestionAnswering(config, rngs=nnx.Rngs(0)).save_pretrained(checkpoint)
    shutil.copy(minilm_folder() / "vocab.txt", checkpoint / "vocab.txt")
    from minitrans.datasets import bundled
    assert main(["qa", "train", "--model", str(checkpoint), "--train", str(bundled("mini_squad.json")),
                 "--out", str(tmp_path / "run"), "--steps", "4", "--batch-size", "4", "--max-length", "32",
                 "--stride", "8", "--limit", "40"]) == 0
    assert json.loads((tmp_path / "run" / "model" / "config.json").read_text())["architectures"] == \
        ["DistilBertForQuestionAnswering"]
    capsys.readouterr()
    assert main(["qa", "ask", "--model", str(tmp_path / "run" / "model"), "--question", "Where is it?",
                 "--context", "The tower is in Paris."]) == 0
    out = capsys.readouterr().out
    assert "answer:" in out or "no answer in this context" in out
