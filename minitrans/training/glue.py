"""Fine-tuning on a GLUE task and scoring it with the task's official metrics: what
`minitrans glue train | eval` runs.

    model, tokenizer = load_glue_model("all-MiniLM-L6-v2/", "RTE")   # BERT + a fresh 2-label head
    model = train_glue(model, tokenizer, "RTE", "outputs/glue/rte", minutes=10, strategy="adapters-32")
    evaluate_glue_model(model, tokenizer, "RTE")                       # {"accuracy": ...}

Two ways to do one task. A BERT-style encoder classifies the pooled [CLS] vector (STS-B: one
output, a similarity score, trained with the squared error). T5 does every task as text: it reads
"rte sentence1: ... sentence2: ..." and writes the label's name ("entailment"), or STS-B's score
to the nearest 0.2 ("3.8"); an answer that is none of the task's labels counts as wrong.
"""

import json
import shutil
import time
from pathlib import Path

import numpy as np
from flax import nnx

from minitrans.checkpoints import atomic_write, read_config
from minitrans.datasets.glue import TASKS, evaluate_glue, load_glue
from minitrans.datasets.streaming import pad_batch, pad_rows
from minitrans.datasets.text_to_text import glue_label, glue_target, glue_text
from minitrans.kernels import compiled_call, matmul_precision
from minitrans.losses import IGNORE
from minitrans.models import load_for_task
from minitrans.tokenizers import load_tokenizer
from minitrans.training.classification import collate, encode_classification
from minitrans.training.mixing import Mixture
from minitrans.training.pretraining import span_corruption_loss
from minitrans.training.trainer import Trainer, TrainingArguments, classification_loss, regression_loss
from minitrans.training.transfer import apply_strategy, count_trainable, load_adapters, parse_strategy, save_adapters


def check_task(task: str) -> None:
    if task not in TASKS:
        raise ValueError(f"unknown GLUE task {task!r}; expected one of {', '.join(TASKS)}")


def num_labels(task: str) -> int:
    """Outputs of a classifier for `task`: one per label, one score for STS-B's regression."""
    return len(TASKS[task].labels) or 1


def is_text_to_text(model) -> bool:
    return getattr(model, "task", "") == "text2text-generation"


# --------------------------------------------------------------------------- the model


def load_glue_model(folder: str | Path, task: str, *, scratch: bool = False, seed: int = 0,
                    dropout: float | None = None, pooling: str | None = None):
    """(model, tokenizer) for `task` from a checkpoint folder: a BERT-style encoder gets a
    classification head sized for the task (new unless the folder holds one that fits); a T5
    folder is used as it is. `scratch`: the folder's config and vocabulary, random weights.
    `pooling`: what a new head reads, "cls" (BERT's pooler, the default) or "mean" (the tokens'
    mean, for a sentence-embedding checkpoint)."""
    check_task(task)
    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a checkpoint folder: expected config.json, model.safetensors "
                                "and the tokenizer's files (vocab.txt or spiece.model)")
    raw = read_config(folder)
    model_type = raw.get("model_type", "bert")
    wanted = "text2text-generation" if model_type == "t5" else "text-classification"
    overrides = {}
    if pooling is not None and wanted != "text-classification":
        raise ValueError(f"pooling {pooling!r} is for a BERT-style classifier; {folder} is a T5, which answers in text")
    if wanted == "text-classification":
        overrides["num_labels"] = num_labels(task)
        has_head = any(name.endswith("ForSequenceClassification") for name in raw.get("architectures") or [])
        if pooling is not None:
            trained = raw.get("classifier_pooling", "cls")
            if has_head and not scratch and pooling != trained:
                raise ValueError(f"{folder}'s classification head was trained on {trained!r} pooling, not {pooling!r}")
            overrides["classifier_pooling"] = pooling
        stored = raw.get("num_labels", len(raw.get("id2label") or {}) or None)
        if has_head and not scratch and stored != overrides["num_labels"]:
            names = ", ".join((raw.get("id2label") or {}).values()) or "?"
            raise ValueError(f"{folder}'s classification head has {stored} output(s) ({names}); {task} needs "
                             f"{overrides['num_labels']} ({', '.join(TASKS[task].labels) or 'a similarity score'}): "
                             "fine-tune from the checkpoint it was made from")
    model = load_for_task(folder, wanted, scratch=scratch, seed=seed, dropout=dropout, **overrides)
    if not scratch:
        load_adapters(model, folder)
    return model, load_tokenizer(folder, model_type)


# --------------------------------------------------------------------------- features


def encode_text_to_text(examples, task: str, tokenizer, max_length: int = 128) -> list[dict]:
    """GLUE examples as T5 features: the task's input text (cut at `max_length`), its target ids
    (EOS included)."""
    if not examples:
        raise ValueError("no examples to encode")
    return [{"input_ids": np.array(tokenizer.encode(glue_text(task, ex.text, ex.pair))[:max_length], np.int32),
             "labels": np.array(tokenizer.encode(glue_target(task, ex.label)), np.int32)} for ex in examples]


def collate_text_to_text(features: list[dict]) -> dict:
    """T5 features as a batch: inputs padded to a multiple of 16 tokens, targets to a multiple
    of 8 (with IGNORE), so that batches of varying lengths share few shapes (few compilations)."""
    batch = pad_batch(features, multiple=16, keys=())
    del batch["token_type_ids"]
    width = -(-max(len(f["labels"]) for f in features) // 8) * 8
    batch["labels"] = pad_rows([f["labels"] for f in features], width, IGNORE)
    return batch


def encode(model, tokenizer, task: str, examples, max_length: int) -> list[dict]:
    if is_text_to_text(model):
        return encode_text_to_text(examples, task, tokenizer, max_length)
    return encode_classification(examples, tokenizer, max_length)


# --------------------------------------------------------------------------- predicting and scoring


def predict_glue(model, tokenizer, task: str, examples, *, max_length: int = 128, batch_size: int = 64) -> list:
    """The model's answer for each example: a class id, a score (STS-B), or None (T5 wrote
    something that is none of the task's labels)."""
    from minitrans.generation import generate

    check_task(task)
    model.eval()
    features = encode(model, tokenizer, task, examples, max_length)
    order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")  # similar lengths: less padding
    answers: list = [None] * len(features)
    if is_text_to_text(model):  # room for the longest label's pieces and EOS
        longest_target = max(len(tokenizer.encode(glue_target(task, label))) for label in
                             (range(num_labels(task)) if TASKS[task].labels else (0.0, 2.4, 5.0)))
    for start in range(0, len(order), batch_size):
        chosen = order[start:start + batch_size]
        batch = pad_batch([features[i] for i in chosen], multiple=16, keys=())
        if is_text_to_text(model):
            rows = generate(model, batch["input_ids"], batch["attention_mask"], max_new_tokens=longest_target + 1)
            outputs = [glue_label(task, tokenizer.decode(row)) for row in rows]
        else:
            # compiled once per batch shape: evaluating every few hundred steps compiles nothing new
            logits = np.asarray(compiled_call(model, batch["input_ids"], batch["token_type_ids"],
                                              batch["attention_mask"]).logits)
            outputs = logits[:, 0].tolist() if task == "STS-B" else logits.argmax(-1).tolist()
        for i, output in zip(chosen, outputs):
            answers[int(i)] = output
    return answers


def score_glue(task: str, predictions: list, references: list) -> dict[str, float]:
    """The task's official metrics; an answer that is no label (None) counts as wrong (another
    class, or a similarity of 0 for STS-B), and how many there were is reported. The same
    STS-B score for every pair correlates with nothing: 0, flagged `constant_predictions`."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    wrong = sum(p is None for p in predictions)
    if TASKS[task].labels:
        filled = [(int(r) + 1) % len(TASKS[task].labels) if p is None else p for p, r in zip(predictions, references)]
    else:
        filled = [0.0 if p is None else p for p in predictions]
        if len(set(filled)) == 1:  # the same score for every pair: no correlation to show (scipy says nan)
            return {"pearson": 0.0, "spearman": 0.0, "examples": len(references), "constant_predictions": 1,
                    **({"not_a_label": wrong} if wrong else {})}
    scores = evaluate_glue(task, filled, references)
    return {**scores, "examples": len(references), **({"not_a_label": wrong} if wrong else {})}


def evaluate_glue_model(model, tokenizer, task: str, split: str = "dev", *, max_length: int = 128,
                        data_folder: str | Path | None = None, examples=None) -> dict[str, float]:
    """Score `model` on a split of `task` (default: the dev set, GLUE's test labels are hidden)."""
    examples = load_glue(task, split, data_folder) if examples is None else examples
    predictions = predict_glue(model, tokenizer, task, examples, max_length=max_length)
    return score_glue(task, predictions, [ex.label for ex in examples])


# --------------------------------------------------------------------------- training


def default_learning_rate(strategy: str) -> float:
    """5e-5 when the whole network trains (BERT's fine-tuning range); 1e-3 when only a small part
    does (a head, adapters), which needs larger steps to move in the same time."""
    return 1e-3 if strategy.startswith(("feature", "adapters")) else 5e-5


def train_glue(model, tokenizer, task: str | list[str], out_dir: str | Path, *, minutes: float | None = None,
               steps: int | None = None, epochs: int = 3, batch_size: int = 32, learning_rate: float | None = None,
               warmup_steps: int | None = None, max_length: int = 128, strategy: str = "all",
               unfreeze_every: int | None = None, seed: int = 0, eval_every: int | None = None, save_every: int | None = 200,
               started: float | None = None, data_folder: str | Path | None = None, limit: int | None = None,
               mixing: str = "proportional", mixing_limit: int | None = None, temperature: float = 1.0,
               resume: bool = False, overwrite: bool = False, source: str | None = None):
    """Fine-tune on `task`'s train split under a strategy (all, feature, adapters-D, gradual);
    the clock (tokenisation included) starts at `started`. Saves out_dir/model (the weights,
    tokenizer, model card; the label names in config.json) and out_dir/training.json; a checkpoint
    (out_dir/latest) every `save_every` steps and on Ctrl-C, which `resume` continues exactly.

    Several tasks (a T5 only): one model learns them all at once, each step's examples drawn from
    the tasks at the rates of a `mixing` strategy (proportional with `mixing_limit` K, temperature,
    equal: minitrans.training.mixing); an epoch is then one pass over the mixed-in examples."""
    started = started or time.perf_counter()
    tasks = [task] if isinstance(task, str) else list(task)
    for name in tasks:
        check_task(name)
    if len(set(tasks)) != len(tasks) or not tasks:
        raise ValueError(f"name each task once, got {tasks}")
    out = Path(out_dir)
    if is_text_to_text(model):
        if strategy != "all":
            raise ValueError(f"strategy {strategy!r}: minitrans fine-tunes T5 with all parameters only")
        loss_fn, make_batch, mask = span_corruption_loss, collate_text_to_text, None  # cross entropy over the target
    elif len(tasks) > 1:
        raise ValueError(f"a mixture of tasks ({', '.join(tasks)}) needs a T5: only text-to-text does every task "
                         "with one model")
    else:
        parse_strategy(strategy)  # an unknown name is refused before any work
        loss_fn = regression_loss if tasks[0] == "STS-B" else classification_loss
        make_batch = collate
    by_task = {}
    for name in tasks:
        examples = load_glue(name, "train", data_folder)
        by_task[name] = encode(model, tokenizer, name, examples[:limit] if limit else examples, max_length)
    learning_rate = learning_rate or default_learning_rate(strategy)
    if len(tasks) == 1:
        train_data = by_task[tasks[0]]
        mixture, epoch_size, described = None, len(train_data), f"{len(train_data):,} training examples"
    else:
        mixture = Mixture(by_task, mixing, mixing_limit, temperature, seed)
        epoch_size, described = mixture.epoch_size, mixture.description
        steps = steps or max(1, epochs * epoch_size // batch_size)  # a step function has no epochs to count

        def train_data(step):
            return collate_text_to_text(mixture.batch(step, batch_size))
    per_epoch = max(1, epoch_size // batch_size)
    planned = steps or per_epoch * epochs
    mask = trainable = total = None
    if not is_text_to_text(model):
        mask = apply_strategy(model, strategy, unfreeze_every=unfreeze_every, planned_steps=planned)
        trainable, total = count_trainable(nnx.state(model, nnx.Param), mask)
    print(f"{' + '.join(tasks)}: {described}, encoded in {time.perf_counter() - started:.0f} s; strategy "
          f"{strategy}" + (f": {trainable:,} of {total:,} parameters train" if mask is not None else "")
          + f"; learning rate {learning_rate:g}", flush=True)
    budget = None
    if minutes:
        budget = minutes * 60 - (time.perf_counter() - started) - 30  # keep 30 s for the last checkpoint and the model
        if budget <= 0:
            raise ValueError(f"the {minutes} minutes were spent before training started")
    warmup = warmup_steps if warmup_steps is not None else max(1, planned // 10)
    args = TrainingArguments(output_dir=str(out), batch_size=batch_size, learning_rate=learning_rate,
                             warmup_steps=warmup, num_epochs=epochs, max_steps=steps, seed=seed,
                             group_by_length=mixture is None, max_seconds=budget, log_every=20, eval_every=eval_every,
                             save_every=save_every, overwrite_output_dir=overwrite)
    evaluate = None
    if eval_every:
        dev = {name: load_glue(name, "dev", data_folder) for name in tasks}

        def evaluate(m):  # one task: its metrics; several: each task's, named "TASK metric"
            scores = {name: evaluate_glue_model(m, tokenizer, name, max_length=max_length, examples=dev[name])
                      for name in tasks}
            return scores[tasks[0]] if len(tasks) == 1 else {f"{name} {metric}": value for name in tasks
                                                             for metric, value in scores[name].items()}
    trainer = Trainer(model, train_data, args=args, loss_fn=loss_fn, collate=make_batch, trainable_mask=mask,
                      evaluate=evaluate)
    print(f"training {trainer.total_steps:,} steps of {batch_size} examples ({trainer.total_steps / per_epoch:.1f}"
          " epochs)" + (f", at most {budget / 60:.1f} more minutes" if budget else ""), flush=True)
    trainer.train(resume_from=out / "latest" if resume else None)
    model = trainer.model
    seconds = time.perf_counter() - started
    info = {"task": "+".join(tasks), "source": source, "strategy": strategy, "examples": sum(map(len, by_task.values())),
            "steps": trainer.step, "epochs": round(trainer.step / per_epoch, 2), "seconds": round(seconds, 1),
            "batch_size": batch_size, "learning_rate": learning_rate, "warmup_steps": warmup,
            "max_length": max_length, "seed": seed, "trainable_parameters": trainable,
            "pooling": getattr(model.config, "classifier_pooling", None),
            "matmul_precision": matmul_precision()}
    if mixture is not None:
        info |= {"mixing": mixing, "mixing_limit": mixing_limit,
                 "rates": {k: round(v, 4) for k, v in mixture.rates.items()}}
        if mixing == "temperature":
            info["temperature"] = temperature
    save_glue_model(model, tokenizer, tasks[0], out / "model", glue_card(info))
    atomic_write(out / "training.json", lambda tmp: Path(tmp).write_text(json.dumps(info, indent=1)))
    print(f"trained {trainer.step:,} steps ({info['epochs']} epochs) in {seconds / 60:.1f} minutes in all; "
          f"saved {out / 'model'}", flush=True)
    return model


def save_glue_model(model, tokenizer, task: str, folder: Path, card: dict) -> Path:
    """The model with its tokenizer and adapters (if any), and the task's label names in
    config.json (so the text-classification pipeline says "entailment", not LABEL_0)."""
    model.save_pretrained(folder, card=card)
    save_adapters(model, folder)
    if is_text_to_text(model):
        shutil.copyfile(tokenizer.path, folder / "spiece.model")
    else:
        tokenizer.save_vocabulary(folder)
        config = json.loads((folder / "config.json").read_text())
        names = TASKS[task].labels or ("similarity",)
        config["id2label"] = {str(i): name for i, name in enumerate(names)}
        config["label2id"] = {name: i for i, name in enumerate(names)}
        config["finetuning_task"] = task
        atomic_write(folder / "config.json", lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    return folder


def glue_card(info: dict, scores: dict | None = None) -> dict:
    """The model card's facts for a `glue train` run ("SST-2+RTE" for a mixture), and its dev
    scores if evaluated ({task: scores} for a mixture)."""
    names = info["task"].split("+")
    if len(names) == 1 and scores:
        scores = {names[0]: scores}
    figures = {} if scores else None
    for name in scores or {}:
        figures |= {(f"{name} {metric}" if len(names) > 1 else metric): round(scores[name][metric], 4)
                    for metric in TASKS[name].metrics}
    if scores:
        figures["evaluated on"] = ", ".join(f"GLUE {name} dev ({scores[name]['examples']:,} examples)" for name in scores)
    data = " ".join(f"{TASKS[name].name}: {TASKS[name].question} Inputs: {', '.join(TASKS[name].inputs)}; labels: "
                    f"{', '.join(TASKS[name].labels) or 'a score from 0 to 5'}." for name in names)
    return {"training": {"command": "minitrans glue train", **{k: v for k, v in info.items() if v is not None}},
            "data": f"GLUE {info['task']} train ({info['examples']:,} examples). {data}", "figures": figures}
