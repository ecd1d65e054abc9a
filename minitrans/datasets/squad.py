"""SQuAD (Rajpurkar et al., 2016, 2018): questions about Wikipedia paragraphs, answered by a
span of the paragraph (v1.1), or by nothing when the paragraph holds no answer (v2.0).

    {"version": "1.1", "data": [{"title": ..., "paragraphs": [{"context": ...,
        "qas": [{"id": ..., "question": ..., "answers": [{"text": ..., "answer_start": 42}],
                 "is_impossible": false}]}]}]}

`load_squad` reads that file (plain or gzipped) into one `SquadExample` per question. Every
record is checked; a bad one (no question, no context, an answer whose `answer_start` does not
point at its text, an answerable question with no answers) is reported and skipped, never kept
with a wrong label, and the counts of kept and skipped records are printed.

`write_squad` writes examples back in the same format; `data/mini_squad.json` is the small
set the project writes itself from its synthetic encyclopedia, so demos run offline.
"""

import gzip
import json
import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SquadExample:
    id: str
    question: str
    context: str
    answers: tuple = ()  # ({"text": str, "answer_start": int}, ...); () when unanswerable
    title: str = ""
    is_impossible: bool = False

    @property
    def answer(self) -> str | None:
        """The first gold answer's text (None for an unanswerable question)."""
        return self.answers[0]["text"] if self.answers else None


@dataclass
class LoadReport:
    kept: int = 0
    skipped: list = field(default_factory=list)  # (question id or position, reason)

    def __str__(self):
        return f"kept {self.kept:,} questions, skipped {len(self.skipped):,}"


def read_json(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no SQuAD file at {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError) as error:
        raise ValueError(f"{path} is not SQuAD JSON (a JSON object, plain or gzipped): {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise ValueError(f"{path} is not SQuAD JSON: expected an object with a 'data' list of articles "
                         f"(each {{'title', 'paragraphs': [{{'context', 'qas'}}]}})")
    return data


def check_question(qa, context: str) -> str | None:
    """Why this question record is unusable, or None if it is fine."""
    if not isinstance(qa, dict):
        return "a question record is not an object"
    if not isinstance(qa.get("question"), str) or not qa["question"].strip():
        return "no question text"
    if not context.strip():
        return "the question has no context"
    answers = qa.get("answers", [])
    if not isinstance(answers, list):
        return "'answers' is not a list"
    if not answers and not qa.get("is_impossible", False):
        return "no answers, and not marked is_impossible"
    for answer in answers:
        if not isinstance(answer, dict) or not isinstance(answer.get("text"), str) \
                or not isinstance(answer.get("answer_start"), int):
            return f"malformed answer {answer!r}: expected {{'text': str, 'answer_start': int}}"
        start, text = answer["answer_start"], answer["text"]
        if context[start:start + len(text)] != text:
            return (f"answer_start {start} does not point at the answer {text!r} (the context has "
                    f"{context[start:start + len(text)]!r} there)")
    return None


def load_squad(path: str | Path, verbose: bool = True, report: LoadReport | None = None) -> list[SquadExample]:
    """Every usable question of a SQuAD v1.1 or v2.0 file (.json or .json.gz), in file order."""
    data = read_json(path)
    report = report if report is not None else LoadReport()
    examples = []
    for a, article in enumerate(data["data"]):
        if not isinstance(article, dict) or not isinstance(article.get("paragraphs"), list):
            report.skipped.append((f"article {a}", "not an object with a 'paragraphs' list"))
            continue
        for p, paragraph in enumerate(article["paragraphs"]):
            context = paragraph.get("context") if isinstance(paragraph, dict) else None
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(context, str) or not isinstance(qas, list):
                report.skipped.append((f"article {a} paragraph {p}", "expected {'context': str, 'qas': list}"))
                continue
            for q, qa in enumerate(qas):
                qid = str(qa.get("id", f"article {a} paragraph {p} question {q}")) if isinstance(qa, dict) \
                    else f"article {a} paragraph {p} question {q}"
                problem = check_question(qa, context)
                if problem:
                    report.skipped.append((qid, problem))
                    continue
                examples.append(SquadExample(
                    id=qid, question=qa["question"], context=context,
                    answers=tuple({"text": x["text"], "answer_start": x["answer_start"]} for x in qa["answers"]),
                    title=str(article.get("title", "")), is_impossible=bool(qa.get("is_impossible", False))))
    report.kept = len(examples)
    if verbose:
        print(f"load_squad({path}): {report}")
        for qid, reason in report.skipped[:5]:
            print(f"  skipped {qid}: {reason}")
        if len(report.skipped) > 5:
            print(f"  ... and {len(report.skipped) - 5} more")
    seen: dict[str, int] = {}
    for example in examples:
        seen[example.id] = seen.get(example.id, 0) + 1
    repeated = [f"{qid} ({n} times)" for qid, n in seen.items() if n > 1]
    if repeated:
        raise ValueError(f"{path}: question ids must be unique (a prediction is kept per id), but "
                         f"{len(repeated):,} repeat: {', '.join(repeated[:3])}")
    if not examples:
        first = f"; the first skipped: {report.skipped[0][0]}: {report.skipped[0][1]}" if report.skipped else ""
        raise ValueError(f"{path} holds no usable question ({len(report.skipped):,} records skipped{first}): expected "
                         "SQuAD JSON, {'data': [{'title', 'paragraphs': [{'context', 'qas': [{'id', 'question', "
                         "'answers'}]}]}]}")
    return examples


def to_json(examples: list[SquadExample], version: str = "1.1") -> dict:
    """SQuAD JSON for examples (grouped by title and context, in order)."""
    articles: dict[str, dict[str, list]] = {}
    for ex in examples:
        paragraphs = articles.setdefault(ex.title, {})
        qa = {"id": ex.id, "question": ex.question, "answers": [dict(a) for a in ex.answers]}
        if version.startswith("2"):
            qa["is_impossible"] = ex.is_impossible
        paragraphs.setdefault(ex.context, []).append(qa)
    return {"version": version, "data": [
        {"title": title, "paragraphs": [{"context": c, "qas": qas} for c, qas in paragraphs.items()]}
        for title, paragraphs in articles.items()]}


def write_squad(examples: list[SquadExample], path: str | Path, version: str = "1.1") -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(examples, version), indent=1, ensure_ascii=False) + "\n")
    return path


def mini_squad(n_countries: int = 120, seed: int = 0) -> list[SquadExample]:
    """A SQuAD-format set about the synthetic encyclopedia's countries (minitrans.datasets.synthetic):
    each country's description is a context, its eight questions are answered by spans of it,
    and one question about another country's capital is marked unanswerable (SQuAD 2.0 style)."""
    import numpy as np

    from minitrans.datasets.synthetic import describe, make_countries, questions

    rng = np.random.default_rng(seed + 2)
    countries = make_countries(n_countries, seed)
    examples = []
    for i, country in enumerate(countries):
        context = " ".join(describe(country, rng))
        for j, (question, answer) in enumerate(questions(country)):
            found = re.search(rf"\b{re.escape(answer)}\b", context)
            if found is None:
                continue
            start = found.start()
            examples.append(SquadExample(f"{country.name.lower()}-{j}", question, context,
                                         ({"text": answer, "answer_start": start},), title=country.name))
        other = countries[(i + 7) % len(countries)]
        examples.append(SquadExample(f"{country.name.lower()}-none", f"What is the capital of {other.name}?",
                                     context, (), title=country.name, is_impossible=True))
    return examples


if __name__ == "__main__":
    import sys

    target = Path(sys.argv[1] if len(sys.argv) > 1 else "data/mini_squad.json")
    print(f"wrote {write_squad(mini_squad(), target, version='2.0')}")
