"""`minitrans demo embeddings`: one vector per word (CBOW) against one vector per word in its
sentence (ELMo), "right side of the street" against "right side of history".

Both models are trained here on the same corpus (WikiText-2 when ../shared/data has it, else
the bundled encyclopedia) and the same word vocabulary. For each sentence, the page places the
word's vector on a plane (the two principal directions of the vectors shown): CBOW's vectors
are one row of its table, the same point whatever the sentence; ELMo's move with the sentence.
"""

import html

import jax.numpy as jnp
import numpy as np

from minitrans.datasets import bundled, shared
from minitrans.datasets.streaming import pad_rows
from minitrans.demos.page import html_page, script
from minitrans.experiments import lineage
from minitrans.tokenizers.words import WordVocabulary

WORD = "right"
SENTENCES = (  # (sentence, sense)
    ("they were on the right side of the street", "direction"),
    ("turn right at the end of the road", "direction"),
    ("the village lies on the right bank of the river", "direction"),
    ("he raised his right hand", "direction"),
    ("they were on the right side of history", "correct, or owed"),
    ("she was right about the result", "correct, or owed"),
    ("women won the right to vote", "correct, or owed"),
    ("it was the right thing to do", "correct, or owed"),
)
LENGTH = 32  # words a sentence is cut to, <s> and </s> included


def plane(vectors: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, 2): coordinates along the two principal directions of the vectors (all at
    the origin when they are all the same)."""
    centred = vectors - vectors.mean(0)
    if np.allclose(centred, 0, atol=1e-7):
        return np.zeros((len(vectors), 2))
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    return centred @ directions[:2].T if directions.shape[0] >= 2 else np.c_[centred @ directions[0], np.zeros(len(vectors))]


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    return unit @ unit.T


def train_models(steps: int, seed: int, log=print):
    corpus = shared("wikitext-2/wiki.valid.tokens.gz") or bundled("facts_corpus.txt")
    sentences = lineage.load_sentences(corpus, max_chars=1_200_000)
    vocab = WordVocabulary.build(sentences, min_count=2, max_size=10_000)
    encoded = lineage.encode(sentences, vocab, 64)
    log(f"{corpus.name}: {len(sentences):,} sentences, vocabulary {len(vocab):,} words; training CBOW, then ELMo, "
        f"{steps} steps each")
    rng = np.random.default_rng(seed)
    contexts, centres = lineage.cbow_examples(encoded, 2)
    cbow, _ = lineage.train_cbow(contexts, centres, len(vocab), steps, rng, seed=seed, log_every=max(1, steps // 2), log=log)
    rows = pad_rows(lineage.encode(sentences, vocab, LENGTH), LENGTH)
    elmo, _ = lineage.train_elmo(rows, len(vocab), steps, rng, seed=seed, log_every=max(1, steps // 2), log=log)
    return vocab, cbow, elmo, corpus.name


def embeddings_data(word: str = WORD, text: str | None = None, steps: int = 300, seed: int = 0) -> dict:
    if text:
        examples = [(s.strip(), "yours") for s in text.split("|") if s.strip()]
    else:
        examples = list(SENTENCES) if word == WORD else []
    if len(examples) < 2:
        raise ValueError(f"the embeddings demo needs at least 2 sentences holding {word!r}: pass --text "
                         "\"first sentence | second sentence | ...\"")
    vocab, cbow, elmo, corpus = train_models(steps, seed)
    word_id = vocab.encode(word)
    if len(word_id) != 1 or word_id[0] == vocab.unk_id:
        raise ValueError(f"{word!r} is not one word of the corpus's vocabulary: choose a word the corpus uses")
    rows = lineage.encode([s for s, _ in examples], vocab, LENGTH)
    missing = [s for (s, _), row in zip(examples, rows) if word_id[0] not in row]
    if missing:
        raise ValueError(f"{word!r} is not among the first {LENGTH - 2} words of: " + "; ".join(map(repr, missing)))
    positions = [row.index(word_id[0]) for row in rows]
    ids = jnp.asarray(pad_rows(rows, LENGTH))
    contextual = np.asarray(elmo.embed(ids))[np.arange(len(rows)), positions]  # (sentences, 256)
    fixed = cbow.word_vectors()[[row[p] for row, p in zip(rows, positions)]]  # (sentences, 100): one row, repeated
    models = {}
    for name, vectors in (("CBOW", fixed), ("ELMo", contextual)):
        models[name] = {"points": np.round(plane(vectors), 4).tolist(),
                        "cosines": np.round(cosine_matrix(vectors), 4).tolist()}
    return {"word": word, "sentences": [s for s, _ in examples], "senses": [sense for _, sense in examples],
            "models": models, "corpus": corpus, "steps": steps, "seed": seed}


def build(word: str = WORD, text: str | None = None, steps: int = 300, seed: int = 0) -> str:
    data = embeddings_data(word, text, steps, seed)
    intro = (f"The word <b>{html.escape(data['word'])}</b> in {len(data['sentences'])} sentences. CBOW (a window of words, one "
             "vector per word) gives it the same vector in every sentence: one point. ELMo (two LSTM language models "
             "reading the whole sentence, one each way) gives it a vector that depends on the sentence. Each panel "
             "places that model's vectors on a plane along their two main directions. Hover a point or a sentence. "
             f"Both models trained here for {data['steps']} steps on {data['corpus']}.")
    return html_page(f"One vector per word, or one per context: \"{data['word']}\"", intro, data,
                     script("embeddings"), style=STYLE)


STYLE = """
.panels { display: flex; flex-wrap: wrap; gap: 28px; }
.panel svg { border: 1px solid #d0d5dd; border-radius: 8px; background: #fff; }
.panel text { font-size: 12px; }
.point { cursor: pointer; }
.point.focus { stroke: #000; stroke-width: 2.5; }
#sentences li { margin: 3px 0; cursor: default; }
#sentences li.focus { background: #fff3c4; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 6px; margin-right: 6px; }
"""
