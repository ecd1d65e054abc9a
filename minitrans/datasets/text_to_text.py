"""T5's text-to-text formats: every task becomes "prefix: input" -> "target text"
(Raffel et al., 2020, appendix D), so one model and one loss serve them all.

    translate English to German: That is good.        -> Das ist gut.
    mnli premise: ... hypothesis: ...                  -> entailment | neutral | contradiction
    question: Q context: C                             -> the answer
    summarize: ...                                     -> the summary
    cola sentence: ...                                 -> acceptable | unacceptable
    stsb sentence1: ... sentence2: ...                 -> a similarity such as 3.8 (steps of 0.2)
"""

MNLI_LABELS = ("entailment", "neutral", "contradiction")


def clean(text: str, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{what} must be a non-empty string, got {text!r}")
    return " ".join(text.split())


def translate(text: str, source: str = "English", target: str = "German") -> str:
    return f"translate {source} to {target}: {clean(text, 'text')}"


def mnli(premise: str, hypothesis: str) -> str:
    return f"mnli premise: {clean(premise, 'premise')} hypothesis: {clean(hypothesis, 'hypothesis')}"


def mnli_target(label: int | str) -> str:
    if isinstance(label, str):
        if label not in MNLI_LABELS:
            raise ValueError(f"MNLI label {label!r}: expected one of {MNLI_LABELS}")
        return label
    return MNLI_LABELS[label]


def question_answering(question: str, context: str) -> str:
    """Context-based QA: the answer is to be found in the context."""
    return f"question: {clean(question, 'question')} context: {clean(context, 'context')}"


def closed_book(question: str) -> str:
    """Closed-book QA: the answer must come from what the model stored in pre-training."""
    return f"question: {clean(question, 'question')}"


def summarize(text: str) -> str:
    return f"summarize: {clean(text, 'text')}"


def cola(sentence: str) -> str:
    return f"cola sentence: {clean(sentence, 'sentence')}"


def cola_target(label: int) -> str:
    return "acceptable" if int(label) == 1 else "unacceptable"


def stsb(sentence1: str, sentence2: str) -> str:
    return f"stsb sentence1: {clean(sentence1, 'sentence1')} sentence2: {clean(sentence2, 'sentence2')}"


def stsb_target(score: float) -> str:
    """T5 turns STS-B's regression into classification: round to the nearest 0.2."""
    if not 0.0 <= float(score) <= 5.0:
        raise ValueError(f"an STS-B score is between 0 and 5, got {score}")
    return f"{round(float(score) * 5) / 5:.1f}"


def sst2(sentence: str) -> str:
    return f"sst2 sentence: {clean(sentence, 'sentence')}"


def sst2_target(label: int) -> str:
    return "positive" if int(label) == 1 else "negative"


# GLUE as text: T5's prefix is the task's name without the hyphen ("sst2", "stsb"); the inputs are
# named as the task names them; the target is the label's name (STS-B: the score as text).
GLUE_PREFIXES = {"SST-2": "sst2", "CoLA": "cola", "MRPC": "mrpc", "RTE": "rte", "STS-B": "stsb", "WNLI": "wnli"}


def glue_text(task: str, text: str, pair: str | None = None) -> str:
    """A GLUE example's input: "rte sentence1: ... sentence2: ..."."""
    from minitrans.datasets.glue import TASKS

    if task not in GLUE_PREFIXES:
        raise ValueError(f"unknown GLUE task {task!r}; expected one of {', '.join(GLUE_PREFIXES)}")
    names = TASKS[task].inputs
    if (pair is None) != (len(names) == 1):
        raise ValueError(f"{task} takes {len(names)} text(s) ({', '.join(names)})")
    parts = [f"{name}: {clean(value, name)}" for name, value in zip(names, (text, pair))]
    return f"{GLUE_PREFIXES[task]} " + " ".join(parts)


def glue_target(task: str, label: int | float) -> str:
    """A GLUE label as T5's target text: the label's name, or STS-B's score to the nearest 0.2."""
    from minitrans.datasets.glue import TASKS

    if task == "STS-B":
        return stsb_target(label)
    names = TASKS[task].labels
    if int(label) != label or not 0 <= int(label) < len(names):
        raise ValueError(f"{task}'s labels are 0..{len(names) - 1} ({', '.join(names)}), got {label}")
    return names[int(label)]


def glue_label(task: str, text: str) -> int | float | None:
    """The label T5 generated as `text`, or None when it is none of the task's (counted wrong)."""
    from minitrans.datasets.glue import TASKS

    text = text.strip()
    if task == "STS-B":
        try:
            value = float(text)
        except ValueError:
            return None
        return value if 0.0 <= value <= 5.0 else None
    names = TASKS[task].labels
    return names.index(text) if text in names else None
