"""`minitrans demo span-corruption`: T5's pre-training objective (Raffel et al., 2020, 3.1.4)
with T5's real SentencePiece vocabulary.

About 15% of the pieces are hidden in spans (mean length 3); each span becomes one sentinel in
the input, and the target lists each sentinel followed by the pieces it hid, then a last
sentinel and EOS. The page shows the paper's own example first (the spans of its figure), then
random draws (`random_spans_noise_mask` and `span_corrupt`, the functions T5's pre-training
uses) for it and for the teacher's text, input and target side by side, a colour per span.
"""

from pathlib import Path

import numpy as np

from minitrans.datasets import shared
from minitrans.datasets.span_corruption import random_spans_noise_mask, span_corrupt
from minitrans.demos.page import html_page, script
from minitrans.tokenizers.sentencepiece import T5Tokenizer

SLIDE = "Thank you for inviting me to your party last week."
SLIDE_HIDDEN = ("for", "inviting", "last")  # the words the paper's figure hides
PAPER_NAMES = ["<X>", "<Y>", "<Z>"]  # the paper's figure names its first sentinels so


def t5_tokenizer(vocab=None) -> T5Tokenizer:
    path = Path(vocab) if vocab is not None else shared("t5/spiece.model")
    if path is None:
        raise FileNotFoundError("this demo uses T5's SentencePiece vocabulary: pass --vocab spiece.model, or put it in "
                                "../shared/data/t5/spiece.model")
    return T5Tokenizer.from_file(path)


def words_of_pieces(pieces: list[str]) -> list[int]:
    """For each piece, the index of the word it belongs to (a piece starting with ▁ starts one)."""
    index, words = -1, []
    for piece in pieces:
        if piece.startswith("▁") or index < 0:
            index += 1
        words.append(index)
    return words


def sides(tokenizer: T5Tokenizer, ids: list[int], mask: np.ndarray) -> dict:
    """One draw as the page shows it: for each piece of the text the span hiding it (-1: none),
    and the input and the target as [piece, span, kind] (kind: piece, sentinel or eos; in the
    target, a piece carries the span of the sentinel before it)."""
    inputs, targets = span_corrupt(ids, mask, vocab_size=tokenizer.vocab_size, eos_id=tokenizer.eos_id)

    def shown(side):
        out, span = [], -1
        for i in side:
            if i >= tokenizer.pieces:  # a sentinel: <extra_id_0> is the last id of the vocabulary
                span = tokenizer.vocab_size - 1 - i
                out.append([f"<extra_id_{span}>", span, "sentinel"])
            elif i == tokenizer.eos_id:
                out.append(["</s>", -1, "eos"])
            else:
                out.append([tokenizer.sp.IdToPiece(int(i)), span, "piece"])
        return out

    spans, span, previous = [], -1, False
    for hidden in mask:
        span += bool(hidden and not previous)
        spans.append(span if hidden else -1)
        previous = bool(hidden)
    return {"hidden": spans, "inputs": shown(inputs), "targets": shown(targets)}


def text_data(tokenizer: T5Tokenizer, text: str, draws: int, seed: int, slide: bool) -> dict:
    ids = tokenizer.encode(text, add_eos=False)
    if len(ids) < 2:
        raise ValueError(f"span corruption needs a text of at least 2 pieces; {text!r} has {len(ids)}")
    pieces = [tokenizer.sp.IdToPiece(i) for i in ids]
    rng = np.random.default_rng(seed)
    shown = []
    if slide:
        words = [w.strip(".,").lower() for w in text.split()]
        shown.append(sides(tokenizer, ids, np.array([words[w] in SLIDE_HIDDEN for w in words_of_pieces(pieces)])))
    shown += [sides(tokenizer, ids, random_spans_noise_mask(len(ids), 0.15, 3.0, rng)) for _ in range(draws)]
    return {"text": text, "pieces": pieces, "ids": ids, "draws": shown, "slide": slide}


def build(text: str | None = None, vocab=None, draws: int = 30, seed: int = 0) -> str:
    tokenizer = t5_tokenizer(vocab)
    texts = [text_data(tokenizer, SLIDE, draws, seed, slide=True)]
    if text:
        texts.append(text_data(tokenizer, text, draws, seed, slide=False))
    data = {"texts": texts, "vocab_size": tokenizer.vocab_size, "paper_names": PAPER_NAMES}
    intro = ("T5 learns by restoring spans of hidden text. About 15% of the pieces of T5's SentencePiece vocabulary "
             f"({tokenizer.vocab_size:,} ids, the last 100 of them sentinels) are hidden in spans of mean length 3; "
             "each span becomes one sentinel in the <b>input</b>, and the <b>target</b> gives each sentinel followed "
             "by what it hid, then one last sentinel and the end of sequence. A colour per span; hover a piece for "
             "its id. First the paper's own example, then <b>Draw again</b> for random spans.")
    return html_page("Span corruption: T5's pre-training objective", intro, data, script("span_corruption"),
                     style=STYLE)


STYLE = """
.text-block { margin: 18px 0 26px 0; }
.sides { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
.side h3 { font-size: 15px; margin: 4px 0; }
.piece { display: inline-block; padding: 3px 5px; margin: 2px 1px; border-radius: 4px; background: #eef1f5;
         font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 15px; }
.piece.sentinel { font-weight: bold; color: #fff; }
.piece.eos { background: #444; color: #fff; }
.piece.dim { opacity: 0.35; }
"""
