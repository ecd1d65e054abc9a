"""Pre-training BERT from a raw text corpus: masked LM + next-sentence prediction.

    corpus -> documents of sentences -> sentence pairs (`make_nsp_pairs`: 50% the true next
    sentence, 50% a random one) -> WordPiece ids -> `mask_tokens` (15% chosen; 80% [MASK],
    10% random, 10% kept) -> BertForPreTraining -> masked-LM loss + next-sentence loss.

As in the original BERT, the vocabulary is scored only at the masked positions
(`masked_positions`), which is most of the speed of pre-training on a CPU.
"""

import time
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets.corpus import group_sentences, read_corpus, split_documents
from minitrans.losses import accuracy, masked_lm_loss, next_sentence_loss
from minitrans.models.bert import BertForPreTraining
from minitrans.pretraining.loop import pretraining_loop, save_run

IGNORE = -100  # the label of positions that are not predicted


def mask_tokens(input_ids: np.ndarray, *, mask_token_id: int, vocab_size: int, special_ids,
                rng: np.random.Generator, mask_prob: float = 0.15):
    """BERT's masking (Devlin et al., 2019, section 3.1), one sequence at a time.

    Choose round(15%) of the non-special tokens of each sequence (at least one); of the chosen,
    80% become [MASK], 10% a random non-special token, 10% stay as they are. Returns
    (masked input_ids, labels) with labels = the original id at chosen positions, -100 elsewhere.
    """
    # BEGIN SOLUTION
    input_ids = np.asarray(input_ids)
    ids, labels = input_ids.copy(), np.full_like(input_ids, IGNORE)
    special = np.asarray(sorted(special_ids))
    ordinary = np.setdiff1d(np.arange(vocab_size), special)  # the random replacements
    for row in range(ids.shape[0]):
        candidates = np.flatnonzero(~np.isin(input_ids[row], special))
        if len(candidates) == 0:
            continue
        count = max(1, int(round(len(candidates) * mask_prob)))
        chosen = rng.choice(candidates, size=count, replace=False)
        labels[row, chosen] = input_ids[row, chosen]
        action = rng.random(count)
        ids[row, chosen[action < 0.8]] = mask_token_id
        randomised = chosen[(action >= 0.8) & (action < 0.9)]
        ids[row, randomised] = rng.choice(ordinary, size=len(randomised))
    return ids, labels
    # END SOLUTION


def make_nsp_pairs(documents: list[list[str]], rng: np.random.Generator) -> list[tuple[str, str, int]]:
    """Next-sentence-prediction pairs (A, B, label) from documents (lists of sentences).

    For each sentence A that has a successor in its document: with probability 1/2, B is that
    successor (label 0, IsNext); otherwise B is a random sentence of another document
    (label 1, NotNext).
    """
    # BEGIN SOLUTION
    documents = [doc for doc in documents if doc]
    if len(documents) < 2:
        raise ValueError(f"next-sentence pairs need at least 2 non-empty documents, got {len(documents)}")
    pairs = []
    for d, doc in enumerate(documents):
        for i in range(len(doc) - 1):
            if rng.random() < 0.5:
                pairs.append((doc[i], doc[i + 1], 0))
            else:
                other = int(rng.integers(len(documents) - 1))
                other += other >= d  # any document but this one
                pairs.append((doc[i], documents[other][int(rng.integers(len(documents[other])))], 1))
    return pairs
    # END SOLUTION


@dataclass
class PretrainingBatch:
    input_ids: np.ndarray  # (batch, seq)
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    masked_positions: np.ndarray  # (batch, max_predictions): where to score the vocabulary
    masked_ids: np.ndarray  # (batch, max_predictions): the original ids there
    masked_weights: np.ndarray  # (batch, max_predictions): 1 for a real prediction, 0 for padding
    next_sentence_labels: np.ndarray  # (batch,)

    def as_dict(self) -> dict:
        return {k: jnp.asarray(v) for k, v in self.__dict__.items()}


def make_batch(pairs, tokenizer, rng: np.random.Generator, max_length: int, max_predictions: int) -> PretrainingBatch:
    """Tokenize (A, B, label) pairs, pad to max_length, mask, and list the masked positions."""
    encoded = tokenizer([a for a, _, _ in pairs], [b for _, b, _ in pairs], max_length=max_length,
                        truncation="longest_first", padding="max_length")
    special = [tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id, tokenizer.unk_id]
    ids, labels = mask_tokens(encoded["input_ids"], mask_token_id=tokenizer.mask_id,
                              vocab_size=tokenizer.vocab_size, special_ids=special, rng=rng)
    positions = np.zeros((len(pairs), max_predictions), np.int32)
    targets, weights = np.zeros_like(positions), np.zeros(positions.shape, np.float32)
    for row in range(len(pairs)):
        where = np.flatnonzero(labels[row] != IGNORE)[:max_predictions]
        positions[row, :len(where)], targets[row, :len(where)] = where, labels[row, where]
        weights[row, :len(where)] = 1.0
    return PretrainingBatch(ids.astype(np.int32), encoded["token_type_ids"], encoded["attention_mask"],
                            positions, targets, weights, np.array([label for _, _, label in pairs], np.int32))


def pretraining_loss(model, batch: dict):
    """Masked-LM loss + next-sentence loss, and the two accuracies."""
    out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                masked_positions=batch["masked_positions"])
    mlm = masked_lm_loss(out.prediction_logits, batch["masked_ids"], batch["masked_weights"])
    nsp = next_sentence_loss(out.seq_relationship_logits, batch["next_sentence_labels"])
    metrics = {"mlm_loss": mlm, "nsp_loss": nsp,
               "mlm_accuracy": accuracy(out.prediction_logits, batch["masked_ids"], batch["masked_weights"]),
               "nsp_accuracy": accuracy(out.seq_relationship_logits, batch["next_sentence_labels"])}
    return mlm + nsp, metrics


def pretrain_bert(corpus: str | Path, config, tokenizer, *, steps: int | None = None,
                  minutes: float | None = None, batch_size: int = 32, max_length: int = 128,
                  max_predictions: int | None = None, learning_rate: float = 1e-4, warmup_steps: int = 100,
                  eval_every: int = 100, eval_batches: int = 4, seed: int = 0, out_dir: str | Path | None = None,
                  max_chars: int | None = None, log=print) -> dict:
    """Pre-train a BertForPreTraining from scratch on `corpus`; stop after `steps` steps or
    `minutes` of wall clock (whichever comes first). Logs held-out masked-token and
    next-sentence accuracy every `eval_every` steps and returns the history."""
    if config.vocab_size != tokenizer.vocab_size:
        config = config.replace(vocab_size=tokenizer.vocab_size)
    if max_length > config.max_position_embeddings:
        raise ValueError(f"max_length={max_length} exceeds max_position_embeddings={config.max_position_embeddings}")
    max_predictions = max_predictions or max(1, int(round(max_length * 0.15)))
    rng = np.random.default_rng(seed)
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
    log(f"BertForPreTraining: {sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param))):,} parameters")

    pairs: list = []
    cursor = 0

    def next_batch() -> dict:
        nonlocal pairs, cursor
        if cursor + batch_size > len(pairs):  # a new epoch: fresh pairs, fresh shuffle
            pairs = make_nsp_pairs(train_docs, rng)
            rng.shuffle(pairs)
            cursor = 0
            if len(pairs) < batch_size:
                raise ValueError(f"the corpus gives {len(pairs)} sentence pairs, fewer than batch_size={batch_size}")
        cursor += batch_size
        return make_batch(pairs[cursor - batch_size:cursor], tokenizer, rng, max_length, max_predictions).__dict__

    result = pretraining_loop(
        model, pretraining_loss, next_batch, held_out, steps=steps, minutes=minutes, learning_rate=learning_rate,
        warmup_steps=warmup_steps, eval_every=eval_every, started=started, log=log,
        describe=lambda m: f"held-out masked-token accuracy {m['mlm_accuracy']:.1%}  NSP accuracy {m['nsp_accuracy']:.1%}")
    if out_dir is not None:
        save_run(out_dir, result["model"], tokenizer.save_vocabulary, result["history"], log)
    return result
