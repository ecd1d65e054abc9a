"""Never lose a run, never answer wrongly in silence (docs/robustness.md lists what is tried here):
an interrupted `qa train` or `pretrain` resumes to exactly the run it would have been; output
folders are checked before any work and never shared; bad arguments, files and weights get one
clear line; the exercise grader survives loops and exits."""

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import minilm_folder
from flax import nnx
from safetensors.numpy import load_file, save_file

from minitrans import exercises
from minitrans.checkpoints import CheckpointError
from minitrans.cli import main
from minitrans.datasets import bundled
from minitrans.datasets.squad import load_squad
from minitrans.models.bert import BertConfig, BertForQuestionAnswering, BertForSequenceClassification, BertModel
from minitrans.qa.extractive import QuestionAnswerer
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training import trainer as trainer_module
from minitrans.training.trainer import Trainer, TrainingArguments, TrainingDiverged, classification_loss

SQUAD = str(bundled("mini_squad.json"))


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    """A tiny random BERT QA checkpoint with the real uncased vocabulary."""
    folder = tmp_path_factory.mktemp("tiny_bert")
    config = BertConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=128)
    BertForQuestionAnswering(config, rngs=nnx.Rngs(0)).save_pretrained(folder)
    shutil.copy(minilm_folder() / "vocab.txt", folder / "vocab.txt")
    return folder


def interrupt_at(monkeypatch, step: int):
    """Send this process SIGINT while the Trainer prepares the batch of `step` (counted from 0), as
    Ctrl-C would: that step still runs, so the run stops with step + 1 steps done."""
    real = trainer_module.Trainer.batch_at

    def batch_at(self, at):
        if at == step:
            os.kill(os.getpid(), signal.SIGINT)
        return real(self, at)

    monkeypatch.setattr(trainer_module.Trainer, "batch_at", batch_at)


def losses(folder: Path) -> list[tuple[int, float]]:
    return [(r["step"], r["loss"]) for r in map(json.loads, (folder / "log.jsonl").read_text().splitlines())]


def qa_train(checkpoint, out, *extra):
    return main(["qa", "train", "--model", str(checkpoint), "--train", SQUAD, "--out", str(out), "--steps", "8",
                 "--batch-size", "4", "--max-length", "64", "--stride", "16", "--limit", "60", "--save-every", "2",
                 *extra])


@pytest.mark.slow
def test_ctrl_c_during_qa_train_saves_and_resume_equals_an_uninterrupted_run(checkpoint, tmp_path, monkeypatch,
                                                                            capsys):
    assert qa_train(checkpoint, tmp_path / "straight") == 0
    interrupt_at(monkeypatch, 5)
    assert qa_train(checkpoint, tmp_path / "cut") == 130
    err = capsys.readouterr().err
    assert "interrupted at step 6" in err and "resume with: minitrans qa train" in err and "--resume" in err
    assert json.loads((tmp_path / "cut" / "latest" / "trainer_state.json").read_text())["step"] == 6
    monkeypatch.undo()
    assert qa_train(checkpoint, tmp_path / "cut", "--resume") == 0
    assert losses(tmp_path / "cut") == losses(tmp_path / "straight")  # the log cut back to step 5, then the same
    a, b = (load_file(tmp_path / name / "model" / "model.safetensors") for name in ("straight", "cut"))
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)


@pytest.mark.slow
def test_ctrl_c_during_pretrain_saves_and_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch, capsys):
    def pretrain(out, *extra):
        return main(["pretrain", "bert", "--config", "tiny", "--steps", "6", "--batch-size", "4", "--max-length",
                     "32", "--eval-every", "3", "--save-every", "2", "--vocab-size", "800", "--max-chars", "60000",
                     "--out", str(out), *extra])

    assert pretrain(tmp_path / "straight") == 0
    interrupt_at(monkeypatch, 3)
    assert pretrain(tmp_path / "cut") == 130
    assert "resume with: minitrans pretrain bert" in capsys.readouterr().err
    monkeypatch.undo()
    assert pretrain(tmp_path / "cut", "--resume") == 0
    assert losses(tmp_path / "cut") == losses(tmp_path / "straight")
    a, b = (load_file(tmp_path / name / "model.safetensors") for name in ("straight", "cut"))
    for key in a:
        np.testing.assert_allclose(a[key], b[key], atol=1e-6, err_msg=key)


def test_output_folders_are_checked_before_any_work(checkpoint, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert qa_train(checkpoint, blocker) == 2
    assert "--out" in capsys.readouterr().err
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "log.jsonl").write_text("")
    assert qa_train(checkpoint, tmp_path / "used") == 2
    err = capsys.readouterr().err
    assert "is not empty" in err and "--overwrite" in err and "--resume" in err
    assert qa_train(checkpoint, tmp_path / "fresh", "--resume") == 2
    assert "holds no checkpoint to resume" in capsys.readouterr().err


def toy(n):
    rng = np.random.default_rng(0)
    return [{"input_ids": rng.integers(5, 40, 8).astype(np.int32), "attention_mask": np.ones(8, np.int32),
             "labels": np.int32(i % 2)} for i in range(n)]


def classifier():
    config = BertConfig(vocab_size=40, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=32, max_position_embeddings=12)
    return BertForSequenceClassification(config, rngs=nnx.Rngs(0))


@pytest.mark.slow
def test_two_runs_never_share_a_folder(tmp_path):
    args = TrainingArguments(output_dir=str(tmp_path), max_steps=2, batch_size=4, progress_bar=False)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / ".lock").write_text(str(sleeper.pid))  # a live run holds the folder
        with pytest.raises(FileExistsError, match=f"another run \\(process {sleeper.pid}\\) is writing to"):
            Trainer(classifier(), toy(8), args=args, loss_fn=classification_loss).train()
    finally:
        sleeper.kill()
        sleeper.wait()
    Trainer(classifier(), toy(8), args=args, loss_fn=classification_loss).train()  # a dead run's lock is taken over
    assert not (tmp_path / ".lock").exists()
    with pytest.raises(FileExistsError, match="holds another run .*log.jsonl.*latest"):
        Trainer(classifier(), toy(8), args=args, loss_fn=classification_loss).train()
    overwrite = TrainingArguments(**{**args.__dict__, "overwrite_output_dir": True})
    Trainer(classifier(), toy(8), args=overwrite, loss_fn=classification_loss).train()
    assert len(losses(tmp_path)) == 1  # one run's log, not two runs mixed


@pytest.mark.slow
def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path):
    def poisoned(model, batch):
        loss, metrics = classification_loss(model, batch)
        return jnp.where(batch["labels"].sum() < 0, loss, loss * jnp.nan), metrics  # NaN from the first step

    args = TrainingArguments(output_dir=str(tmp_path), max_steps=6, batch_size=4, progress_bar=False, log_every=2,
                             save_every=2)
    Trainer(classifier(), toy(8), args=TrainingArguments(**{**args.__dict__, "max_steps": 2}),
            loss_fn=classification_loss).train()
    good = (tmp_path / "latest" / "params.safetensors").read_bytes()
    with pytest.raises(TrainingDiverged, match="NaN or infinite between steps 3 and 4; the last good checkpoint is"):
        Trainer(classifier(), toy(8), args=args, loss_fn=poisoned).train(resume_from=tmp_path / "latest")
    assert (tmp_path / "latest" / "params.safetensors").read_bytes() == good


@pytest.mark.parametrize("argv,named", [
    (["qa", "train", "--steps", "0"], "--steps"),
    (["qa", "train", "--minutes", "0"], "--minutes"),
    (["qa", "train", "--limit", "0"], "--limit"),
    (["qa", "train", "--batch-size", "-4"], "--batch-size"),
    (["qa", "train", "--dropout", "1.5"], "--dropout"),
    (["qa", "train", "--lr", "0"], "--lr"),
    (["qa", "eval", "--eval-limit", "0"], "--eval-limit"),
    (["qa", "train", "--stride", "400"], "--stride"),
    (["qa", "train", "--steps", "ten"], "--steps"),
    (["qa", "train"], "--model"),
    (["qa", "ask", "--model", "M"], "--question"),
    (["pretrain", "bert", "--minutes", "0"], "--minutes"),
    (["pretrain", "bert", "--max-length", "4", "--out", "OUT"], "--max-length"),
    (["pretrain", "bert", "--config", "huge", "--out", "OUT"], "--config"),
    (["pretrain", "gpt"], "model"),
    (["pretrain", "bert", "--corpus", "nowhere.txt"], "--corpus"),
    (["exercise", "check", "Nope"], "Nope"),
    (["exercise", "check", "causal_mask", "--timeout", "0"], "--timeout"),
    (["lesson", "99"], "no lesson '99'"),
    (["qa", "train", "--no-such-flag"], "--no-such-flag"),
])
def test_every_bad_flag_gets_one_line_naming_it(argv, named, tmp_path, capsys):
    argv = [str(tmp_path / "out") if a == "OUT" else a for a in argv]
    if argv[:2] == ["qa", "train"] and "--model" not in argv and argv != ["qa", "train"]:
        argv += ["--model", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("minitrans: error:") and len(err.splitlines()) == 1, err
    assert named in err, err


def test_debug_shows_the_traceback_and_version_prints(capsys):
    with pytest.raises(Exception):
        main(["--debug", "lesson", "99"])
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out.startswith("minitrans ")


@pytest.mark.parametrize("command", ["lesson", "exercise", "pretrain", "tour", "qa"])
def test_every_sub_command_explains_its_flags_and_ends_its_help_with_an_example(command):
    from minitrans.cli import build_parser
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command]
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"minitrans {command}: {action.option_strings or action.dest} has no help text"
    tail = sub.format_help().strip().splitlines()
    assert any(line.startswith("example") for line in tail[-5:]) and tail[-1].startswith("  minitrans")


def copy_of(name, tmp_path, replace=None):
    path = exercises.start(name, tmp_path, keep_solution=True)
    if replace:
        path.write_text(path.read_text().replace(*replace))
    return path


@pytest.mark.slow
def test_the_grader_survives_an_endless_loop_an_exit_and_reports_failures(tmp_path, capsys):
    copy_of("causal_mask", tmp_path, ("    key_length = query_length if key_length is None else key_length\n",
                                      "    while True:\n        pass\n"))
    assert main(["exercise", "check", "causal_mask", "--dir", str(tmp_path), "--timeout", "4"]) == 1
    assert "did not finish within 4 s" in capsys.readouterr().out
    copy_of("prefix_lm_mask", tmp_path, ("import jax.numpy as jnp\n", "import jax.numpy as jnp\nimport sys\nsys.exit(0)\n"))
    assert main(["exercise", "check", "prefix_lm_mask", "--dir", str(tmp_path)]) == 1
    assert "ended the program" in capsys.readouterr().out
    copy_of("shift_right", tmp_path, ("return jnp.where(shifted == IGNORE, pad_token_id, shifted)", "return shifted"))
    assert main(["exercise", "check", "shift_right", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "Score: 2/3" in out
    copy_of("mixing_rates", tmp_path)
    assert main(["exercise", "check", "mixing_rates", "--dir", str(tmp_path)]) == 0


def write_squad(path: Path, articles) -> Path:
    path.write_text(json.dumps({"version": "1.1", "data": articles}))
    return path


def test_squad_files_with_repeated_ids_bad_records_or_no_questions_are_named(tmp_path, capsys):
    qa = lambda qid, start=0: {"id": qid, "question": "Who?", "answers": [{"text": "Ada", "answer_start": start}]}
    twice = write_squad(tmp_path / "twice.json", [{"paragraphs": [{"context": "Ada wrote.", "qas": [qa("a"), qa("a")]}]}])
    with pytest.raises(ValueError, match="ids must be unique.*a \\(2 times\\)"):
        load_squad(twice, verbose=False)
    wrong = write_squad(tmp_path / "wrong.json", [{"paragraphs": [{"context": "Ada wrote.", "questions": []}]}])
    with pytest.raises(ValueError, match="holds no usable question \\(1 records skipped; the first skipped"):
        load_squad(wrong, verbose=False)
    from minitrans.qa.metrics import squad_evaluate
    with pytest.raises(ValueError, match="expected SQuAD JSON .*missing 'qas'"):
        squad_evaluate(json.loads(wrong.read_text()), {})


def test_skipped_records_are_left_out_of_the_scores_and_said(checkpoint, tmp_path, capsys):
    good = {"id": "g", "question": "Who wrote?", "answers": [{"text": "Ada", "answer_start": 0}]}
    bad = {"id": "b", "question": "Who?", "answers": [{"text": "Ada", "answer_start": 5}]}  # points elsewhere
    path = write_squad(tmp_path / "mixed.json", [{"paragraphs": [{"context": "Ada wrote it.", "qas": [good, bad]}]}])
    from minitrans.qa.squad import evaluate_squad, load_qa_model
    model, tokenizer = load_qa_model(checkpoint)
    scores = evaluate_squad(model, tokenizer, path, max_length=64, stride=16)
    assert scores["questions"] == 1 and scores["skipped"] == 1
    assert "left out of the scores" in capsys.readouterr().out


def test_a_tokenizer_that_does_not_fit_the_model_and_a_question_too_long_are_refused(checkpoint, tmp_path):
    tokenizer = WordPieceTokenizer.from_pretrained(checkpoint)
    small = BertForQuestionAnswering(BertConfig(vocab_size=1000, hidden_size=16, num_hidden_layers=1,
                                                num_attention_heads=2, intermediate_size=32), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="the tokenizer has 30,522 tokens but the model's vocabulary only 1,000"):
        QuestionAnswerer(small, tokenizer)
    model = BertForQuestionAnswering.from_pretrained(checkpoint, verbose=False)
    ask = QuestionAnswerer(model, tokenizer, max_length=40, stride=8, max_query_length=64)
    with pytest.raises(ValueError, match="cannot be answered in windows of 40 tokens"):
        ask("who " * 35 + "wrote it?", "Ada wrote it.")
    with pytest.warns(UserWarning, match="only its first 64 are read"):
        QuestionAnswerer(model, tokenizer)("who " * 70 + "wrote it?", "Ada wrote it.")


def test_a_checkpoint_of_another_family_or_with_nan_weights_is_named(checkpoint, tmp_path, capsys):
    t5 = tmp_path / "t5"
    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
    T5ForConditionalGeneration(T5Config.tiny(vocab_size=40), rngs=nnx.Rngs(0)).save_pretrained(t5)
    shutil.copy(checkpoint / "vocab.txt", t5 / "vocab.txt")
    assert main(["qa", "ask", "--model", str(t5), "--question", "Who?", "--context", "Ada."]) == 2
    assert "no 'question-answering' model for 't5' checkpoints" in capsys.readouterr().err
    broken = tmp_path / "nan"
    shutil.copytree(checkpoint, broken)
    tensors = load_file(broken / "model.safetensors")
    tensors["qa_outputs.bias"] = np.array([np.nan, 0.0], np.float32)
    save_file(tensors, str(broken / "model.safetensors"))
    with pytest.raises(CheckpointError, match="NaN or infinite values: qa_outputs.bias"):
        BertForQuestionAnswering.from_pretrained(broken)


def test_a_base_model_loads_a_task_checkpoint_without_a_pooler(checkpoint, capsys):
    BertModel.from_pretrained(checkpoint)
    out = capsys.readouterr().out
    assert "newly initialised (train them): pooler.dense.bias, pooler.dense.weight" in out
    assert "unused: qa_outputs.bias, qa_outputs.weight" in out


def test_tokenizers_name_what_they_cannot_take(checkpoint):
    from minitrans.tokenizers.sentencepiece import T5Tokenizer
    wordpiece = WordPieceTokenizer.from_pretrained(checkpoint)
    t5 = T5Tokenizer.train(bundled("facts_corpus.txt").read_text().splitlines()[:300], vocab_size=300)
    for tok in (wordpiece, t5):
        with pytest.raises(TypeError, match="is None: expected text"):
            tok(None)
        with pytest.raises(TypeError, match="is bytes: decode it to text first"):
            tok(b"bytes")
        with pytest.raises(TypeError, match="must be text \\(a str\\), got int"):
            tok([3, 4])
        with pytest.raises(ValueError, match="an empty list: nothing to encode"):
            tok([])
    batch = t5(["the capital", "a river flows through it"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape and batch["input_ids"][0, -1] == 0
    assert t5(["a river flows through it"], max_length=4, truncation=True)["input_ids"][0, -1] == t5.eos_id
    with pytest.warns(UserWarning, match="more than the model's 128 positions"):
        wordpiece.encode("word " * 200)
