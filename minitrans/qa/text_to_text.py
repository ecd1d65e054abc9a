"""Question answering with T5, text to text (Raffel et al., 2020; the course's week 3):

    context-based:  "question: Q context: C"  ->  "A"
    closed-book:    "question: Q"             ->  "A"

The formats are `minitrans.datasets.text_to_text.question_answering` and `closed_book`; here
the pieces around a model: encode (source, answer) pairs as a batch, answer with greedy
generation, and score with the SQuAD metric.
"""

import jax.numpy as jnp
import numpy as np

from minitrans.datasets.streaming import pad_rows
from minitrans.generation import generate
from minitrans.losses import IGNORE
from minitrans.qa.metrics import squad_evaluate


def source_length_for(pairs, tokenizer, multiple: int = 16) -> int:
    """The longest tokenised source, rounded up to `multiple`: a length that cuts no context
    (a cut context loses the answer of any question about its last sentences)."""
    longest = max(len(tokenizer.encode(source)) for _, source, _ in pairs)
    return -(-longest // multiple) * multiple


def encode_pairs(pairs, tokenizer, source_length: int, target_length: int = 12) -> dict:
    """(id, source text, answer) triples as a batch: source ids padded with 0 (cut at
    source_length), answer ids (EOS included) padded with IGNORE."""
    source = pad_rows([tokenizer.encode(s)[:source_length] for _, s, _ in pairs], source_length)
    labels = pad_rows([tokenizer.encode(answer)[:target_length] for _, _, answer in pairs], target_length, IGNORE)
    return {"input_ids": source, "labels": labels}


def answer(model, tokenizer, sources: list[str], source_length: int, max_new_tokens: int = 10,
           batch_size: int = 64) -> list[str]:
    """Greedy answers, as text."""
    out = []
    for start in range(0, len(sources), batch_size):
        chunk = sources[start:start + batch_size]
        ids = pad_rows([tokenizer.encode(s)[:source_length] for s in chunk], source_length)
        if len(chunk) < batch_size:  # one shape: one compilation
            ids = np.concatenate([ids, np.zeros((batch_size - len(chunk), source_length), ids.dtype)])
        generated = generate(model, jnp.asarray(ids), max_new_tokens=max_new_tokens)
        out += [tokenizer.decode(row).strip() for row in generated[:len(chunk)]]
    return out


def score(model, tokenizer, pairs, source_length: int) -> tuple[dict, dict]:
    """SQuAD EM/F1 of the model's answers, and the answers."""
    predictions = dict(zip([qid for qid, _, _ in pairs],
                           answer(model, tokenizer, [s for _, s, _ in pairs], source_length)))
    dataset = {"data": [{"paragraphs": [{"qas": [{"id": qid, "answers": [{"text": a}]} for qid, _, a in pairs]}]}]}
    return squad_evaluate(dataset, predictions), predictions
