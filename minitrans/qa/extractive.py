"""Extractive question answering with BERT, end to end (Devlin et al., 2019, section 4.2).

    [CLS] question tokens [SEP] context tokens ........ [SEP]
                                 ^start        ^end          two scores per token

1. Features (`prepare_train_features`, `prepare_validation_features`). A context longer than
   the window (max_length 384 with the question) is cut into overlapping windows, each sharing
   `stride` (128) tokens with the next, so every answer lies whole in at least one window.
   For training, the answer's characters become the window's start/end token positions; a
   window that does not hold the whole answer, and an unanswerable question, point at [CLS]
   (position 0): "no answer here".
2. The model (`BertForQuestionAnswering`) gives start and end logits; the loss is the mean of
   the two cross entropies (`qa_loss`).
3. Post-processing (`postprocess_qa_predictions`): in every window of an example, the n-best
   start and end positions make candidate spans (inside the context, end >= start, at most
   `max_answer_length` tokens); the best start+end score over all windows wins and is cut out
   of the original context by its character offsets. SQuAD 2.0: the [CLS] score (start+end at
   position 0, its lowest over the windows) is "no answer"; answer "" when it beats the best
   span by more than `null_threshold`.

`QuestionAnswerer` wraps all three for one question: `qa("Who...?", context)`.
"""

import warnings
from dataclasses import dataclass

import jax.numpy as jnp
import numpy as np

from minitrans.datasets.squad import SquadExample
from minitrans.datasets.streaming import pad_batch
from minitrans.kernels import compiled_call
from minitrans.losses import cross_entropy


@dataclass
class FeatureReport:
    examples: int = 0
    features: int = 0
    answer_outside_window: int = 0  # training windows labelled [CLS] because the answer is not (all) in them
    skipped: list = None

    def __str__(self):
        return (f"{self.examples:,} examples -> {self.features:,} windows "
                f"({self.answer_outside_window:,} training windows without the answer, labelled [CLS]; "
                f"{len(self.skipped or []):,} examples skipped)")


def windows(n_context: int, budget: int, stride: int) -> list[tuple[int, int]]:
    """[start, end) spans of context tokens: `budget` long, each overlapping the next by `stride`."""
    if budget <= stride:
        raise ValueError(f"the window holds {budget} context tokens, not more than stride={stride}: "
                         "lower the stride, shorten the question or raise max_length")
    spans, start = [], 0
    while True:
        end = min(start + budget, n_context)
        spans.append((start, end))
        if end == n_context:
            return spans
        start += budget - stride


def encode_example(example: SquadExample, tokenizer, max_length: int, stride: int, max_query_length: int):
    """Yield (input_ids, token_type_ids, offsets) for each window of the context."""
    if not example.question.strip():
        raise ValueError(f"question {example.id} is empty")
    if not example.context.strip():
        raise ValueError(f"question {example.id} has no context")
    question = tokenizer.tokenize_with_offsets(example.question)[:max_query_length]
    context = tokenizer.tokenize_with_offsets(example.context)
    if not context:
        raise ValueError(f"the context of question {example.id} has no tokens")
    budget = max_length - len(question) - 3  # [CLS] question [SEP] context [SEP]
    cls_id, sep_id = tokenizer.vocab["[CLS]"], tokenizer.vocab["[SEP]"]
    q_ids = tokenizer.convert_tokens_to_ids([t for t, _, _ in question])
    c_ids = tokenizer.convert_tokens_to_ids([t for t, _, _ in context])
    for start, end in windows(len(context), budget, stride):
        ids = [cls_id, *q_ids, sep_id, *c_ids[start:end], sep_id]
        types = [0] * (len(q_ids) + 2) + [1] * (end - start + 1)
        offsets = [None] * (len(q_ids) + 2) + [(s, e) for _, s, e in context[start:end]] + [None]
        yield np.array(ids, np.int32), np.array(types, np.int32), offsets


def prepare_train_features(examples: list[SquadExample], tokenizer, max_length: int = 384, stride: int = 128,
                           max_query_length: int = 64, report: FeatureReport | None = None) -> list[dict]:
    """One dict per window: input_ids, token_type_ids (unpadded int32 arrays), start_positions,
    end_positions (token indices; 0 = [CLS] = no answer in this window)."""
    report = report if report is not None else FeatureReport()
    report.skipped = report.skipped or []
    features = []
    for example in examples:
        report.examples += 1
        try:
            encoded = list(encode_example(example, tokenizer, max_length, stride, max_query_length))
        except ValueError as error:
            report.skipped.append((example.id, str(error)))
            continue
        for ids, types, offsets in encoded:
            start, end = 0, 0  # [CLS]: no answer in this window
            if example.answers and not example.is_impossible:
                start_char = example.answers[0]["answer_start"]
                end_char = start_char + len(example.answers[0]["text"])
                # the first token ending after start_char, the last token starting before
                # end_char; [CLS] unless the window holds the whole answer
                # BEGIN SOLUTION
                context = [i for i, o in enumerate(offsets) if o is not None]
                if offsets[context[0]][0] <= start_char and offsets[context[-1]][1] >= end_char:
                    start = next(i for i in context if offsets[i][1] > start_char)
                    end = next(i for i in reversed(context) if offsets[i][0] < end_char)
                # END SOLUTION
                report.answer_outside_window += start == 0
            features.append({"input_ids": ids, "token_type_ids": types,
                             "start_positions": np.int32(start), "end_positions": np.int32(end)})
    report.features = len(features)
    return features


def prepare_validation_features(examples: list[SquadExample], tokenizer, max_length: int = 384,
                                stride: int = 128, max_query_length: int = 64,
                                report: FeatureReport | None = None) -> list[dict]:
    """One dict per window: input_ids, token_type_ids, example_index, and offsets (a
    (start, end) character span in the context per token, None outside the context)."""
    report = report if report is not None else FeatureReport()
    report.skipped = report.skipped or []
    features = []
    for index, example in enumerate(examples):
        report.examples += 1
        try:
            for ids, types, offsets in encode_example(example, tokenizer, max_length, stride, max_query_length):
                features.append({"input_ids": ids, "token_type_ids": types, "offsets": offsets,
                                 "example_index": index})
        except ValueError as error:
            report.skipped.append((example.id, str(error)))
    report.features = len(features)
    return features


def qa_loss(model, batch: dict):
    """Mean of the start and end cross entropies, with exact-match-of-positions metrics."""
    out = model(batch["input_ids"], batch["token_type_ids"], batch["attention_mask"])
    # padded positions can never be the answer
    mask = batch["attention_mask"].astype(bool)
    start_logits = jnp.where(mask, out.start_logits, -1e9)
    end_logits = jnp.where(mask, out.end_logits, -1e9)
    loss = (cross_entropy(start_logits, batch["start_positions"]) +
            cross_entropy(end_logits, batch["end_positions"])) / 2
    start_ok = jnp.argmax(start_logits, -1) == batch["start_positions"]
    end_ok = jnp.argmax(end_logits, -1) == batch["end_positions"]
    return loss, {"start_accuracy": start_ok.mean(), "end_accuracy": end_ok.mean()}


def length_batches(features: list[dict], batch_size: int = 64):
    """(feature indices, padded batch) in order of length: features of similar length share a
    batch, padded to a multiple of 64 (little spent on padding); the last batch of a length is
    padded with empty rows to `batch_size`, so each length bucket compiles one shape."""
    order = np.argsort([len(f["input_ids"]) for f in features], kind="stable")
    for first in range(0, len(order), batch_size):
        chosen = order[first:first + batch_size]
        batch = pad_batch([features[i] for i in chosen], keys=())
        if len(chosen) < batch_size:
            batch = {k: np.pad(v, ((0, batch_size - len(chosen)), (0, 0))) for k, v in batch.items()}
        yield chosen, batch


def predict_logits(model, features: list[dict], batch_size: int = 64, progress: bool = False):
    """Start and end logits (numpy, unpadded) for every feature, batched by `length_batches`."""
    from tqdm.auto import tqdm

    model.eval()
    starts, ends = [None] * len(features), [None] * len(features)
    batches = tqdm(length_batches(features, batch_size), total=-(-len(features) // batch_size),
                   disable=not progress, desc="predicting")
    for chosen, batch in batches:
        out = compiled_call(model, batch["input_ids"], batch["token_type_ids"], batch["attention_mask"],
                            library_fusions=False)  # batches of 64 windows: faster without (see kernels)
        s, e = np.asarray(out.start_logits), np.asarray(out.end_logits)
        for row, i in enumerate(chosen):
            n = len(features[i]["input_ids"])
            starts[i], ends[i] = s[row, :n], e[row, :n]
    return starts, ends


def postprocess_qa_predictions(examples: list[SquadExample], features: list[dict], start_logits, end_logits,
                               n_best: int = 20, max_answer_length: int = 30, version_2: bool = False,
                               null_threshold: float = 0.0):
    """Answers from logits: ({id: answer text}, {id: null score difference}, {id: n-best list}).

    The null score difference is (no-answer score) - (best span score): the larger, the surer
    the model is that there is no answer. With version_2, the answer is "" when it exceeds
    `null_threshold`; `squad_v2_evaluate` can search the best threshold from these values.
    """
    by_example: dict[int, list[int]] = {}
    for i, f in enumerate(features):
        by_example.setdefault(f["example_index"], []).append(i)
    predictions, null_differences, nbest = {}, {}, {}
    for index, example in enumerate(examples):
        spans, null_score = [], None
        for i in by_example.get(index, []):
            s, e, offsets = start_logits[i], end_logits[i], features[i]["offsets"]
            score = float(s[0] + e[0])
            null_score = score if null_score is None else min(null_score, score)
            # spans from the n_best highest start and end logits: both in the context,
            # end >= start, at most max_answer_length tokens; (score, first char, end char)
            # BEGIN SOLUTION
            top_starts = np.argsort(s)[::-1][:n_best]
            top_ends = np.argsort(e)[::-1][:n_best]
            for a in top_starts:
                for b in top_ends:
                    if offsets[a] is None or offsets[b] is None or b < a or b - a + 1 > max_answer_length:
                        continue
                    spans.append((float(s[a] + e[b]), offsets[a][0], offsets[b][1]))
            # END SOLUTION
        spans.sort(key=lambda x: -x[0])
        candidates = [{"text": example.context[a:b], "score": score, "start": a, "end": b}
                      for score, a, b in spans[:n_best]]
        best = candidates[0] if candidates else {"text": "", "score": -1e9, "start": 0, "end": 0}
        null_differences[example.id] = (null_score - best["score"]) if null_score is not None else 0.0
        answer = best["text"]
        if version_2 and null_differences[example.id] > null_threshold:
            answer = ""
        predictions[example.id] = answer
        nbest[example.id] = candidates
    return predictions, null_differences, nbest


def softmax_scores(candidates: list[dict]) -> list[float]:
    scores = np.array([c["score"] for c in candidates])
    weights = np.exp(scores - scores.max())
    return list(weights / weights.sum())


def check_vocabulary(model, tokenizer) -> None:
    """A tokenizer must not give ids the model has no embedding for: checked once, where the two
    meet (the compiled forward pass cannot check ids, and would read a wrong row)."""
    model_vocab = model.config.vocab_size
    if tokenizer.vocab_size > model_vocab:
        raise ValueError(f"the tokenizer has {tokenizer.vocab_size:,} tokens but the model's vocabulary only "
                         f"{model_vocab:,} (vocab_size in config.json): they do not belong together")


class QuestionAnswerer:
    """`QuestionAnswerer(model, tokenizer)("Who ...?", context)` -> {"answer", "score", "start", "end"}.

    The score is the answer's probability among the n-best candidates (softmax of start+end
    logits), as Hugging Face's question-answering pipeline reports it.
    """

    def __init__(self, model, tokenizer, max_length: int = 384, stride: int = 128, version_2: bool = False,
                 null_threshold: float = 0.0, max_query_length: int = 64):
        check_vocabulary(model, tokenizer)
        if stride >= max_length:
            raise ValueError(f"stride ({stride}) must be smaller than max_length ({max_length})")
        self.model, self.tokenizer = model, tokenizer
        self.max_length, self.stride, self.max_query_length = max_length, stride, max_query_length
        self.version_2, self.null_threshold = version_2, null_threshold

    def __call__(self, question: str, context: str) -> dict:
        if not isinstance(question, str) or not question.strip():
            raise ValueError("ask a question: got an empty question")
        if not isinstance(context, str) or not context.strip():
            raise ValueError("extractive QA needs a context to find the answer in: got an empty context "
                             "(for closed-book QA, ask a T5 model with the 'question: Q' format)")
        asked = len(self.tokenizer.tokenize(question))
        if asked > self.max_query_length:
            warnings.warn(f"the question has {asked} tokens: only its first {self.max_query_length} are read "
                          "(max_query_length)", stacklevel=2)
        example = SquadExample("q", question, context)
        report = FeatureReport()
        features = prepare_validation_features([example], self.tokenizer, self.max_length, self.stride,
                                               self.max_query_length, report=report)
        if not features:
            raise ValueError(f"this question cannot be answered in windows of {self.max_length} tokens: "
                             f"{report.skipped[0][1]}")
        starts, ends = predict_logits(self.model, features, batch_size=len(features))
        return best_answer(example, features, starts, ends, version_2=self.version_2, null_threshold=self.null_threshold)


def best_answer(example: SquadExample, features: list[dict], starts, ends, version_2: bool = False,
                null_threshold: float = 0.0) -> dict:
    """One question's answer from its windows' logits: {"answer", "score", "start", "end",
    "null_difference"}; the score is the answer's probability among the n-best candidates."""
    predictions, differences, nbest = postprocess_qa_predictions(
        [example], features, starts, ends, version_2=version_2, null_threshold=null_threshold)
    candidates = nbest[example.id]
    if not candidates or predictions[example.id] == "":
        return {"answer": "", "score": 0.0, "start": 0, "end": 0, "null_difference": differences[example.id]}
    best = candidates[0]
    return {"answer": best["text"], "score": float(softmax_scores(candidates)[0]), "start": best["start"],
            "end": best["end"], "null_difference": differences[example.id]}


def highlight(context: str, start: int, end: int, width: int = 100) -> str:
    """The context with the answer in bold (ANSI) brackets, around the answer."""
    left = max(0, start - width)
    right = min(len(context), end + width)
    return (("..." if left else "") + context[left:start] + "\033[1m[" + context[start:end] + "]\033[0m"
            + context[end:right] + ("..." if right < len(context) else ""))
