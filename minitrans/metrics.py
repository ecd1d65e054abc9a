"""Evaluation metrics, written out: GLUE's (accuracy, F1, Matthews correlation, Pearson and
Spearman correlation) and generation's (BLEU, ROUGE). The SQuAD metrics live with question
answering (`minitrans.qa.metrics`).

Each follows the definition the field reports with, so the figures compare: the tests check
the GLUE metrics against scikit-learn and scipy, BLEU against sacrebleu's `corpus_bleu` and
ROUGE against Google's `rouge-score`, on real text.
"""

import math
import re
from collections import Counter

import numpy as np


def labels_pair(predictions, references) -> tuple[np.ndarray, np.ndarray]:
    predictions, references = np.asarray(predictions), np.asarray(references)
    if predictions.shape != references.shape or predictions.ndim != 1:
        raise ValueError(f"expected two 1-D sequences of the same length, got shapes {predictions.shape} "
                         f"and {references.shape}")
    if len(predictions) == 0:
        raise ValueError("no predictions to score")
    return predictions, references


# --------------------------------------------------------------------------- classification (GLUE)


def accuracy(predictions, references) -> float:
    predictions, references = labels_pair(predictions, references)
    return float((predictions == references).mean())


def f1(predictions, references, positive=1) -> float:
    """F1 of the positive class (MRPC, QQP): 2 TP / (2 TP + FP + FN); 0 when there is no
    positive prediction or reference."""
    predictions, references = labels_pair(predictions, references)
    tp = np.sum((predictions == positive) & (references == positive))
    wrong = np.sum((predictions == positive) != (references == positive))
    return float(2 * tp / (2 * tp + wrong)) if tp else 0.0


def matthews_correlation(predictions, references) -> float:
    """Matthews correlation coefficient (CoLA), for any number of classes: the covariance of
    the one-hot predictions and references over the product of their spreads; 0 when either
    has a single class."""
    predictions, references = labels_pair(predictions, references)
    classes = np.union1d(predictions, references)
    confusion = np.array([[np.sum((references == r) & (predictions == p)) for p in classes] for r in classes],
                         np.float64)  # (true, predicted)
    n, correct = confusion.sum(), np.trace(confusion)
    true_counts, predicted_counts = confusion.sum(1), confusion.sum(0)
    covariance = correct * n - true_counts @ predicted_counts
    spread = math.sqrt((n * n - predicted_counts @ predicted_counts) * (n * n - true_counts @ true_counts))
    return float(covariance / spread) if spread else 0.0


def pearson(predictions, references) -> float:
    """Pearson's linear correlation (STS-B)."""
    x, y = (a.astype(np.float64) for a in labels_pair(predictions, references))
    x, y = x - x.mean(), y - y.mean()
    spread = math.sqrt((x @ x) * (y @ y))
    if spread == 0:
        raise ValueError("a correlation needs values that vary: one of the sequences is constant")
    return float(x @ y / spread)


def ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, tied values sharing the mean of their ranks."""
    order = np.argsort(values, kind="stable")
    out = np.empty(len(values), np.float64)
    sorted_values = values[order]
    start = 0
    for end in range(1, len(values) + 1):
        if end == len(values) or sorted_values[end] != sorted_values[start]:
            out[order[start:end]] = (start + 1 + end) / 2  # the mean of ranks start+1 .. end
            start = end
    return out


def spearman(predictions, references) -> float:
    """Spearman's rank correlation (STS-B): Pearson's correlation of the ranks."""
    predictions, references = labels_pair(predictions, references)
    return pearson(ranks(predictions.astype(np.float64)), ranks(references.astype(np.float64)))


# --------------------------------------------------------------------------- BLEU


PADDED = re.compile(r"([{|}~\[\\\]^_` !\"#$%&()*+:;<=>?@/])")  # symbols that always stand alone


def tokenize_13a(line: str) -> list[str]:
    """The tokenization of WMT's mteval-v13a script (sacrebleu's default): symbols split off;
    a period or comma split off unless it sits between digits (3.14, 1,000); a dash split off
    after a digit."""
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        for entity, character in (("&quot;", '"'), ("&amp;", "&"), ("&lt;", "<"), ("&gt;", ">")):
            line = line.replace(entity, character)
    line = PADDED.sub(r" \1 ", f" {line} ")
    line = re.sub(r"([^0-9])([.,])", r"\1 \2 ", line)
    line = re.sub(r"([.,])([^0-9])", r" \1 \2", line)
    line = re.sub(r"([0-9])(-)", r"\1 \2 ", line)
    return line.split()


def ngrams(tokens: list[str], order: int) -> Counter:
    return Counter(tuple(tokens[i:i + order]) for i in range(len(tokens) - order + 1))


def clipped_ngram_matches(hypothesis: list[str], references: list[list[str]], order: int) -> tuple[int, int]:
    """BLEU's modified n-gram precision, as its two counts: how many of the hypothesis's
    n-grams the references hold, each n-gram counted at most as often as the reference that
    holds it most often ("clipped"), and how many n-grams the hypothesis has."""
    # BEGIN SOLUTION
    counts = ngrams(hypothesis, order)
    most = Counter()
    for reference in references:
        most |= ngrams(reference, order)  # | keeps the larger count of each n-gram
    matches = sum(min(n, most[gram]) for gram, n in counts.items())
    return matches, max(0, len(hypothesis) - order + 1)
    # END SOLUTION


def brevity_penalty(hypothesis_length: int, reference_length: int) -> float:
    """exp(1 - r / c) when the hypotheses (c words) are shorter than the references (r words),
    else 1; 0 for an empty output."""
    # BEGIN SOLUTION
    if hypothesis_length >= reference_length:
        return 1.0
    return math.exp(1 - reference_length / hypothesis_length) if hypothesis_length > 0 else 0.0
    # END SOLUTION


def corpus_bleu(hypotheses: list[str], references: list[list[str]], *, max_order: int = 4, smooth: str = "exp",
                smooth_value: float | None = None, lowercase: bool = False) -> dict:
    """Corpus BLEU (Papineni et al., 2002) as sacrebleu reports it, on a 0-100 scale.

    `references` holds one list per reference set, each as long as `hypotheses` (sacrebleu's
    layout). Clipped n-gram counts and lengths are summed over the corpus; each hypothesis is
    compared with the reference closest to it in length (the shorter on a tie). The brevity
    penalty exp(1 - r/c) applies when the hypotheses are shorter. An order with no match is
    smoothed: "exp" (mteval's: 1 / (2^k * total) for the k-th such order), "floor"
    (smooth_value / total, default 0.1), "add-k" (k added to matches and totals from the
    bigrams on, default 1) or "none"."""
    if smooth not in ("exp", "floor", "add-k", "none"):
        raise ValueError(f"smooth must be 'exp', 'floor', 'add-k' or 'none', got {smooth!r}")
    if not references or any(len(refs) != len(hypotheses) for refs in references):
        raise ValueError(f"each reference set must hold one reference per hypothesis ({len(hypotheses)}); got sets of "
                         f"{[len(refs) for refs in references]}")
    smooth_value = {"floor": 0.1, "add-k": 1.0}.get(smooth, 0.0) if smooth_value is None else smooth_value
    matches, totals = np.zeros(max_order), np.zeros(max_order)
    hypothesis_length = reference_length = 0
    for i, hypothesis in enumerate(hypotheses):
        prepare = (lambda s: tokenize_13a(s.lower())) if lowercase else tokenize_13a
        words = prepare(hypothesis)
        candidates = [prepare(refs[i]) for refs in references]
        hypothesis_length += len(words)
        reference_length += min((abs(len(r) - len(words)), len(r)) for r in candidates)[1]
        for order in range(1, max_order + 1):
            hit, total = clipped_ngram_matches(words, candidates, order)
            matches[order - 1] += hit
            totals[order - 1] += total
    precisions, halvings = [], 0
    for order in range(1, max_order + 1):
        hit, total = matches[order - 1], totals[order - 1]
        if smooth == "add-k" and order > 1:
            hit, total = hit + smooth_value, total + smooth_value
        if total == 0:
            precisions += [0.0] * (max_order - order + 1)
            break
        if hit > 0:
            precisions.append(100.0 * hit / total)
        elif smooth == "exp":
            halvings += 1
            precisions.append(100.0 / (2 ** halvings * total))
        elif smooth == "floor":
            precisions.append(100.0 * smooth_value / total)
        else:
            precisions.append(0.0)
    brevity = brevity_penalty(hypothesis_length, reference_length)
    geometric = math.exp(sum(math.log(p) if p > 0 else -9999999999.0 for p in precisions) / max_order)
    return {"score": brevity * geometric, "precisions": precisions, "brevity_penalty": brevity,
            "hypothesis_length": hypothesis_length, "reference_length": reference_length}


# --------------------------------------------------------------------------- the Porter stemmer


# Porter (1980), "An algorithm for suffix stripping", with the extensions NLTK applies by
# default (the stemmer rouge-score uses): a few irregular forms, two-letter words left alone,
# and the rule changes marked "(NLTK)" below.
IRREGULAR = {"skies": "sky", "sky": "sky", "dying": "die", "lying": "lie", "tying": "tie", "news": "news",
             "innings": "inning", "inning": "inning", "outings": "outing", "outing": "outing",
             "cannings": "canning", "canning": "canning", "howe": "howe", "proceed": "proceed",
             "exceed": "exceed", "succeed": "succeed"}


def consonants(word: str) -> list[bool]:
    """Which letters are consonants: not a, e, i, o, u, and not a y that follows a consonant."""
    out = []
    for i, letter in enumerate(word):
        out.append(letter not in "aeiou" and not (letter == "y" and i > 0 and out[i - 1]))
    return out


def measure(stem: str) -> int:
    """m in [C](VC)^m[V]: how many times a vowel run is followed by a consonant run."""
    flags = consonants(stem)
    return sum(1 for a, b in zip(flags, flags[1:]) if not a and b)


def has_vowel(stem: str) -> bool:
    return not all(consonants(stem))


def ends_double_consonant(word: str) -> bool:
    return len(word) >= 2 and word[-1] == word[-2] and consonants(word)[-1]


def ends_cvc(word: str) -> bool:
    """*o: consonant-vowel-consonant, the last not w, x or y; (NLTK) or a two-letter vowel-consonant word."""
    flags = consonants(word)
    if len(word) >= 3:
        return flags[-3] and not flags[-2] and flags[-1] and word[-1] not in "wxy"
    return len(word) == 2 and not flags[0] and flags[1]


def first_rule(word: str, rules) -> str:
    """Apply the first rule whose suffix the word ends with, if its condition holds for what
    the suffix leaves; a matching suffix whose condition fails stops the search too."""
    for suffix, replacement, condition in rules:
        if word.endswith(suffix):
            stem = word[:len(word) - len(suffix)]
            return stem + replacement if condition(stem) else word
    return word


def always(stem: str) -> bool:
    return True


def m_above(n: int):
    return lambda stem: measure(stem) > n


STEP2 = [("ational", "ate"), ("tional", "tion"), ("enci", "ence"), ("anci", "ance"), ("izer", "ize"), ("bli", "ble"),
         ("alli", "al"), ("entli", "ent"), ("eli", "e"), ("ousli", "ous"), ("ization", "ize"), ("ation", "ate"),
         ("ator", "ate"), ("alism", "al"), ("iveness", "ive"), ("fulness", "ful"), ("ousness", "ous"),
         ("aliti", "al"), ("iviti", "ive"), ("biliti", "ble"), ("fulli", "ful")]  # bli (NLTK; abli in 1980), fulli (NLTK)
STEP3 = [("icate", "ic"), ("ative", ""), ("alize", "al"), ("iciti", "ic"), ("ical", "ic"), ("ful", ""), ("ness", "")]
STEP4 = ["al", "ance", "ence", "er", "ic", "able", "ible", "ant", "ement", "ment", "ent", "ion", "ou", "ism", "ate",
         "iti", "ous", "ive", "ize"]


def step1(word: str) -> str:
    """Plurals, -ed and -ing, and y -> i."""
    if word.endswith("ies") and len(word) == 4:  # (NLTK) ties -> tie
        word = word[:-1]
    else:
        word = first_rule(word, [("sses", "ss", always), ("ies", "i", always), ("ss", "ss", always), ("s", "", always)])
    if word.endswith("ied"):  # (NLTK) died -> die, cried -> cri
        word = word[:-1] if len(word) == 4 else word[:-2]
    elif word.endswith("eed"):
        word = word[:-1] if measure(word[:-3]) > 0 else word
    else:
        for suffix in ("ed", "ing"):
            if word.endswith(suffix) and has_vowel(word[:-len(suffix)]):
                word = tidy_after_ed_ing(word[:-len(suffix)])
                break
    if word.endswith("y") and len(word) > 2 and consonants(word)[-2]:  # (NLTK) y -> i after a consonant
        word = word[:-1] + "i"
    return word


def tidy_after_ed_ing(stem: str) -> str:
    """conflat(ed) -> conflate, hopp(ing) -> hop, fil(ing) -> file."""
    for suffix in ("at", "bl", "iz"):
        if stem.endswith(suffix):
            return stem + "e"
    if ends_double_consonant(stem):
        return stem[:-1] if stem[-1] not in "lsz" else stem
    return stem + "e" if measure(stem) == 1 and ends_cvc(stem) else stem


def step2(word: str) -> str:
    if word.endswith("alli") and measure(word[:-4]) > 0:  # (NLTK) -alli -> -al, then again
        return step2(word[:-2])
    if word.endswith("logi"):  # (NLTK) -logi -> -log when what precedes "ogi" has m > 0
        return word[:-1] if measure(word[:-3]) > 0 else word
    return first_rule(word, [(suffix, replacement, m_above(0)) for suffix, replacement in STEP2])


def step4(word: str) -> str:
    def condition(suffix):
        if suffix == "ion":
            return lambda stem: measure(stem) > 1 and stem[-1:] in ("s", "t")
        return m_above(1)
    return first_rule(word, [(suffix, "", condition(suffix)) for suffix in STEP4])


def step5(word: str) -> str:
    if word.endswith("e"):
        stem = word[:-1]
        if measure(stem) > 1 or (measure(stem) == 1 and not ends_cvc(stem)):
            word = stem
    if word.endswith("ll") and measure(word[:-1]) > 1:
        word = word[:-1]
    return word


def porter_stem(word: str) -> str:
    """The stem of one word: connections, connected, connecting -> connect."""
    stem = word.lower()
    if stem in IRREGULAR:
        return IRREGULAR[stem]
    if len(word) <= 2:
        return stem
    stem = step2(step1(stem))
    stem = first_rule(stem, [(suffix, replacement, m_above(0)) for suffix, replacement in STEP3])
    return step5(step4(stem))


# --------------------------------------------------------------------------- ROUGE


def rouge_tokens(text: str, stem: bool = False) -> list[str]:
    """rouge-score's tokens: lower case, every run of characters other than a-z and 0-9 a break;
    with `stem`, words of more than 3 letters reduced by the Porter stemmer."""
    tokens = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return [porter_stem(t) if stem and len(t) > 3 else t for t in tokens]


def longest_common_subsequence(a: list[str], b: list[str]) -> int:
    row = [0] * (len(b) + 1)
    for x in a:
        previous_diagonal = 0
        for j, y in enumerate(b, 1):
            previous_diagonal, row[j] = row[j], previous_diagonal + 1 if x == y else max(row[j], row[j - 1])
    return row[-1]


def precision_recall_f(overlap: float, predicted: int, reference: int) -> dict:
    precision = overlap / predicted if predicted else 0.0
    recall = overlap / reference if reference else 0.0
    f = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "fmeasure": f}


def rouge(prediction: str, reference: str, types=("rouge1", "rouge2", "rougeL"), stem: bool = False) -> dict:
    """ROUGE (Lin, 2004) of one prediction against one reference, as rouge-score computes it
    (`stem` as its use_stemmer): ROUGE-N from clipped n-gram overlaps, ROUGE-L from the longest common
    subsequence of the tokens. Each type gives precision, recall and F-measure (0 to 1)."""
    predicted, wanted = rouge_tokens(prediction, stem), rouge_tokens(reference, stem)
    out = {}
    for kind in types:
        if kind == "rougeL":
            out[kind] = precision_recall_f(longest_common_subsequence(wanted, predicted), len(predicted), len(wanted))
        elif re.fullmatch(r"rouge[1-9]", kind):
            order = int(kind[-1])
            p, w = ngrams(predicted, order), ngrams(wanted, order)
            out[kind] = precision_recall_f(sum((p & w).values()), sum(p.values()), sum(w.values()))
        else:
            raise ValueError(f"unknown ROUGE type {kind!r}: expected rouge1 ... rouge9 or rougeL")
    return out
