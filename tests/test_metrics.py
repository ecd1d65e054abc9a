"""GLUE's and generation's metrics against the field's standard implementations, on real text:
scikit-learn and scipy (accuracy, F1, Matthews, Pearson, Spearman), sacrebleu (corpus BLEU) and
Google's rouge-score (ROUGE-1, ROUGE-2, ROUGE-L). Test-only dependencies."""

import csv
import gzip
import json

import numpy as np
import pytest
from conftest import shared_data

from minitrans import metrics


def sentences(limit=400):
    """Real sentences: SQuAD dev contexts (numbers, commas in numbers, dashes, quotes, accents)."""
    with gzip.open(shared_data("squad/dev-v1.1.json.gz"), "rt", encoding="utf-8") as file:
        data = json.load(file)["data"]
    out = []
    for article in data:
        for paragraph in article["paragraphs"][:2]:
            out += [s.strip() + "." for s in paragraph["context"].split(". ") if len(s.split()) > 3]
    return out[:limit]


def perturbed(text: str, rng) -> str:
    """A plausible system output: words dropped, repeated, swapped, or the sentence cut short."""
    words = text.split()
    choice = rng.integers(5)
    if choice == 0:
        words = [w for w in words if rng.random() > 0.2]
    elif choice == 1 and len(words) > 3:
        i = rng.integers(len(words) - 1)
        words[i], words[i + 1] = words[i + 1], words[i]
    elif choice == 2:
        words = words[: max(1, len(words) * 2 // 3)]
    elif choice == 3:
        words = words + words[-2:]
    return " ".join(words)


@pytest.mark.parametrize("classes,seed", [(2, 0), (2, 1), (3, 2), (5, 3)])
def test_classification_metrics_equal_scikit_learn(classes, seed):
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef
    rng = np.random.default_rng(seed)
    references = rng.integers(classes, size=500)
    predictions = np.where(rng.random(500) < 0.7, references, rng.integers(classes, size=500))
    assert metrics.accuracy(predictions, references) == pytest.approx(accuracy_score(references, predictions), abs=1e-12)
    assert metrics.matthews_correlation(predictions, references) == pytest.approx(
        matthews_corrcoef(references, predictions), abs=1e-12)
    if classes == 2:
        assert metrics.f1(predictions, references) == pytest.approx(f1_score(references, predictions), abs=1e-12)
    assert metrics.matthews_correlation(np.ones(10, int), references[:10]) == 0.0  # one class predicted: 0, as sklearn


def test_matthews_and_f1_on_colas_and_mrpcs_dev_labels():
    from sklearn.metrics import f1_score, matthews_corrcoef
    for task, column, f in (("CoLA", 1, metrics.matthews_correlation), ("MRPC", 0, metrics.f1)):
        with open(shared_data(f"glue/{task}/dev.tsv"), encoding="utf-8") as file:
            rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))
        labels = np.array([int(r[column]) for r in rows[task == "MRPC":]])
        guesses = np.roll(labels, 7)  # a poor system: the labels of other sentences
        reference = (matthews_corrcoef if task == "CoLA" else f1_score)(labels, guesses)
        assert f(guesses, labels) == pytest.approx(reference, abs=1e-12), task


def test_correlations_equal_scipy_with_ties():
    from scipy.stats import pearsonr, spearmanr
    with open(shared_data("glue/STS-B/dev.tsv"), encoding="utf-8") as file:
        rows = list(csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE))[1:]
    gold = np.array([float(r[-1]) for r in rows])  # many ties (scores like 3.0, 4.2)
    rng = np.random.default_rng(0)
    predicted = np.round(gold + rng.normal(0, 1, len(gold)), 1)  # rounded: ties in both
    assert metrics.pearson(predicted, gold) == pytest.approx(pearsonr(predicted, gold)[0], abs=1e-12)
    assert metrics.spearman(predicted, gold) == pytest.approx(spearmanr(predicted, gold)[0], abs=1e-12)
    assert metrics.ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


@pytest.mark.parametrize("smooth", ["exp", "floor", "add-k", "none"])
@pytest.mark.parametrize("lowercase", [False, True])
@pytest.mark.slow
def test_corpus_bleu_equals_sacrebleu(smooth, lowercase):
    import sacrebleu
    references = sentences()
    rng = np.random.default_rng(len(smooth))
    hypotheses = [perturbed(s, rng) for s in references]
    second = [perturbed(s, rng) for s in references]
    for refs in ([references], [references, second]):
        ours = metrics.corpus_bleu(hypotheses, refs, smooth=smooth, lowercase=lowercase)
        theirs = sacrebleu.corpus_bleu(hypotheses, refs, smooth_method=smooth, lowercase=lowercase)
        assert ours["score"] == pytest.approx(theirs.score, abs=1e-9)
        assert ours["precisions"] == pytest.approx(theirs.precisions, abs=1e-9)
        assert (ours["hypothesis_length"], ours["reference_length"]) == (theirs.sys_len, theirs.ref_len)
        assert ours["brevity_penalty"] == pytest.approx(theirs.bp, abs=1e-12)
    # sentence by sentence, where the smoothing decides most scores
    for hypothesis, reference in zip(hypotheses[:60], references[:60]):
        assert metrics.corpus_bleu([hypothesis], [[reference]], smooth=smooth, lowercase=lowercase)["score"] == \
            pytest.approx(sacrebleu.corpus_bleu([hypothesis], [[reference]], smooth_method=smooth,
                                                lowercase=lowercase).score, abs=1e-9)


def test_13a_tokenization_equals_sacrebleu():
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    theirs = Tokenizer13a()
    lines = sentences(200) + ["It costs $3.50, or 1,000 yen -- 2-3 days' pay.", "&quot;Hi&quot; &amp; &lt;b&gt; x<skipped>y",
                              "e.g. U.S.A., a.b,c 3.14. 2,5,", "line-\nbreak\nhere", "[brackets] {braces} ~tilde~ `tick` ^_^"]
    for line in lines:
        assert metrics.tokenize_13a(line) == theirs(line).split(), line


def test_rouge_equals_rouge_score():
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    rng = np.random.default_rng(1)
    references = sentences(300)
    for reference in references:
        prediction = perturbed(reference, rng)
        ours, theirs = metrics.rouge(prediction, reference), scorer.score(reference, prediction)
        for kind in ("rouge1", "rouge2", "rougeL"):
            assert (ours[kind]["precision"], ours[kind]["recall"], ours[kind]["fmeasure"]) == pytest.approx(
                tuple(theirs[kind]), abs=1e-12), (kind, prediction, reference)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="same length"):
        metrics.accuracy([1, 0], [1])
    with pytest.raises(ValueError, match="no predictions"):
        metrics.f1([], [])
    with pytest.raises(ValueError, match="one of the sequences is constant"):
        metrics.pearson([1, 1, 1], [1, 2, 3])
    with pytest.raises(ValueError, match=r"one reference per hypothesis \(2\); got sets of \[1\]"):
        metrics.corpus_bleu(["a b", "c d"], [["a b"]])
    with pytest.raises(ValueError, match="smooth must be"):
        metrics.corpus_bleu(["a"], [["a"]], smooth="laplace")
    with pytest.raises(ValueError, match="unknown ROUGE type 'rougeLsum'"):
        metrics.rouge("a", "a", types=("rougeLsum",))


def test_glue_tasks_are_scored_with_their_official_metrics():
    from scipy.stats import pearsonr, spearmanr
    from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

    from minitrans.datasets.glue import TASKS, evaluate_glue, load_glue
    assert set(TASKS) == {"SST-2", "CoLA", "MRPC", "RTE", "STS-B", "WNLI"}
    shared_data("glue/SST-2/dev.tsv")
    for task in TASKS:
        labels = np.array([e.label for e in load_glue(task, "dev")])
        guesses = np.roll(labels, 3)  # the labels of other examples: a poor system
        got = evaluate_glue(task, guesses, labels)
        expected = {"SST-2": lambda: {"accuracy": accuracy_score(labels, guesses)},
                    "CoLA": lambda: {"matthews_correlation": matthews_corrcoef(labels, guesses)},
                    "MRPC": lambda: {"f1": f1_score(labels, guesses), "accuracy": accuracy_score(labels, guesses)},
                    "RTE": lambda: {"accuracy": accuracy_score(labels, guesses)},
                    "STS-B": lambda: {"pearson": pearsonr(guesses, labels)[0], "spearman": spearmanr(guesses, labels)[0]},
                    "WNLI": lambda: {"accuracy": accuracy_score(labels, guesses)}}[task]()
        assert got == pytest.approx(expected, abs=1e-12), task
        assert list(got) == list(TASKS[task].metrics)
    with pytest.raises(ValueError, match="unknown GLUE task 'QNLI'; expected one of SST-2, CoLA"):
        evaluate_glue("QNLI", [1], [1])
    with pytest.raises(ValueError, match=r"RTE's predictions must be class ids \[0, 1\] \(entailment, not_entailment\); "
                                         r"got \[2\]"):
        evaluate_glue("RTE", [0, 2], [0, 1])
    with pytest.raises(ValueError, match="non-integer values"):
        evaluate_glue("SST-2", [0.5, 1], [0, 1])


def test_porter_stemmer_equals_nltks_on_every_word_of_squad():
    """rouge-score stems with NLTK's Porter stemmer (its default extensions): ours gives the same
    stem for every word of the SQuAD 1.1 dev contexts, and for the algorithm's corner cases."""
    import re

    from nltk.stem.porter import PorterStemmer
    theirs = PorterStemmer()
    with gzip.open(shared_data("squad/dev-v1.1.json.gz"), "rt", encoding="utf-8") as file:
        words = {w for article in json.load(file)["data"] for paragraph in article["paragraphs"]
                 for w in re.sub(r"[^a-z0-9]+", " ", paragraph["context"].lower()).split()}
    words |= set("sses ties died cried skies dying hopping filing conflated generalization logically analogi fully "
                 "hopefulli agreed feed bled happy sky syzygy toy triplicate electriciti revival adoption homologou "
                 "angulariti bowdlerize probate cease controll roll".split())
    different = [(w, metrics.porter_stem(w), theirs.stem(w)) for w in sorted(words) if metrics.porter_stem(w) != theirs.stem(w)]
    assert len(words) > 20_000 and not different, different[:10]


def test_rouge_with_stemming_equals_rouge_score():
    from rouge_score import rouge_scorer
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    pairs = [("The cats were running to the generalizations", "a cat runs to its general connections"),
             ("He hopped and cried", "hopping, he cries")]
    for prediction, reference in pairs:  # word forms differ: only stemming makes them meet
        assert metrics.rouge(prediction, reference, stem=True)["rouge1"]["fmeasure"] > \
            metrics.rouge(prediction, reference)["rouge1"]["fmeasure"]
        assert metrics.rouge(prediction, reference, stem=True)["rouge1"]["fmeasure"] == pytest.approx(
            scorer.score(reference, prediction)["rouge1"].fmeasure, abs=1e-12)
    rng = np.random.default_rng(2)
    for reference in sentences(300):
        prediction = perturbed(reference, rng)
        ours, theirs = metrics.rouge(prediction, reference, stem=True), scorer.score(reference, prediction)
        for kind in ("rouge1", "rouge2", "rougeL"):
            assert (ours[kind]["precision"], ours[kind]["recall"], ours[kind]["fmeasure"]) == pytest.approx(
                tuple(theirs[kind]), abs=1e-12), (kind, prediction, reference)
