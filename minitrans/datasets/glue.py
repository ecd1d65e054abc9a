"""GLUE tasks (Wang et al., 2019) from the TSV files `download_glue_data.py` writes:
`<folder>/<TASK>/{train,dev}.tsv` (or .tsv.gz).

    examples = load_glue("SST-2", "dev")          # [GlueExample(text, pair, label), ...]
    TASKS["SST-2"]                                # what the task asks, its labels, its metrics
    evaluate_glue("CoLA", predictions, labels)    # {"matthews_correlation": ...}

Labels are integers (SST-2 1 = positive, CoLA 1 = acceptable, MRPC 1 = paraphrase, RTE
0 = entailment / 1 = not_entailment, WNLI 1 = entailment) or a float 0-5 for STS-B. Quoting
is off: GLUE's sentences contain bare double quotes.
"""

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

from minitrans import metrics
from minitrans.datasets import shared

# task -> (has header, text column, pair column or None, label column)
LAYOUTS = {"SST-2": (True, "sentence", None, "label"), "CoLA": (False, 3, None, 1),
           "MRPC": (True, "#1 String", "#2 String", "Quality"), "RTE": (True, "sentence1", "sentence2", "label"),
           "STS-B": (True, "sentence1", "sentence2", "score"), "WNLI": (True, "sentence1", "sentence2", "label")}
RTE_LABELS = {"entailment": 0, "not_entailment": 1}


@dataclass(frozen=True)
class GlueTask:
    name: str
    question: str  # what a model is asked
    inputs: tuple[str, ...]
    labels: tuple[str, ...]  # label i's name; empty for STS-B's regression
    metrics: tuple[str, ...]  # the official metrics, the first the one GLUE ranks by


TASKS = {t.name: t for t in (
    GlueTask("SST-2", "Stanford Sentiment Treebank: is this movie-review sentence positive?", ("sentence",),
             ("negative", "positive"), ("accuracy",)),
    GlueTask("CoLA", "Corpus of Linguistic Acceptability: is this sentence acceptable English?", ("sentence",),
             ("unacceptable", "acceptable"), ("matthews_correlation",)),
    GlueTask("MRPC", "Microsoft Research Paraphrase Corpus: do the two sentences say the same thing?",
             ("sentence1", "sentence2"), ("not_equivalent", "equivalent"), ("f1", "accuracy")),
    GlueTask("RTE", "Recognizing Textual Entailment: does the first text entail the second?",
             ("sentence1", "sentence2"), ("entailment", "not_entailment"), ("accuracy",)),
    GlueTask("STS-B", "Semantic Textual Similarity Benchmark: how alike in meaning are the two sentences, 0 to 5?",
             ("sentence1", "sentence2"), (), ("pearson", "spearman")),
    GlueTask("WNLI", "Winograd NLI: with the pronoun replaced, does the first sentence entail the second?",
             ("sentence1", "sentence2"), ("not_entailment", "entailment"), ("accuracy",)),
)}
METRICS = {"accuracy": metrics.accuracy, "f1": metrics.f1, "matthews_correlation": metrics.matthews_correlation,
           "pearson": metrics.pearson, "spearman": metrics.spearman}


def evaluate_glue(task: str, predictions, references) -> dict[str, float]:
    """The task's official metrics of `predictions` against `references` (labels as in
    `load_glue`: class ids, or STS-B's scores)."""
    if task not in TASKS:
        raise ValueError(f"unknown GLUE task {task!r}; expected one of {', '.join(TASKS)}")
    spec = TASKS[task]
    if spec.labels:
        allowed = set(range(len(spec.labels)))
        for name, values in (("predictions", predictions), ("references", references)):
            outside = sorted({int(v) for v in values} - allowed) if all(float(v).is_integer() for v in values) else None
            if outside is None or outside:
                raise ValueError(f"{task}'s {name} must be class ids {sorted(allowed)} "
                                 f"({', '.join(spec.labels)}); got {outside or 'non-integer values'}")
    return {name: METRICS[name](predictions, references) for name in spec.metrics}


@dataclass(frozen=True)
class GlueExample:
    text: str
    pair: str | None
    label: int | float


def glue_file(task: str, split: str, folder: str | Path | None = None) -> Path:
    if task not in LAYOUTS:
        raise ValueError(f"unknown GLUE task {task!r}; expected one of {', '.join(LAYOUTS)}")
    root = Path(folder) if folder else shared("glue")
    if root is None:
        raise FileNotFoundError("no GLUE folder given and none at ../shared/data/glue (or $MINITRANS_DATA/glue)")
    for name in (f"{split}.tsv", f"{split}.tsv.gz"):
        if (root / task / name).is_file():
            return root / task / name
    raise FileNotFoundError(f"no {split}.tsv(.gz) for {task} in {root / task}")


def load_glue(task: str, split: str = "train", folder: str | Path | None = None) -> list[GlueExample]:
    """The labelled examples of a GLUE task's train or dev split."""
    path = glue_file(task, split, folder)
    header, text_col, pair_col, label_col = LAYOUTS[task]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    if header:
        names = rows[0]
        missing = [c for c in (text_col, pair_col, label_col) if c is not None and c not in names]
        if missing:
            raise ValueError(f"{path}: expected columns {missing} in the header, got {names}")
        index = {name: i for i, name in enumerate(names)}
        text_col, label_col = index[text_col], index[label_col]
        pair_col = index[pair_col] if pair_col is not None else None
        rows = rows[1:]
    examples = []
    for number, row in enumerate(rows, start=2 if header else 1):
        try:
            raw = row[label_col]
            label = float(raw) if task == "STS-B" else RTE_LABELS[raw] if task == "RTE" else int(raw)
            examples.append(GlueExample(row[text_col], row[pair_col] if pair_col is not None else None, label))
        except (IndexError, KeyError, ValueError):
            raise ValueError(f"{path}, line {number}: not a {task} row ({len(row)} columns: {row[:4]})") from None
        names = TASKS[task].labels
        if not (0 <= label <= 5 if not names else 0 <= label < len(names)):
            raise ValueError(f"{path}, line {number}: label {row[label_col]!r} is outside {task}'s "
                             + (f"labels 0..{len(names) - 1} ({', '.join(names)})" if names else "scores 0 to 5"))
    return examples
