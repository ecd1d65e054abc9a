"""Reading raw text corpora as documents of sentences, for pre-training.

A corpus is a text file (plain or .gz), a folder of them, or a SQuAD JSON file (its Wikipedia
paragraphs). Documents matter: next-sentence prediction draws its random sentences from other
documents, and held-out text is whole documents the model never trains on.
"""

import gzip
import re
from pathlib import Path

SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")


def read_documents(path: str | Path, max_chars: int | None = None) -> list[list[str]]:
    """A text file (or .gz) as documents of sentences: blank lines separate paragraphs, which
    are grouped into documents of about 20 sentences; WikiText's " = Title = " lines start one."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"corpus {path} does not exist")
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8", errors="replace") as f:
        text = f.read(max_chars) if max_chars else f.read()
    documents, current = [], []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        if re.fullmatch(r"= [^=].* =", paragraph) and current:
            documents.append(current)
            current = []
            continue
        current.extend(s for s in SENTENCE_END.split(paragraph) if len(s.split()) >= 3)
        if len(current) >= 20:
            documents.append(current)
            current = []
    if current:
        documents.append(current)
    if sum(len(d) for d in documents) < 2:
        raise ValueError(f"corpus {path} holds fewer than 2 sentences of 3+ words: nothing to pre-train on")
    return documents


def read_squad_paragraphs(path: Path) -> list[list[str]]:
    """SQuAD JSON (plain or .gz) as a corpus: each article's Wikipedia paragraphs, in sentences."""
    import json

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict) or "data" not in data:
        raise ValueError(f"{path} is not SQuAD JSON: expected an object with a 'data' list of articles")
    return [[s for paragraph in article["paragraphs"] for s in SENTENCE_END.split(paragraph["context"])
             if len(s.split()) >= 3] for article in data["data"]]


def read_corpus(corpus: str | Path, max_chars: int | None = None) -> list[list[str]]:
    """`read_documents` of a file, or of every .txt / .gz file in a folder (sorted by name);
    a SQuAD .json / .json.gz file gives its Wikipedia paragraphs."""
    corpus = Path(corpus)
    if corpus.is_file() and ".json" in corpus.suffixes:
        return read_squad_paragraphs(corpus)
    if corpus.is_dir():
        files = sorted(p for p in corpus.iterdir() if p.suffix in (".txt", ".gz", ".tokens"))
        if not files:
            raise FileNotFoundError(f"folder {corpus} holds no .txt or .gz files")
        return [doc for path in files for doc in read_documents(path, max_chars)]
    return read_documents(corpus, max_chars)


def group_sentences(documents: list[list[str]], max_words: int) -> list[list[str]]:
    """Join consecutive sentences into segments of up to `max_words` words, so that a pair of
    segments fills the sequence as the original BERT's do (a lone long sentence stays whole)."""
    grouped = []
    for doc in documents:
        segments, current = [], []
        for sentence in doc:
            if current and len(" ".join(current + [sentence]).split()) > max_words:
                segments.append(" ".join(current))
                current = []
            current.append(sentence)
        if current:
            segments.append(" ".join(current))
        grouped.append(segments)
    return grouped


def split_documents(documents: list[list[str]], held_out: float = 0.05) -> tuple[list, list]:
    """The last `held_out` fraction of documents (at least 2) for evaluation, the rest to train."""
    n_eval = max(2, int(len(documents) * held_out))
    if len(documents) - n_eval < 2:
        raise ValueError(f"the corpus has {len(documents)} documents; pre-training needs at least 4 "
                         "(2 to train, 2 held out): give it more text")
    return documents[:-n_eval], documents[-n_eval:]
