"""Question answering with T5, text to text (Raffel et al., 2020; the course's week 3):

    context-based:  "question: Q context: C"  ->  "A"
    closed-book:    "question: Q"             ->  "A"

The formats are `minitrans.datasets.text_to_text.question_answering` and `closed_book`; here
the pieces around a model: encode (source, answer) pairs as a batch, answer with greedy
generation, and score with the SQuAD metric.

The 2023 course's two graded functions are here too, with its format: `parse_squad` turns
SQuAD 2.0 records into "question: Q context: C" -> "answer: A" pairs, and `answer_question`
lets the decoder start from "answer: " and continue greedily to EOS.
"""

import warnings

import jax.numpy as jnp
import numpy as np

from minitrans.datasets.streaming import pad_rows
from minitrans.generation import generate
from minitrans.losses import IGNORE
from minitrans.qa.metrics import squad_evaluate


def parse_squad(dataset: list[dict], skipped: dict | None = None) -> tuple[list[str], list[str]]:
    """SQuAD (2.0) articles, the file's "data" list, as the 2023 course's text-to-text pairs:
    inputs "question: Q context: C", targets "answer: A" with the first answer. Unanswerable
    questions are left out, as in the course; so are answers whose `answer_start` does not
    point at their text in the context (counted and warned about). `skipped`, if given, gets
    the count of each reason."""
    counts = {"unanswerable": 0, "no answer given": 0, "answer_start does not point at the answer": 0}
    inputs, targets = [], []
    for article in dataset:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                # BEGIN SOLUTION
                if qa.get("is_impossible", False):
                    counts["unanswerable"] += 1
                    continue
                reason = why_unusable(qa, context)
                if reason:
                    counts[reason] += 1
                    continue
                inputs.append(f"question: {qa['question']} context: {context}")
                targets.append(f"answer: {qa['answers'][0]['text']}")
                # END SOLUTION
    bad = {reason: n for reason, n in counts.items() if n and reason != "unanswerable"}
    if bad:
        warnings.warn(f"parse_squad left out {sum(bad.values())} questions: "
                      + ", ".join(f"{n} {reason}" for reason, n in bad.items()), stacklevel=2)
    if skipped is not None:
        skipped.update(counts)
    return inputs, targets


def why_unusable(qa: dict, context: str) -> str | None:
    """Why an answerable SQuAD question cannot become a training pair, or None."""
    if not qa.get("answers"):
        return "no answer given"
    first = qa["answers"][0]
    start = first.get("answer_start")
    if start is not None and context[start:start + len(first["text"])] != first["text"]:
        return "answer_start does not point at the answer"
    return None


def answer_question(question: str, model, tokenizer, encoder_maxlen: int = 150, decoder_maxlen: int = 50) -> list[int]:
    """The 2023 course's answer_question: the question ("question: Q context: C") as ids, cut
    or padded to `encoder_maxlen`; the decoder starts from the ids of "answer: " and continues
    greedily until EOS or `decoder_maxlen` new tokens. Returns the decoder's ids after its
    start token: "answer: ", the answer, and EOS when reached; `tokenizer.decode` gives the text."""
    if encoder_maxlen < 1 or decoder_maxlen < 1:
        raise ValueError(f"encoder_maxlen and decoder_maxlen must be >= 1, got {encoder_maxlen} and {decoder_maxlen}")
    # BEGIN SOLUTION
    ids = tokenizer.encode(question)[:encoder_maxlen]
    padded = pad_rows([ids], encoder_maxlen)  # (1, encoder_maxlen), 0 = <pad>
    prefix = tokenizer.encode("answer: ", add_eos=False)
    generated = generate(model, padded, decoder_prefix=prefix, max_new_tokens=decoder_maxlen)[0, 1:]
    out = []
    for token in generated.tolist():
        out.append(token)
        if token == model.config.eos_token_id:
            break
    return out
    # END SOLUTION


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
