"""Pre-training from a raw text corpus, on the Trainer: BERT (masked LM + next-sentence
prediction) and T5 (span corruption).

    BERT: corpus -> documents -> sentence pairs -> WordPiece -> mask_tokens -> BertForPreTraining
    T5:   corpus -> token rows -> span corruption -> T5ForConditionalGeneration

Both log held-out figures (the loss function's metrics on fixed held-out batches, dropout off)
every `eval_every` steps, stop after `steps` steps or `minutes` of wall clock (the clock starts
before the data is read), and save the model, its vocabulary and the history.
"""

import json
import shutil
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets.corpus import group_sentences, read_corpus, split_documents
from minitrans.datasets.masking import make_batch, make_nsp_pairs
from minitrans.datasets.span_corruption import make_span_batch, pack_rows, raw_length_for
from minitrans.losses import IGNORE, accuracy, cross_entropy, masked_lm_loss, next_sentence_loss
from minitrans.summary import count_parameters
from minitrans.training.trainer import Trainer, TrainingArguments, mean_metrics


def pretraining_loss(model, batch: dict):
    """BERT: masked-LM loss + next-sentence loss, and the two accuracies."""
    out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                masked_positions=batch["masked_positions"])
    mlm = masked_lm_loss(out.prediction_logits, batch["masked_ids"], batch["masked_weights"])
    nsp = next_sentence_loss(out.seq_relationship_logits, batch["next_sentence_labels"])
    metrics = {"mlm_loss": mlm, "nsp_loss": nsp,
               "mlm_accuracy": accuracy(out.prediction_logits, batch["masked_ids"], batch["masked_weights"]),
               "nsp_accuracy": accuracy(out.seq_relationship_logits, batch["next_sentence_labels"])}
    return mlm + nsp, metrics


def span_corruption_loss(model, batch: dict):
    """T5: cross entropy over the target tokens (a mean per token); span accuracy over the hidden
    words only."""
    labels = batch["labels"]
    logits = model(batch["input_ids"], batch.get("attention_mask"), labels=labels).logits
    targets, weights = jnp.where(labels == IGNORE, 0, labels), labels != IGNORE
    loss = cross_entropy(logits, targets, weights)
    metrics = {"loss": loss, "tokens": weights.sum().astype(jnp.float32)}
    if "word_weights" in batch:
        metrics["span_accuracy"] = accuracy(logits, targets, batch["word_weights"])
    else:
        metrics["accuracy"] = accuracy(logits, targets, weights)
    return loss, metrics


class PairBatches:
    """BERT's training batches: batch `step` is a function of (seed, step) alone, so a resumed
    run sees exactly the batches the uninterrupted one would. Each epoch draws fresh sentence
    pairs and a fresh order (seeded by (seed, epoch)); each batch its own masking (seeded by
    (seed, epoch, index))."""

    def __init__(self, documents, tokenizer, batch_size: int, max_length: int, max_predictions: int, seed: int):
        self.documents, self.tokenizer, self.batch_size = documents, tokenizer, batch_size
        self.max_length, self.max_predictions, self.seed = max_length, max_predictions, seed
        pairs = sum(len(doc) - 1 for doc in documents if doc)  # one per sentence that has a successor
        if pairs < batch_size:
            raise ValueError(f"the corpus gives {pairs} sentence pairs, fewer than batch_size={batch_size}")
        self.per_epoch, self.epoch, self.pairs = pairs // batch_size, None, []

    def __call__(self, step: int) -> dict:
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self.epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self.pairs, self.epoch = make_nsp_pairs(self.documents, rng), epoch
            rng.shuffle(self.pairs)
        chosen = self.pairs[index * self.batch_size:(index + 1) * self.batch_size]
        return make_batch(chosen, self.tokenizer, np.random.default_rng([self.seed, epoch, index]), self.max_length,
                          self.max_predictions).__dict__


class SpanBatches:
    """T5's training batches: rows in a fresh order each epoch, span-corrupted afresh; batch `step`
    is a function of (seed, step) alone (see PairBatches)."""

    def __init__(self, rows: np.ndarray, tokenizer, batch_size: int, input_length: int, target_length: int, seed: int):
        if len(rows) < batch_size:
            raise ValueError(f"the corpus gives {len(rows)} rows, fewer than batch_size={batch_size}")
        self.rows, self.tokenizer, self.batch_size, self.seed = rows, tokenizer, batch_size, seed
        self.input_length, self.target_length = input_length, target_length
        self.per_epoch, self.epoch, self.order = len(rows) // batch_size, None, None

    def __call__(self, step: int) -> dict:
        epoch, index = divmod(step, self.per_epoch)
        if epoch != self.epoch:
            self.order, self.epoch = np.random.default_rng([self.seed, epoch]).permutation(len(self.rows)), epoch
        chosen = self.rows[self.order[index * self.batch_size:(index + 1) * self.batch_size]]
        return make_span_batch(chosen, self.tokenizer, np.random.default_rng([self.seed, epoch, index]),
                               self.input_length, self.target_length)


def run(model, loss_fn, batches, held_out: list[dict], *, steps, minutes, started: float, learning_rate: float,
        warmup_steps: int, eval_every: int, describe, log, out_dir=None, save_every: int | None = None,
        resume: bool = False, overwrite: bool = False) -> dict:
    """Train on `batches(step)` with the pre-training recipe (AdamW, warm-up, decay to 0 at `steps`,
    or constant when only `minutes` bounds the run), held-out figures every `eval_every` steps;
    with `out_dir`, a checkpoint (out_dir/latest) every `save_every` steps and on Ctrl-C, from
    which `resume` continues exactly."""
    if steps is None and minutes is None:
        raise ValueError("give steps or minutes (or both) to bound the pre-training")
    seconds = None
    if minutes is not None:
        seconds = minutes * 60 - (time.perf_counter() - started)
        if seconds <= 0:
            raise ValueError(f"the {minutes} minutes were spent reading the corpus before training started")
    args = TrainingArguments(output_dir=str(out_dir) if out_dir else None, max_steps=steps, max_seconds=seconds,
                             learning_rate=learning_rate, warmup_steps=warmup_steps, eval_every=eval_every,
                             log_every=min(eval_every, 10), save_every=save_every, progress_bar=False,
                             overwrite_output_dir=overwrite)
    trainer = Trainer(model, batches, args=args, loss_fn=loss_fn, evaluate=mean_metrics(loss_fn, held_out),
                      describe=describe, log=log)
    return trainer.train(resume_from=Path(out_dir) / "latest" if resume else None)


def save_run(out_dir: str | Path, model, tokenizer_save, history: list, log=print) -> None:
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer_save(out_dir)
    (out_dir / "pretraining_history.json").write_text(json.dumps(history, indent=1))
    log(f"saved the model, its vocabulary and the history to {out_dir}")


def pretrain_bert(corpus: str | Path, config, tokenizer, *, steps: int | None = None,
                  minutes: float | None = None, batch_size: int = 32, max_length: int = 128,
                  max_predictions: int | None = None, learning_rate: float = 1e-4, warmup_steps: int = 100,
                  eval_every: int = 100, eval_batches: int = 4, seed: int = 0, out_dir: str | Path | None = None,
                  max_chars: int | None = None, log=print, save_every: int | None = None, resume: bool = False,
                  overwrite: bool = False) -> dict:
    """Pre-train a BertForPreTraining from scratch on `corpus`; stop after `steps` steps or
    `minutes` of wall clock (whichever comes first). Logs held-out masked-token and
    next-sentence accuracy every `eval_every` steps and returns the Trainer's result."""
    from minitrans.models.bert import BertForPreTraining

    if config.vocab_size != tokenizer.vocab_size:
        config = config.replace(vocab_size=tokenizer.vocab_size)
    if max_length > config.max_position_embeddings:
        raise ValueError(f"max_length={max_length} exceeds max_position_embeddings={config.max_position_embeddings}")
    max_predictions = max_predictions or max(1, int(round(max_length * 0.15)))
    started = time.perf_counter()
    words_per_segment = max(8, int((max_length - 3) / 2 * 0.75))  # ~1.33 WordPiece tokens a word
    train_docs, eval_docs = split_documents(group_sentences(read_corpus(corpus, max_chars), words_per_segment))
    eval_pairs = make_nsp_pairs(eval_docs, np.random.default_rng(seed + 1))
    held_out = [make_batch(eval_pairs[i:i + batch_size], tokenizer, np.random.default_rng(seed + 2 + i),
                           max_length, max_predictions).as_dict()
                for i in range(0, min(len(eval_pairs), eval_batches * batch_size), batch_size)]
    log(f"corpus {corpus}: {sum(map(len, train_docs)):,} training segments in {len(train_docs):,} documents, "
        f"{len(eval_pairs):,} held-out pairs; vocabulary {tokenizer.vocab_size:,}")
    model = BertForPreTraining(config, rngs=nnx.Rngs(params=seed, dropout=seed + 1))
    log(f"BertForPreTraining: {count_parameters(model):,} parameters")

    batches = PairBatches(train_docs, tokenizer, batch_size, max_length, max_predictions, seed)

    result = run(model, pretraining_loss, batches, held_out, steps=steps, minutes=minutes, started=started,
                 learning_rate=learning_rate, warmup_steps=warmup_steps, eval_every=eval_every, log=log,
                 describe=lambda m: f"held-out masked-token accuracy {m['mlm_accuracy']:.1%}  "
                                    f"NSP accuracy {m['nsp_accuracy']:.1%}",
                 out_dir=out_dir, save_every=save_every, resume=resume, overwrite=overwrite)
    if out_dir is not None:
        save_run(out_dir, result["model"], tokenizer.save_vocabulary, result["history"], log)
    return result


def pretrain_t5(corpus, config, tokenizer, *, steps: int | None = None, minutes: float | None = None,
                batch_size: int = 32, input_length: int = 128, target_length: int = 32,
                learning_rate: float = 5e-4, warmup_steps: int = 100, eval_every: int = 100, eval_batches: int = 4,
                seed: int = 0, out_dir=None, max_chars: int | None = None, log=print, save_every: int | None = None,
                resume: bool = False, overwrite: bool = False) -> dict:
    """Pre-train a T5ForConditionalGeneration from scratch by span corruption on `corpus`,
    logging the held-out loss and span accuracy (hidden words predicted right)."""
    from minitrans.models.t5 import T5ForConditionalGeneration

    if config.vocab_size < tokenizer.vocab_size:
        config = config.replace(vocab_size=tokenizer.vocab_size)
    started = time.perf_counter()
    raw = raw_length_for(input_length, target_length)
    train_docs, eval_docs = split_documents(read_corpus(corpus, max_chars))
    rows = pack_rows([" ".join(doc) for doc in train_docs], tokenizer, raw)
    eval_rows = pack_rows([" ".join(doc) for doc in eval_docs], tokenizer, raw)[:eval_batches * batch_size]
    held_out = [make_span_batch(eval_rows[i:i + batch_size], tokenizer, np.random.default_rng(seed + 1 + i),
                                input_length, target_length)
                for i in range(0, len(eval_rows), batch_size)]
    log(f"corpus {corpus}: {len(rows):,} training rows of {raw} tokens (inputs {input_length}, targets "
        f"{target_length}), {len(eval_rows):,} held-out rows; vocabulary {tokenizer.vocab_size:,}")
    if len(rows) < batch_size:
        raise ValueError(f"the corpus gives {len(rows)} rows, fewer than batch_size={batch_size}")
    model = T5ForConditionalGeneration(config, rngs=nnx.Rngs(params=seed, dropout=seed + 1))
    log(f"T5ForConditionalGeneration: {count_parameters(model):,} parameters")
    batches = SpanBatches(rows, tokenizer, batch_size, input_length, target_length, seed)

    result = run(model, span_corruption_loss, batches, held_out, steps=steps, minutes=minutes, started=started,
                 learning_rate=learning_rate, warmup_steps=warmup_steps, eval_every=eval_every, log=log,
                 describe=lambda m: f"held-out loss {m['loss']:.3f}  span accuracy {m['span_accuracy']:.1%}",
                 out_dir=out_dir, save_every=save_every, resume=resume, overwrite=overwrite)
    if out_dir is not None:
        save_run(out_dir, result["model"], lambda folder: shutil.copy(tokenizer.path, Path(folder) / "spiece.model"),
                 result["history"], log)
    return result
