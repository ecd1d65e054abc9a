"""Extractive QA on SQuAD files, end to end: load a checkpoint for QA, fine-tune it on a SQuAD
file, predict and score with the official metric. `minitrans qa train|eval|predict|ask` call
these (the CLI parses arguments and turns these functions' errors into messages).

The checkpoint folder is a BERT (config.json, model.safetensors, vocab.txt), for instance the
real all-MiniLM-L6-v2 weights; `scratch=True` keeps its config and vocabulary but starts from
random weights, to measure what pre-training buys.
"""

import functools
import json
import time
from pathlib import Path

from minitrans.datasets.squad import LoadReport, load_squad
from minitrans.datasets.streaming import pad_batch
from minitrans.kernels import matmul_precision
from minitrans.models import load_for_task
from minitrans.nn import dropout_rate, set_dropout
from minitrans.qa.extractive import (
    FeatureReport,
    QuestionAnswerer,
    check_vocabulary,
    highlight,
    postprocess_qa_predictions,
    predict_logits,
    prepare_train_features,
    prepare_validation_features,
    qa_loss,
)
from minitrans.qa.metrics import squad_evaluate, squad_v2_evaluate
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training.trainer import Trainer, TrainingArguments


def load_qa_model(folder: str | Path, scratch: bool = False, seed: int = 0, dropout: float | None = None):
    """(question-answering model, tokenizer) from a checkpoint folder of any family minitrans
    has a QA head for (BERT, DistilBERT: the class comes from config.json's model_type); random
    weights with `scratch`. `dropout` replaces every dropout rate of the config (0 for a run that
    sees each example once: with no example seen twice there is nothing to over-fit, and dropout
    costs a quarter of a CPU training step)."""
    folder = Path(folder)
    if not (folder / "config.json").is_file() or not (folder / "vocab.txt").is_file():
        raise FileNotFoundError(f"{folder} is not a BERT-style checkpoint folder: expected config.json, vocab.txt "
                                "and model.safetensors in it")
    model = load_for_task(folder, "question-answering", scratch=scratch, seed=seed, dropout=dropout)
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    check_vocabulary(model, tokenizer)
    return model, tokenizer


SMALL_DATA = 10_000  # training windows: with fewer, a run of minutes passes over them several times
SMALL_DATA_EPOCHS = 4
TRAIN_PAD_MULTIPLE = 32  # training batches are padded to a multiple of this many tokens


def choose_recipe(windows: int, batch_size: int, *, steps: int | None = None, epochs: int | None = None,
                  learning_rate: float | None = None, warmup_steps: int | None = None,
                  dropout: float | None = None) -> tuple[dict, str]:
    """The fine-tuning recipe: what the caller gave, and for the rest what the data's size calls
    for (benchmarks/RESULTS.md, "Fine-tuning on a dozen articles"). Returns (recipe, a line
    saying what was chosen and why).

    - Many windows (SQuAD's 88,524): one pass at most, so no window is seen twice; dropout off
      (nothing to over-fit, and it costs a quarter of a CPU step).
    - Fewer than SMALL_DATA: SMALL_DATA_EPOCHS passes, keeping the checkpoint's dropout (each
      window is seen several times, and without dropout the model learns them by heart).
    Learning rate 2e-4 for the one pass (F1 64.4 against 61.7 for 1e-4 after 12 minutes), 1e-4
    for the several; both with a linear warm-up over a tenth of the planned steps, at most 100.
    `dropout` None in the recipe keeps the checkpoint's rates.
    """
    small = windows < SMALL_DATA
    chosen = {"epochs": epochs or (SMALL_DATA_EPOCHS if small else 1),
              "learning_rate": learning_rate or (1e-4 if small else 2e-4),
              "dropout": dropout if dropout is not None else (None if small else 0.0)}
    planned = steps or chosen["epochs"] * -(-windows // batch_size)
    chosen["warmup_steps"] = warmup_steps if warmup_steps is not None else min(100, planned // 10)
    said = []
    if epochs is None and steps is None:
        said.append(f"{chosen['epochs']} epoch{'s' if chosen['epochs'] > 1 else ''}")
    if dropout is None:
        said.append("the checkpoint's dropout" if small else "no dropout")
    if learning_rate is None:
        said.append(f"learning rate {'1e-4' if small else '2e-4'}")
    if warmup_steps is None:
        said.append(f"{chosen['warmup_steps']} warm-up steps")
    why = (f"{windows:,} windows, fewer than {SMALL_DATA:,}: several passes, dropout against learning them by heart"
           if small else f"{windows:,} windows: each seen once at most, nothing to over-fit")
    line = (f"recipe: {', '.join(said)} ({why}); --epochs, --dropout, --lr and --warmup choose them yourself"
            if said else "")
    return chosen, line


def train_squad(model, tokenizer, train_file: str | Path, out_dir: str | Path, *, steps: int | None = None,
                minutes: float | None = None, epochs: int | None = None, batch_size: int = 16,
                learning_rate: float | None = None, warmup_steps: int | None = None, dropout: float | None = None,
                max_length: int = 384, stride: int = 128, limit: int | None = None,
                seed: int = 0, started: float | None = None, version_2: bool = False, save_every: int | None = 200,
                resume: bool = False, overwrite: bool = False):
    """Fine-tune for extractive QA on a SQuAD file; the clock (tokenisation included) starts at
    `started`. What is left None (epochs, learning rate, warm-up, dropout) `choose_recipe`
    chooses from the number of windows, and says so. A checkpoint (out_dir/latest) is saved
    every `save_every` steps and on Ctrl-C; `resume` continues from it exactly."""
    started = started or time.perf_counter()
    examples = load_squad(train_file)
    if limit:
        examples = examples[:limit]
    if not version_2 and any(e.is_impossible for e in examples):
        print(f"{sum(e.is_impossible for e in examples):,} unanswerable questions: training them to point at "
              "[CLS] (use --version-2 at evaluation to predict 'no answer')")
    report = FeatureReport()
    features = prepare_train_features(examples, tokenizer, max_length, stride, report=report)
    print(f"features: {report} in {time.perf_counter() - started:.0f} s", flush=True)
    if not features:
        raise ValueError("no training features: every example was skipped")
    recipe, line = choose_recipe(len(features), batch_size, steps=steps, epochs=epochs, learning_rate=learning_rate,
                                 warmup_steps=warmup_steps, dropout=dropout)
    if line:
        print(line, flush=True)
    if recipe["dropout"] is not None:
        set_dropout(model, recipe["dropout"])
    budget = None
    if minutes:
        budget = minutes * 60 - (time.perf_counter() - started) - 30  # keep 30 s to save the model
        if budget <= 0:
            raise ValueError(f"the {minutes} minutes were spent before training started")
    args = TrainingArguments(output_dir=str(out_dir), batch_size=batch_size, learning_rate=recipe["learning_rate"],
                             warmup_steps=recipe["warmup_steps"], num_epochs=recipe["epochs"], max_steps=steps, seed=seed,
                             group_by_length=True, max_seconds=budget, log_every=20, save_every=save_every,
                             overwrite_output_dir=overwrite)
    # batches padded to a multiple of 32 tokens, not 64: 8% fewer tokens on SQuAD, for 11 shapes to
    # compile instead of 6 (about 4 s each; benchmarks/RESULTS.md, "The SQuAD hour again")
    collate = functools.partial(pad_batch, multiple=TRAIN_PAD_MULTIPLE)
    trainer = Trainer(model, features, args=args, loss_fn=qa_loss, collate=collate)
    print(f"training {trainer.total_steps:,} steps of {batch_size} windows"
          + (f", at most {budget / 60:.1f} more minutes" if budget else ""), flush=True)
    trainer.train(resume_from=Path(out_dir) / "latest" if resume else None)
    model = trainer.model
    out = Path(out_dir)
    seconds = time.perf_counter() - started
    info = {"train_file": str(train_file), "examples": len(examples), "features": len(features),
            "steps": trainer.step, "seconds": round(seconds, 1), "batch_size": batch_size,
            "learning_rate": recipe["learning_rate"], "epochs": recipe["epochs"],
            "warmup_steps": recipe["warmup_steps"], "dropout": dropout_rate(model),
            "max_length": max_length, "stride": stride, "matmul_precision": matmul_precision()}
    model.save_pretrained(out / "model", card=squad_card(info))
    tokenizer.save_vocabulary(out / "model")
    (out / "training.json").write_text(json.dumps(info, indent=1))
    print(f"trained {trainer.step:,} steps ({trainer.step * batch_size:,} windows) in {seconds / 60:.1f} minutes "
          f"in all; saved {out / 'model'}", flush=True)
    return model


def squad_card(info: dict, scores: dict | None = None, eval_file=None) -> dict:
    """The model card's facts for a `qa train` run (its training.json), and its scores if evaluated."""
    figures = None
    if scores:
        figures = {name: round(scores[name], 2) for name in ("exact", "f1", "exact_match") if name in scores}
        figures["evaluated on"] = f"{eval_file} ({scores.get('questions', '?')} questions)"
    return {"training": {"command": "minitrans qa train", **{k: v for k, v in info.items() if k != "train_file"}},
            "data": f"SQuAD-format questions from {info['train_file']}: {info['examples']:,} examples in "
                    f"{info['features']:,} windows of {info['max_length']} tokens (stride {info['stride']}).",
            "figures": figures}


def predict_squad(model, tokenizer, examples, *, batch_size: int = 64, max_length: int = 384, stride: int = 128,
                  version_2: bool = False, null_threshold: float = 0.0, progress: bool = True):
    """({id: answer}, {id: null score difference}) for SquadExamples."""
    report = FeatureReport()
    features = prepare_validation_features(examples, tokenizer, max_length, stride, report=report)
    print(f"features: {report}", flush=True)
    starts, ends = predict_logits(model, features, batch_size=batch_size, progress=progress)
    predictions, differences, _ = postprocess_qa_predictions(
        examples, features, starts, ends, version_2=version_2, null_threshold=null_threshold)
    return predictions, differences


def evaluate_squad(model, tokenizer, eval_file: str | Path, out_dir: str | Path | None = None, *,
                   version_2: bool = False, batch_size: int = 64, max_length: int = 384, stride: int = 128,
                   limit: int | None = None) -> dict:
    """EM/F1 of the model on a SQuAD file with the official metric (v2.0: with the best threshold)."""
    started = time.perf_counter()
    loaded = LoadReport()
    examples = load_squad(eval_file, report=loaded)
    if limit:
        examples = examples[:limit]
    if loaded.skipped:
        print(f"{len(loaded.skipped):,} records of {eval_file} could not be read (listed above): they are left out "
              f"of the scores, which average over the {len(examples):,} questions kept")
    if not version_2 and any(e.is_impossible or not e.answers for e in examples):
        raise ValueError(f"{eval_file} holds unanswerable questions (SQuAD 2.0): evaluate with version_2=True "
                         "(`minitrans qa eval --version-2`)")
    predictions, differences = predict_squad(model, tokenizer, examples, batch_size=batch_size,
                                             max_length=max_length, stride=stride, version_2=version_2)
    dataset = examples  # the questions read; the official scripts read the same on a well-formed file
    if version_2:
        # the null score difference is unbounded; the official script's sweep works on any ordering
        scores = squad_v2_evaluate(dataset, predictions, no_answer_probs=differences, no_answer_threshold=0.0)
    else:
        scores = squad_evaluate(dataset, predictions)
    scores["seconds"] = round(time.perf_counter() - started, 1)
    scores["questions"], scores["skipped"] = len(examples), len(loaded.skipped)
    if out_dir:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "predictions.json").write_text(json.dumps(predictions, indent=1, ensure_ascii=False))
        (out / "null_odds.json").write_text(json.dumps(differences, indent=1))
        (out / "scores.json").write_text(json.dumps(scores, indent=1))
    return scores


def ask(model, tokenizer, question: str, context: str, version_2: bool = False) -> dict:
    answer = QuestionAnswerer(model, tokenizer, version_2=version_2)(question, context)
    if answer["answer"]:
        print(highlight(context, answer["start"], answer["end"]))
        print(f"answer: {answer['answer']!r}  (score {answer['score']:.3f})")
    else:
        print(f"no answer in this context (no-answer margin {answer['null_difference']:.2f})")
    return answer

