"""Byte-level BPE, GPT-2's tokenizer scheme (Radford et al., 2019): byte-pair encoding over
the bytes of UTF-8 text, so every string has an encoding and nothing is ever unknown.

Three ideas on top of BPE (`minitrans.tokenizers.bpe`):

1. Bytes as printable characters. Each of the 256 byte values gets one visible character:
   the printable ASCII and Latin-1 bytes stand for themselves, the others (control bytes,
   the space, ...) take the characters from U+0100 on, in order. A space becomes "Ġ" and a
   newline "Ċ", which is why GPT-2's vocabulary is full of "Ġthe".
2. A pre-tokenizer splits the text before BPE, so no merge crosses it: English contractions
   ('s 't 're 've 'm 'll 'd), runs of letters, runs of digits, runs of other symbols (each
   optionally led by one space), and runs of white space (the last space of a run stays to
   lead the next word).
3. Merges by rank: a word is split into its characters, then the learned merge with the
   lowest rank (the earliest learned) present in it is applied, again and again.

`ByteLevelBPE.train(texts, vocab_size)` learns the merges the way Hugging Face's `tokenizers`
library does (its `BpeTrainer` on its byte-level pre-tokenizer): special tokens take the first
ids, then the 256 byte characters in code-point order, then one id per merge; each step merges
the most frequent pair (words weighted by their counts), ties going to the pair of smallest
ids; training stops at `vocab_size` or when no pair occurs `min_frequency` times. The test
suite checks the merges and ids against that library's on the same corpus
(tests/fixtures/byte_bpe_tokenizers.json, made by reference/byte_bpe_fixture.py).
`save(folder)` and `from_files(vocab.json, merges.txt)` read and write GPT-2's two files.
"""

import heapq
import json
import unicodedata
from collections import Counter
from pathlib import Path

from minitrans.tokenizers.bpe import merge_symbols
from minitrans.tokenizers.wordpiece import check_text, check_texts

CONTRACTIONS = ("'s", "'t", "'re", "'ve", "'m", "'ll", "'d")


def bytes_to_unicode() -> dict[int, str]:
    """Byte value -> the printable character that stands for it."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table, extra = {}, 0
    for byte in range(256):
        if byte in printable:
            table[byte] = chr(byte)
        else:
            table[byte] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR = bytes_to_unicode()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


def kind(character: str) -> str:
    """'space', 'letter', 'number' or 'other', as the pre-tokenizer tells characters apart."""
    if character.isspace():
        return "space"
    category = unicodedata.category(character)
    return {"L": "letter", "N": "number"}.get(category[0], "other")


def pre_tokenize(text: str) -> list[str]:
    """Split text as GPT-2's pre-tokenizer does (the module's docstring, point 2)."""
    pieces, i, n = [], 0, len(text)
    while i < n:
        contraction = next((c for c in CONTRACTIONS if text.startswith(c, i)), None)
        if contraction:
            pieces.append(contraction)
            i += len(contraction)
            continue
        start = i + 1 if text[i] == " " and i + 1 < n and kind(text[i + 1]) != "space" else i
        what = kind(text[start])
        if what != "space":  # [one space] then a run of letters, of digits or of other symbols
            end = start
            while end < n and kind(text[end]) == what:
                end += 1
            pieces.append(text[i:end])
            i = end
            continue
        end = i  # white space: the whole run, but a run followed by a word leaves it its last character
        while end < n and kind(text[end]) == "space":
            end += 1
        if end < n and end - i > 1:
            end -= 1
        pieces.append(text[i:end])
        i = end
    return pieces


def to_byte_chars(piece: str) -> str:
    return "".join(BYTE_TO_CHAR[b] for b in piece.encode("utf-8"))


class ByteLevelBPE:
    """GPT-2's byte-level BPE tokenizer: `vocab` (token -> id) and `merges` (pairs, in rank order)."""

    def __init__(self, vocab: dict[str, int], merges: list[tuple[str, str]], special_tokens: tuple[str, ...] = ()):
        missing = [c for c in BYTE_TO_CHAR.values() if c not in vocab]
        if missing:
            raise ValueError(f"a byte-level vocabulary must hold all 256 byte characters; {len(missing)} are missing "
                             f"(e.g. {missing[0]!r})")
        unknown = [pair for pair in merges if "".join(pair) not in vocab]
        if unknown:
            raise ValueError(f"merge {' '.join(unknown[0])!r} makes a token the vocabulary does not have")
        self.vocab, self.merges, self.special_tokens = dict(vocab), [tuple(m) for m in merges], tuple(special_tokens)
        self.tokens = {i: t for t, i in self.vocab.items()}
        self.ranks = {pair: rank for rank, pair in enumerate(self.merges)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ----------------------------------------------------------------------- training

    @classmethod
    def train(cls, texts, vocab_size: int, min_frequency: int = 2,
              special_tokens: tuple[str, ...] = ("<|endoftext|>",)) -> "ByteLevelBPE":
        """Learn merges from `texts` until the vocabulary holds `vocab_size` tokens (see the
        module's docstring for the order of ids and the choice of each merge)."""
        texts = check_texts(list(texts))
        if vocab_size < len(special_tokens) + 256:
            raise ValueError(f"vocab_size={vocab_size} is smaller than the 256 byte characters and "
                             f"{len(special_tokens)} special tokens")
        counts = Counter(to_byte_chars(piece) for text in texts for piece in pre_tokenize(text))
        names = list(special_tokens) + sorted(BYTE_TO_CHAR.values())
        ids = {name: i for i, name in enumerate(names)}
        words = [[ids[c] for c in word] for word in counts]
        weights = list(counts.values())

        pair_counts, where = Counter(), {}
        for w, (word, weight) in enumerate(zip(words, weights)):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += weight
                where.setdefault(pair, set()).add(w)
        queue = [(-count, pair) for pair, count in pair_counts.items()]
        heapq.heapify(queue)  # the most frequent first, ties to the smallest pair of ids

        merges = []
        while len(names) < vocab_size and queue:
            negative, pair = heapq.heappop(queue)
            if -negative != pair_counts[pair]:  # counted before some merge changed it: put it back, up to date
                if pair_counts[pair] > 0:
                    heapq.heappush(queue, (-pair_counts[pair], pair))
                continue
            if -negative < max(min_frequency, 1):
                break
            token = names[pair[0]] + names[pair[1]]
            if token not in ids:
                ids[token] = len(names)
                names.append(token)
            merges.append((names[pair[0]], names[pair[1]]))
            grown = set()
            for w in where.pop(pair, ()):
                word, weight = words[w], weights[w]
                merged = merge_symbols(word, pair, ids[token])
                if merged == word:
                    continue
                for old in zip(word, word[1:]):
                    pair_counts[old] -= weight
                for new in zip(merged, merged[1:]):
                    pair_counts[new] += weight
                    where.setdefault(new, set()).add(w)
                    if ids[token] in new:
                        grown.add(new)
                words[w] = merged
            pair_counts[pair] = 0
            for new in sorted(grown):
                heapq.heappush(queue, (-pair_counts[new], new))
        return cls(ids, merges, special_tokens)

    # ----------------------------------------------------------------------- encoding

    def bpe(self, word: str) -> list[str]:
        """A pre-tokenized word (byte characters) as tokens: merge by rank until none applies."""
        symbols = list(word)
        while len(symbols) > 1:
            ranked = [(self.ranks.get(pair, len(self.ranks)), i) for i, pair in enumerate(zip(symbols, symbols[1:]))]
            rank, _ = min(ranked)
            if rank == len(self.ranks):
                break
            symbols = merge_symbols(symbols, self.merges[rank], "".join(self.merges[rank]))
        return symbols

    def tokenize(self, text: str) -> list[str]:
        check_text(text)
        return [token for piece in pre_tokenize(text) for token in self.bpe(to_byte_chars(piece))]

    def encode(self, text: str) -> list[int]:
        return [self.vocab[token] for token in self.tokenize(text)]

    def decode(self, ids) -> str:
        out = []
        for i in (int(x) for x in ids):
            if i not in self.tokens:
                raise ValueError(f"id {i} is outside the vocabulary of {self.vocab_size}")
            out.append(self.tokens[i])
        text = "".join(t for t in out if t not in self.special_tokens)
        return bytes(CHAR_TO_BYTE[c] for c in text).decode("utf-8", errors="replace")

    # ----------------------------------------------------------------------- files

    def save(self, folder: str | Path) -> None:
        """vocab.json and merges.txt, as GPT-2's and Hugging Face's tokenizers write them."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), encoding="utf-8")
        lines = ["#version: 0.2"] + [f"{a} {b}" for a, b in self.merges]
        (folder / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def from_files(cls, vocab_file: str | Path, merges_file: str | Path,
                   special_tokens: tuple[str, ...] = ("<|endoftext|>",)) -> "ByteLevelBPE":
        vocab = json.loads(Path(vocab_file).read_text(encoding="utf-8"))
        merges = []
        for number, line in enumerate(Path(merges_file).read_text(encoding="utf-8").splitlines(), 1):
            if not line or line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                raise ValueError(f"{merges_file}, line {number}: expected two tokens separated by one space, got {line!r}")
            merges.append((parts[0], parts[1]))
        return cls(vocab, merges, tuple(t for t in special_tokens if t in vocab))
