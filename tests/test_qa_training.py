"""Extractive QA end to end with a tiny BERT on the bundled mini SQuAD set: it learns to point
at answers (the F1 of the official metric rises from ~0 to most of the way), and `minitrans qa`
trains, evaluates, predicts and answers from the command line, with clear errors on bad input."""

import json
import shutil
from pathlib import Path

import pytest
from conftest import minilm_folder
from flax import nnx

from minitrans.cli import main
from minitrans.datasets import bundled
from minitrans.datasets.squad import load_squad
from minitrans.datasets.streaming import pad_batch
from minitrans.models.bert import BertConfig, BertForQuestionAnswering
from minitrans.nn import Dropout, set_dropout
from minitrans.qa.extractive import (
    QuestionAnswerer,
    postprocess_qa_predictions,
    predict_logits,
    prepare_train_features,
    prepare_validation_features,
    qa_loss,
)
from minitrans.qa.metrics import squad_evaluate
from minitrans.qa.squad import SMALL_DATA, SMALL_DATA_EPOCHS, choose_recipe
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training.trainer import Trainer, TrainingArguments


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory) -> Path:
    """A tiny random BERT with the real uncased vocabulary, saved as a checkpoint folder."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=128)
    BertForQuestionAnswering(config, rngs=nnx.Rngs(0)).save_pretrained(folder)
    shutil.copy(minilm_folder() / "vocab.txt", folder / "vocab.txt")
    return folder


@pytest.mark.slow
def test_a_tiny_bert_learns_to_point_at_answers(tiny_checkpoint):
    tokenizer = WordPieceTokenizer.from_pretrained(tiny_checkpoint)
    # 64 questions seen many times: the network must learn to point at their answers
    examples = [e for e in load_squad(bundled("mini_squad.json"), verbose=False) if not e.is_impossible][:64]
    model = BertForQuestionAnswering.from_pretrained(tiny_checkpoint, verbose=False)
    features = prepare_validation_features(examples, tokenizer, max_length=128, stride=32)

    def f1(m):
        starts, ends = predict_logits(m, features)
        predictions, _, _ = postprocess_qa_predictions(examples, features, starts, ends)
        return squad_evaluate(examples, predictions)["f1"]

    before = f1(model)
    args = TrainingArguments(max_steps=300, batch_size=16, learning_rate=2e-3, warmup_steps=20, progress_bar=False,
                             group_by_length=True, log_every=50)
    trainer = Trainer(model, prepare_train_features(examples, tokenizer, max_length=128, stride=32), args=args,
                      loss_fn=qa_loss, collate=pad_batch)
    trainer.train()
    after = f1(trainer.model)
    assert before < 15 and after > 50, (before, after)  # measured: about 5 before, 77 after
    answer = QuestionAnswerer(trainer.model, tokenizer)(examples[0].question, examples[0].context)
    assert 0 < answer["score"] <= 1 and examples[0].context[answer["start"]:answer["end"]] == answer["answer"]


@pytest.mark.slow
def test_minitrans_qa_commands(tiny_checkpoint, tmp_path, capsys):
    squad = str(bundled("mini_squad.json"))
    out = tmp_path / "run"
    assert main(["qa", "train", "--model", str(tiny_checkpoint), "--train", squad, "--limit", "64", "--steps", "4",
                 "--batch-size", "8", "--max-length", "64", "--stride", "16", "--eval", squad,
                 "--eval-limit", "20", "--version-2", "--dropout", "0", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    saved = json.loads((out / "model" / "config.json").read_text())
    assert saved["hidden_dropout_prob"] == saved["attention_probs_dropout_prob"] == 0
    assert json.loads((out / "training.json").read_text())["matmul_precision"] == "float32"
    assert "kept 1,080 questions, skipped 0" in printed and '"HasAns_f1"' in printed
    assert (out / "model" / "model.safetensors").is_file() and (out / "model" / "vocab.txt").is_file()
    assert (out / "curves.png").is_file() and (out / "log.jsonl").is_file()
    assert set(json.loads((out / "scores.json").read_text())) >= {"exact", "f1", "best_f1", "questions"}
    card = (out / "model" / "README.md").read_text()  # the model card: how it was made and what it scored
    assert "minitrans qa train" in card and "- steps: 4" in card and "- f1: " in card and "mini_squad.json" in card
    assert main(["card", str(out / "model")]) == 0 and "## Measured" in capsys.readouterr().out
    assert main(["qa", "eval", "--model", str(out / "model"), "--eval", squad, "--eval-limit", "20"]) == 2
    assert "--version-2" in capsys.readouterr().err
    predictions = tmp_path / "predictions.json"
    assert main(["qa", "predict", "--model", str(out / "model"), "--input", squad, "--output", str(predictions),
                 "--max-length", "128", "--stride", "32"]) == 0
    assert len(json.loads(predictions.read_text())) == 1080
    assert main(["qa", "ask", "--model", str(out / "model"), "--question", "Who wrote it?",
                 "--context", "Ada Lovelace wrote it in 1843."]) == 0
    printed = capsys.readouterr().out
    assert "answer:" in printed or "no answer in this context" in printed


@pytest.mark.slow
def test_qa_train_bfloat16_trains_in_mixed_precision_and_scores_in_float32(tiny_checkpoint, tmp_path, capsys,
                                                                          monkeypatch):
    """--bfloat16 puts the training steps, and only them, under bfloat16 products: the
    checkpoint and training.json record it, the scoring after training runs in float32, and
    the commands that do not train refuse the flag."""
    import minitrans.qa.squad as squad_module
    from minitrans.kernels import matmul_dtype

    seen = []
    evaluate = squad_module.evaluate_squad

    def spy(*args, **kwargs):
        seen.append(matmul_dtype())
        return evaluate(*args, **kwargs)

    monkeypatch.setattr(squad_module, "evaluate_squad", spy)
    squad, out = str(bundled("mini_squad.json")), tmp_path / "run"
    assert main(["qa", "train", "--model", str(tiny_checkpoint), "--train", squad, "--limit", "32", "--steps", "2",
                 "--batch-size", "8", "--max-length", "128", "--stride", "32", "--eval", squad, "--eval-limit", "10",
                 "--version-2", "--bfloat16", "--out", str(out)]) == 0
    assert json.loads((out / "training.json").read_text())["matmul_precision"] == "bfloat16"
    assert json.loads((out / "latest" / "trainer_state.json").read_text())["matmul_precision"] == "bfloat16"
    assert "- matmul_precision: bfloat16" in (out / "model" / "README.md").read_text()
    assert seen == [None]  # scored in float32
    assert matmul_dtype() is None  # and nothing left behind
    assert main(["qa", "eval", "--model", str(out / "model"), "--eval", squad, "--bfloat16"]) == 2
    assert "--bfloat16 is for `qa train`" in capsys.readouterr().err


def test_qa_bad_input_is_named(tiny_checkpoint, tmp_path, capsys):
    model = str(tiny_checkpoint)
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2")
    for argv, message in [
            (["qa", "ask", "--model", model, "--question", "Who?", "--context", "  "], "needs a context"),
            (["qa", "ask", "--model", model, "--question", "", "--context", "Some text."], "empty question"),
            (["qa", "eval", "--model", model, "--eval", str(bad)], "not SQuAD JSON"),
            (["qa", "eval", "--model", str(tmp_path), "--eval", str(bad)], "not a BERT-style checkpoint folder"),
            (["qa", "train", "--model", model], "needs --train"),
            (["qa", "train", "--model", model, "--train", "x.json", "--dropout", "1.5"], r"must be in [0, 1)")]:
        assert main(argv) == 2, argv
        assert message in capsys.readouterr().err, argv


def test_a_context_longer_than_any_window_is_windowed(tiny_checkpoint):
    tokenizer = WordPieceTokenizer.from_pretrained(tiny_checkpoint)
    model = BertForQuestionAnswering.from_pretrained(tiny_checkpoint, verbose=False)
    context = "Filler words keep going on. " * 300 + "The treasure is buried under the old oak."
    result = QuestionAnswerer(model, tokenizer, max_length=128, stride=32)("Where is the treasure?", context)
    assert context[result["start"]:result["end"]] == result["answer"] != ""


@pytest.mark.slow
def test_qa_train_chooses_its_recipe_from_the_data_size_and_says_so(tiny_checkpoint, tmp_path, capsys):
    many, line = choose_recipe(88_524, 16)  # SQuAD 1.1 train: one pass, no dropout
    assert many == {"epochs": 1, "learning_rate": 2e-4, "dropout": 0.0, "warmup_steps": 100}
    assert "no dropout" in line and "88,524 windows" in line
    few, line = choose_recipe(1_964, 16)  # a dozen articles: several passes with the checkpoint's dropout
    assert few == {"epochs": SMALL_DATA_EPOCHS, "learning_rate": 1e-4, "dropout": None,
                   "warmup_steps": SMALL_DATA_EPOCHS * 123 // 10}
    assert "the checkpoint's dropout" in line and f"fewer than {SMALL_DATA:,}" in line
    given, line = choose_recipe(1_964, 16, epochs=2, learning_rate=3e-5, warmup_steps=0, dropout=0.2)
    assert given == {"epochs": 2, "learning_rate": 3e-5, "dropout": 0.2, "warmup_steps": 0} and line == ""

    out = tmp_path / "run"
    assert main(["qa", "train", "--model", str(tiny_checkpoint), "--train", str(bundled("mini_squad.json")),
                 "--limit", "64", "--steps", "1", "--batch-size", "8", "--max-length", "128", "--stride", "32",
                 "--out", str(out)]) == 0  # one step: one compiled program
    printed = capsys.readouterr().out
    assert "recipe: the checkpoint's dropout, learning rate 1e-4, 0 warm-up steps" in printed
    trained = json.loads((out / "training.json").read_text())
    assert trained["dropout"] == 0.1 and trained["learning_rate"] == 1e-4 and trained["warmup_steps"] == 0

    model = BertForQuestionAnswering(BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                                intermediate_size=64), rngs=nnx.Rngs(0))
    set_dropout(model, 0.0)
    rates = [m.rate for _, m in nnx.iter_graph(model) if isinstance(m, Dropout)]
    assert len(rates) >= 3 and set(rates) == {0.0}
    assert model.config.hidden_dropout_prob == model.config.attention_probs_dropout_prob == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        set_dropout(model, 1.0)
