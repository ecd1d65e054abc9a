"""BERT's pre-training data: masked tokens and next-sentence pairs (Devlin et al., 2019, 3.1).

    documents of sentences -> sentence pairs (`make_nsp_pairs`: 50% the true next sentence,
    50% a random one) -> WordPiece ids -> `mask_tokens` (15% chosen; 80% [MASK], 10% random,
    10% kept) -> a batch that lists the masked positions (`make_batch`)

As in the original BERT, the vocabulary is scored only at the masked positions
(`masked_positions`), which is most of the speed of pre-training on a CPU.
"""

from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from minitrans.losses import IGNORE


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
