"""Pipelines against Hugging Face transformers' pipelines on the same tiny random checkpoints
(tests/fixtures/pipelines, made by reference/pipeline_fixtures.py): the same answers, field by
field, and the three stages callable one by one."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import minilm_folder

import minitrans
from minitrans.pipelines import pipeline

SOURCE = Path(__file__).resolve().parent / "fixtures" / "pipelines"
EXPECTED = json.loads((SOURCE / "outputs.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """The fixture checkpoints as checkpoint folders (their weights renamed model.safetensors)."""
    root = tmp_path_factory.mktemp("pipelines")
    for name in ("masked_lm", "classifier"):
        shutil.copytree(SOURCE / name, root / name)
        (root / name / "weights.safetensors").rename(root / name / "model.safetensors")
    return root


@pytest.mark.slow
def test_fill_mask_equals_transformers(checkpoints):
    fill = pipeline("fill-mask", checkpoints / "masked_lm")
    texts = list(EXPECTED["fill-mask"])
    for text, got in zip(texts, fill(texts, top_k=5)):  # a list in: a batch, a list out
        want = EXPECTED["fill-mask"][text]
        assert [(g["token"], g["token_str"], g["sequence"]) for g in got] == \
            [(w["token"], w["token_str"], w["sequence"]) for w in want]
        assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-5)
    alone, in_batch = fill(texts[0]), fill(texts)[0]  # one in: one out (a program of another shape: float32 rounding)
    assert [(g["token"], g["sequence"]) for g in alone] == [(g["token"], g["sequence"]) for g in in_batch]
    assert [g["score"] for g in alone] == pytest.approx([g["score"] for g in in_batch], abs=1e-6)
    with pytest.raises(ValueError, match="exactly one \\[MASK\\] in the text, found 0"):
        fill("no mask here")


def test_text_classification_equals_transformers(checkpoints):
    classify = minitrans.pipeline("sentiment-analysis", checkpoints / "classifier")
    for text, want in EXPECTED["text-classification"].items():
        got = classify(text)
        assert [g["label"] for g in got] == [w["label"] for w in want]
        assert [g["score"] for g in got] == pytest.approx([w["score"] for w in want], abs=1e-5)
        every = classify(text, top_k=None)
        assert [(g["label"], round(g["score"], 5)) for g in every] == \
            [(w["label"], round(w["score"], 5)) for w in EXPECTED["text-classification-all"][text]]


@pytest.mark.slow
def test_feature_extraction_equals_transformers_and_the_stages_compose(checkpoints):
    extract = pipeline("feature-extraction", checkpoints / "masked_lm")
    for text, want in EXPECTED["feature-extraction"].items():
        got = extract(text)
        np.testing.assert_allclose(np.array(got), np.array(want), atol=1e-4)
        model_inputs = extract.preprocess(text)
        outputs = extract.forward(extract.collate([model_inputs]))
        staged = extract.postprocess(extract.row(outputs, 0))
        np.testing.assert_allclose(np.array(staged), np.array(got), atol=1e-6)
    padded = extract(["The cat sat on the mat.", "The cat sat on the mat and a dog ran in the park."])
    np.testing.assert_allclose(np.array(padded[0]), np.array(want), atol=1e-4)  # padding in a batch changes nothing


def test_question_answering_pipeline_agrees_with_the_question_answerer():
    from minitrans.models.bert import BertForQuestionAnswering
    from minitrans.qa.extractive import QuestionAnswerer
    from minitrans.tokenizers import WordPieceTokenizer
    folder = minilm_folder()
    model = BertForQuestionAnswering.from_pretrained(folder, verbose=False)
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    answer = pipeline("question-answering", model, tokenizer)
    context = "The Normans gave their name to Normandy, a region in France. Rollo was their first ruler."
    got = answer(question="Who was the first ruler?", context=context)
    want = QuestionAnswerer(model, tokenizer)("Who was the first ruler?", context)
    assert {k: got[k] for k in ("answer", "start", "end")} == {k: want[k] for k in ("answer", "start", "end")}
    assert got["score"] == pytest.approx(want["score"], abs=1e-6)
    assert context[got["start"]:got["end"]] == got["answer"]
    with pytest.raises(ValueError, match="non-empty texts"):
        answer({"question": "Who?", "context": ""})


def test_bad_requests_are_named(tmp_path, checkpoints):
    with pytest.raises(ValueError, match="unknown pipeline task 'ner'; minitrans has feature-extraction"):
        pipeline("ner", checkpoints / "masked_lm")
    with pytest.raises(ValueError, match="a model object needs its tokenizer"):
        pipeline("fill-mask", object())
    with pytest.raises(ValueError, match="needs non-empty text"):
        pipeline("feature-extraction", checkpoints / "masked_lm")("  ")
    with pytest.raises(ValueError, match="minitrans has no 'text-classification' model for 't5'"):
        (tmp_path / "config.json").write_text(json.dumps({"model_type": "t5"}))
        pipeline("text-classification", tmp_path)


@pytest.mark.slow
def test_text2text_pipelines_add_t5s_prefixes_and_generate():
    from conftest import shared_data
    from flax import nnx

    from minitrans.generation import generate
    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
    from minitrans.tokenizers.sentencepiece import T5Tokenizer
    tokenizer = T5Tokenizer(shared_data("t5/spiece.model"))
    model = T5ForConditionalGeneration(T5Config.tiny(vocab_size=tokenizer.vocab_size), rngs=nnx.Rngs(0))
    text = "The Normans gave their name to Normandy."
    for task, prefix in (("translation", "translate English to German: "), ("text2text-generation", "")):
        staged = pipeline(task, model, tokenizer).preprocess(text)["input_ids"]
        assert staged.tolist() == tokenizer.encode(prefix + text)
    run = pipeline("summarization", model, tokenizer, max_new_tokens=4)
    ids = generate(model, np.asarray([tokenizer.encode("summarize: " + text)]), max_new_tokens=4)
    assert run(text) == {"summary_text": tokenizer.decode(ids[0]).strip()}
    assert run([text, text]) == [run(text)] * 2


@pytest.mark.slow
def test_the_pipeline_command(capsys, checkpoints):
    from minitrans.cli import main
    assert main(["pipeline", "fill-mask", "--model", str(checkpoints / "masked_lm"), "Paris is the [MASK] of France."]) == 0
    printed = json.loads(capsys.readouterr().out.strip())
    assert [p["token"] for p in printed] == [w["token"] for w in EXPECTED["fill-mask"]["Paris is the [MASK] of France."]]
    assert main(["pipeline", "sentiment-analysis", "--model", str(checkpoints / "classifier"), "The movie was great.",
                 "I hated this film."]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [json.loads(line)[0]["label"] for line in lines] == ["NEGATIVE", "NEGATIVE"]
    assert main(["pipeline", "ner", "--model", str(checkpoints / "classifier"), "x"]) == 2
    assert "unknown pipeline task 'ner'" in capsys.readouterr().err
    assert main(["pipeline", "question-answering", "--model", str(checkpoints / "classifier"), "Who?"]) == 2
    assert "takes one question and --context" in capsys.readouterr().err


def test_save_pretrained_writes_a_model_card(tmp_path, capsys, checkpoints):
    from minitrans.checkpoints import read_model_card
    from minitrans.cli import main
    from minitrans.models.bert import BertForMaskedLM
    model = BertForMaskedLM.from_pretrained(checkpoints / "masked_lm", verbose=False)
    model.save_pretrained(tmp_path / "plain")
    card = read_model_card(tmp_path / "plain")
    assert "A `BertForMaskedLM` (bert) of " in card and "- hidden_size: 32" in card
    assert "not recorded: saved without training" in card and 'minitrans.pipeline("fill-mask"' in card
    model.save_pretrained(tmp_path / "trained", card={"training": {"steps": 7}, "data": "three sentences",
                                                       "figures": {"accuracy": 0.5}})
    card = read_model_card(tmp_path / "trained")
    assert "- steps: 7" in card and "three sentences" in card and "- accuracy: 0.5" in card
    assert main(["card", str(tmp_path / "trained")]) == 0 and "- steps: 7" in capsys.readouterr().out
    assert main(["card", str(tmp_path)]) == 2 and "has no model card" in capsys.readouterr().err
