"""Byte-pair encoding by hand (Sennrich et al., 2016), and SentencePiece's conventions: the
course's SentencePiece & BPE lab.

SentencePiece first normalises text with NFKC (compatibility characters fold into one form:
"ﬁ" -> "fi", a full-width "Ａ" -> "A") and writes every space as "▁" (U+2581), so the pieces
hold the spaces and decoding is lossless: join the pieces, turn "▁" back into spaces.

BPE starts from characters and repeats: count every pair of neighbouring symbols over the
corpus (each word weighted by its count), merge the most frequent pair everywhere into one
symbol. The merges, in order, are the model; the symbols are the vocabulary. Ties go to the
pair seen first in the corpus.
"""

import unicodedata
from collections import Counter

SPACE = "\u2581"  # "▁", SentencePiece's visible space


def normalize(text: str) -> str:
    """SentencePiece's default normalisation, NFKC."""
    return unicodedata.normalize("NFKC", text)


def to_pieces_text(text: str) -> str:
    """Text with SentencePiece's "▁" for every space, one "▁" before the first word."""
    return SPACE + normalize(text).replace(" ", SPACE)


def from_pieces(pieces: list[str]) -> str:
    """Pieces back to text: the inverse of `to_pieces_text` (after normalisation)."""
    return "".join(pieces).replace(SPACE, " ").removeprefix(" ")


def word_counts(text: str, end_of_word: str | None = None) -> dict[tuple[str, ...], int]:
    """Each word of `text` as a tuple of its characters, with its count, in order of first
    appearance. Words start with "▁" (SentencePiece's way) or, with `end_of_word` (e.g.
    "</w>", the paper's way), end with that symbol."""
    counts = Counter(normalize(text).split())
    if end_of_word is None:
        return {(SPACE, *word): n for word, n in counts.items()}
    return {(*word, end_of_word): n for word, n in counts.items()}


def pair_counts(words: dict[tuple[str, ...], int]) -> Counter:
    """How often each pair of neighbouring symbols occurs, words weighted by their counts."""
    pairs = Counter()
    for symbols, n in words.items():
        for pair in zip(symbols, symbols[1:]):
            pairs[pair] += n
    return pairs


def merge_symbols(symbols: list, pair: tuple, replacement) -> list:
    """`symbols` with every occurrence of `pair` (left to right, not overlapping) replaced."""
    out, i = [], 0
    while i < len(symbols):
        if i + 1 < len(symbols) and symbols[i] == pair[0] and symbols[i + 1] == pair[1]:
            out.append(replacement)
            i += 2
        else:
            out.append(symbols[i])
            i += 1
    return out


def merge_pair(pair: tuple[str, str], words: dict[tuple[str, ...], int]) -> dict[tuple[str, ...], int]:
    """Every occurrence of `pair` in every word made one symbol."""
    merged = {}
    for symbols, n in words.items():
        joined = tuple(merge_symbols(list(symbols), pair, pair[0] + pair[1]))
        merged[joined] = merged.get(joined, 0) + n
    return merged


def learn_bpe(words: dict[tuple[str, ...], int], num_merges: int) -> tuple[list[tuple[str, str]], dict]:
    """The first `num_merges` merges, and the words split by them (fewer merges when every word
    has become one symbol). Each step merges the most frequent pair; ties go to the pair seen
    first."""
    merges = []
    # BEGIN SOLUTION
    for _ in range(num_merges):
        pairs = pair_counts(words)
        if not pairs:
            break
        best = max(pairs, key=pairs.get)  # the first of the most frequent (Counter keeps first-seen order)
        merges.append(best)
        words = merge_pair(best, words)
    # END SOLUTION
    return merges, words


def apply_bpe(word: tuple[str, ...], merges: list[tuple[str, str]]) -> list[str]:
    """Split a new word: apply the learned merges in the order they were learned."""
    symbols = {tuple(word): 1}
    for pair in merges:
        symbols = merge_pair(pair, symbols)
    return list(next(iter(symbols)))
