"""SQuAD's metrics: exact match and token F1, as the official evaluation scripts compute them.

Both scripts normalise an answer the same way before comparing (lower case, drop punctuation,
drop the articles a/an/the, squeeze white space) and take, for each question, the best score
over its gold answers. They differ on empty answers:

- v1.1 (`squad_evaluate`): every question has answers; F1 of an empty prediction is 0.
- v2.0 (`squad_v2_evaluate`): a question with no answers has gold [""]; predicting "" is right
  (EM = F1 = 1) and anything else is wrong. With `no_answer_probs` (the model's "no answer"
  score per question, higher = more sure there is none) it also searches the threshold that
  would have been best, as the official script does.

The sums run in the dataset's order and divide at the end, as the scripts do, so the numbers
agree with them to the last digit (tests/test_squad_metrics.py runs both on random predictions).
"""

import collections
import re
import string
import sys

ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
PUNCTUATION = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """Lower case, remove punctuation, remove articles, squeeze white space (SQuAD's order)."""
    # BEGIN SOLUTION
    text = text.lower()
    text = "".join(ch for ch in text if ch not in PUNCTUATION)
    text = ARTICLES.sub(" ", text)
    return " ".join(text.split())
    # END SOLUTION


def exact_match(prediction: str, truth: str) -> bool:
    return normalize_answer(prediction) == normalize_answer(truth)


def f1_score(prediction: str, truth: str) -> float:
    """Token-overlap F1 of two answers after normalisation (v1.1: 0 when either is empty)."""
    # BEGIN SOLUTION
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    common = collections.Counter(predicted) & collections.Counter(gold)
    same = sum(common.values())
    if same == 0:
        return 0
    precision, recall = same / len(predicted), same / len(gold)
    return 2 * precision * recall / (precision + recall)
    # END SOLUTION


def f1_score_v2(prediction: str, truth: str) -> float:
    """v2.0's F1: two empty answers agree (1), one empty answer against a non-empty one is 0."""
    predicted, gold = normalize_answer(prediction).split(), normalize_answer(truth).split()
    if not predicted or not gold:
        return int(predicted == gold)
    return f1_score(prediction, truth)


def questions(dataset):
    """(id, [gold answer texts]) for every question of a SQuAD data set, in its order.

    `dataset` is the JSON as loaded (a dict with "data", or its list of articles), or a list
    of `SquadExample`s from `minitrans.datasets.squad.load_squad`.
    """
    if isinstance(dataset, dict):
        if "data" not in dataset:
            raise ValueError("expected SQuAD JSON: a dict with a 'data' list of articles")
        dataset = dataset["data"]
    seen = set()
    for item in dataset:
        if hasattr(item, "answers"):  # a SquadExample
            pairs = [(item.id, [a["text"] for a in item.answers])]
        else:
            try:
                pairs = [(qa["id"], [a["text"] for a in qa["answers"]])
                         for paragraph in item["paragraphs"] for qa in paragraph["qas"]]
            except (KeyError, TypeError) as error:
                raise ValueError(f"expected SQuAD JSON (articles of 'paragraphs' of 'qas' with 'id' and 'answers'); "
                                 f"missing {error}") from None
        for qid, truths in pairs:
            if qid in seen:
                raise ValueError(f"question id {qid} appears twice: ids must be unique (a prediction is kept per id)")
            seen.add(qid)
            yield qid, truths


def question_scores(dataset, predictions: dict[str, str], version_2: bool = False) -> dict[str, tuple]:
    """{id: (exact, f1)} for every question that has a prediction, in the dataset's order.

    Each is the best over the question's gold answers. v1.1: exact is a bool and the F1 of an
    empty answer is 0. v2.0: gold answers that normalise to nothing are dropped, a question
    left with none has the gold answer "", and exact is 0 or 1 (`f1_score_v2`).
    """
    scores = {}
    for qid, truths in questions(dataset):
        if qid not in predictions:
            continue
        prediction = predictions[qid]
        if version_2:
            gold = [t for t in truths if normalize_answer(t)] or [""]
            scores[qid] = (max(int(exact_match(prediction, t)) for t in gold),
                           max(f1_score_v2(prediction, t) for t in gold))
        else:
            if not truths:
                raise ValueError(f"question {qid} has no gold answers: SQuAD 2.0 data (unanswerable questions) "
                                 "is scored with squad_v2_evaluate (`minitrans qa eval --version-2`)")
            scores[qid] = (max(exact_match(prediction, t) for t in truths),
                           max(f1_score(prediction, t) for t in truths))
    return scores


def squad_evaluate(dataset, predictions: dict[str, str], quiet: bool = False) -> dict:
    """{"exact_match", "f1"} in 0-100 over every question; a missing prediction scores 0."""
    total = sum(1 for _ in questions(dataset))
    if total == 0:
        raise ValueError("the data set holds no questions")
    scores = question_scores(dataset, predictions)
    if not quiet and len(scores) < total:
        print(f"{total - len(scores):,} of {total:,} questions have no prediction: they score 0", file=sys.stderr)
    em = f1 = 0
    for exact, f in scores.values():
        em += exact
        f1 += f
    return {"exact_match": 100.0 * em / total, "f1": 100.0 * f1 / total}


def squad_v2_evaluate(dataset, predictions: dict[str, str], no_answer_probs: dict[str, float] | None = None,
                      no_answer_threshold: float = 1.0) -> dict:
    """The official v2.0 figures: exact, f1, total, HasAns_*/NoAns_* breakdowns and, when
    no_answer_probs is given, best_exact/best_f1 with their thresholds.

    A question whose no-answer probability is above `no_answer_threshold` counts as answered
    with "" (the default 1.0 keeps every prediction as it is).
    """
    has_answer = {qid: bool(truths) for qid, truths in questions(dataset)}
    scores = question_scores(dataset, predictions, version_2=True)
    exact = {qid: e for qid, (e, _) in scores.items()}
    f1 = {qid: f for qid, (_, f) in scores.items()}
    if not has_answer:
        raise ValueError("the data set holds no questions")
    missing = [qid for qid in has_answer if qid not in predictions]
    if missing:  # the official script crashes on these; say why instead
        raise ValueError(f"no prediction for {len(missing):,} of {len(has_answer):,} questions (first: {missing[0]}); "
                         "SQuAD 2.0 scoring needs one per question: predict '' for 'no answer'")
    probs = no_answer_probs if no_answer_probs is not None else {qid: 0.0 for qid in predictions}

    def thresholded(scores):
        return {qid: float(not has_answer[qid]) if probs[qid] > no_answer_threshold else s
                for qid, s in scores.items()}

    def summary(e, f, ids=None):
        ids = list(e) if not ids else ids
        return {"exact": 100.0 * sum(e[k] for k in ids) / len(ids),
                "f1": 100.0 * sum(f[k] for k in ids) / len(ids), "total": len(ids)}

    exact_t, f1_t = thresholded(exact), thresholded(f1)
    out = {"exact": 100.0 * sum(exact_t.values()) / len(exact_t),
           "f1": 100.0 * sum(f1_t.values()) / len(f1_t), "total": len(exact_t)}
    for name, wanted in (("HasAns", True), ("NoAns", False)):
        ids = [qid for qid, has in has_answer.items() if has is wanted]
        if ids:
            out.update({f"{name}_{k}": v for k, v in summary(exact_t, f1_t, ids).items()})
    if no_answer_probs is not None:
        for name, scores in (("exact", exact), ("f1", f1)):
            out[f"best_{name}"], out[f"best_{name}_thresh"] = best_threshold(
                predictions, scores, no_answer_probs, has_answer)
    return out


def best_threshold(predictions, scores, probs, has_answer) -> tuple[float, float]:
    """Sweep the no-answer threshold over the sorted probabilities: start from answering ""
    everywhere, then, question by question, keep the model's answer instead."""
    score = best = sum(1 for has in has_answer.values() if not has)
    threshold = 0.0
    for qid in sorted(probs, key=lambda k: probs[k]):
        if qid not in scores:
            continue
        if has_answer[qid]:
            score += scores[qid]
        elif predictions[qid]:
            score -= 1
        if score > best:
            best, threshold = score, probs[qid]
    return 100.0 * best / len(scores), threshold
