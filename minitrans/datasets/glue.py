"""GLUE tasks (Wang et al., 2019) from the TSV files `download_glue_data.py` writes:
`<folder>/<TASK>/{train,dev}.tsv` (or .tsv.gz).

    examples = load_glue("SST-2", "dev")          # [GlueExample(text, pair, label), ...]

Labels are integers (SST-2 1 = positive, CoLA 1 = acceptable, MRPC 1 = paraphrase, RTE
0 = entailment / 1 = not_entailment, WNLI 1 = entailment) or a float 0-5 for STS-B. Quoting
is off: GLUE's sentences contain bare double quotes.
"""

import csv
import gzip
from dataclasses import dataclass
from pathlib import Path

from minitrans.datasets import shared

# task -> (has header, text column, pair column or None, label column)
LAYOUTS = {"SST-2": (True, "sentence", None, "label"), "CoLA": (False, 3, None, 1),
           "MRPC": (True, "#1 String", "#2 String", "Quality"), "RTE": (True, "sentence1", "sentence2", "label"),
           "STS-B": (True, "sentence1", "sentence2", "score"), "WNLI": (True, "sentence1", "sentence2", "label")}
RTE_LABELS = {"entailment": 0, "not_entailment": 1}


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
    return examples
