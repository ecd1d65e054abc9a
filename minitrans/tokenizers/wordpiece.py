"""BERT's WordPiece tokenizer, from text to ids with character offsets, and back.

The pipeline, in the order the reference (`tokenizers`' BertNormalizer, BertPreTokenizer,
WordPiece and the [CLS]/[SEP] template) applies it:

1. special tokens written in the text ("[MASK]") are cut out first and kept whole;
2. normalise: drop control characters, turn white space into " ", put spaces around CJK
   characters, and for an uncased vocabulary strip accents (NFD, drop non-spacing marks) and
   lower-case. Every normalised character remembers which original characters it came from,
   so every token gets offsets into the original text (question answering needs them);
3. split on white space and punctuation;
4. WordPiece: greedy longest match first, continuations prefixed "##", [UNK] for a word with
   no match or longer than 100 characters ("playing" -> "play", "##ing").
"""

import bisect
import functools
import json
import unicodedata
import warnings
from dataclasses import dataclass, field
from pathlib import Path

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
# Unicode's White_Space characters, as Rust's char::is_whitespace sees them
WHITE_SPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {chr(c) for c in range(0x2000, 0x200B)}


# Code points that Python's Unicode tables assign but the reference's older tables do not: the
# reference treats them as unassigned (Cn), so we do too. Found by encoding every code point
# with both tokenizers (reference/bert_fixtures.py --sweep prints the differing code points).
NEWER_THAN_REFERENCE: tuple[tuple[int, int], ...] = (
    (0x061D, 0x061D), (0x07FD, 0x07FD), (0x0890, 0x0891), (0x0898, 0x089F), (0x08CA, 0x08E2),
    (0x09FD, 0x09FE), (0x0A76, 0x0A76), (0x0AFA, 0x0AFF), (0x0B55, 0x0B55), (0x0C04, 0x0C04),
    (0x0C3C, 0x0C3C), (0x0C77, 0x0C77), (0x0C84, 0x0C84), (0x0D00, 0x0D00), (0x0D3B, 0x0D3C),
    (0x0D81, 0x0D81), (0x0EBA, 0x0EBA), (0x180F, 0x180F),
    (0x1885, 0x1886), (0x1ABF, 0x1ACE), (0x1B7D, 0x1B7E), (0x1DF6, 0x1DFB), (0x2E43, 0x2E4F),
    (0x2E52, 0x2E5D), (0xA82C, 0xA82C), (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD),
    (0x10D24, 0x10D27), (0x10EAB, 0x10EAD), (0x10F46, 0x10F50), (0x10F55, 0x10F59), (0x10F82,
    0x10F89), (0x11070, 0x11070), (0x11073, 0x11074), (0x110C2, 0x110C2), (0x110CD, 0x110CD),
    (0x111CF, 0x111CF), (0x1123E, 0x1123E), (0x1133B, 0x1133B), (0x11438,
    0x1143F), (0x11442, 0x11444), (0x11446, 0x11446), (0x1144B, 0x1144F), (0x1145A, 0x1145B),
    (0x1145D, 0x1145E), (0x11660, 0x1166C), (0x116B9, 0x116B9), (0x1182F, 0x11837), (0x11839,
    0x1183B), (0x1193B, 0x1193C), (0x1193E, 0x1193E), (0x11943, 0x11946), (0x119D4, 0x119D7),
    (0x119DA, 0x119DB), (0x119E0, 0x119E0), (0x119E2, 0x119E2), (0x11A01, 0x11A0A), (0x11A33,
    0x11A38), (0x11A3B, 0x11A47), (0x11A51, 0x11A56), (0x11A59, 0x11A5B), (0x11A8A, 0x11A96),
    (0x11A98, 0x11A9C), (0x11A9E, 0x11AA2), (0x11C30, 0x11C36), (0x11C38, 0x11C3D), (0x11C3F,
    0x11C3F), (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11C92, 0x11CA7), (0x11CAA, 0x11CB0),
    (0x11CB2, 0x11CB3), (0x11CB5, 0x11CB6), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A), (0x11D3C,
    0x11D3D), (0x11D3F, 0x11D45), (0x11D47, 0x11D47), (0x11D90, 0x11D91), (0x11D95, 0x11D95),
    (0x11D97, 0x11D97), (0x11EF3, 0x11EF4), (0x11EF7, 0x11EF8), (0x11FFF, 0x11FFF), (0x12FF1,
    0x12FF2), (0x13430, 0x13438), (0x16E97, 0x16E9A), (0x16F4F, 0x16F4F), (0x16FE2, 0x16FE2),
    (0x16FE4, 0x16FE4), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1E000, 0x1E006), (0x1E008,
    0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A), (0x1E130, 0x1E136),
    (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1E944, 0x1E94A), (0x1E95E, 0x1E95F),
)


NEWER_STARTS = [low for low, _ in NEWER_THAN_REFERENCE]
# Characters whose category changed since the reference's tables: there, U+166D and U+111C9 are
# punctuation (Po) and U+1734 a non-spacing mark (Mn).
CATEGORY_IN_REFERENCE = {0x166D: "Po", 0x1734: "Mn", 0x111C9: "Po"}


@functools.lru_cache(maxsize=1 << 16)
def category(char: str) -> str:
    """The Unicode general category of `char`, as the reference tokenizer's tables give it."""
    code = ord(char)
    if code in CATEGORY_IN_REFERENCE:
        return CATEGORY_IN_REFERENCE[code]
    i = bisect.bisect_right(NEWER_STARTS, code) - 1
    if i >= 0 and code <= NEWER_THAN_REFERENCE[i][1]:
        return "Cn"
    return unicodedata.category(char)


@functools.lru_cache(maxsize=1 << 16)
def is_control(char: str) -> bool:
    """Categories Cc, Cf, Co, Cs (control, format, private use), except tab, newline and
    carriage return. Unassigned code points (Cn) are kept, as the reference keeps them."""
    return char not in "\t\n\r" and category(char) in ("Cc", "Cf", "Co", "Cs")


@functools.lru_cache(maxsize=1 << 16)
def is_punctuation(char: str) -> bool:
    """ASCII punctuation (so "$", "+", "^", "`" count) or a Unicode punctuation category (P*)."""
    code = ord(char)
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or 123 <= code <= 126:
        return True
    return category(char).startswith("P")


def is_chinese(char: str) -> bool:
    """The CJK Unified Ideographs blocks BERT isolates (not Japanese kana or Korean hangul)."""
    code = ord(char)
    return any(low <= code <= high for low, high in (
        (0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F),
        (0x2B740, 0x2B81F), (0x2B920, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)))


@functools.lru_cache(maxsize=1 << 16)
def normalize_char(char: str, lowercase: bool, strip_accents: bool) -> str:
    """What BERT's normaliser makes of one character: "" (dropped), " " (white space), the
    character spaced out (Chinese), or the character lower-cased and without accents."""
    if char in "\x00\ufffd" or is_control(char):
        return ""
    if char in WHITE_SPACE:
        return " "
    spaced = is_chinese(char)
    if strip_accents:
        char = "".join(c for c in unicodedata.normalize("NFD", char) if category(c) != "Mn")
    if lowercase:
        char = "".join(c.lower() for c in char)  # per character: no final-sigma rule
    return f" {char} " if spaced else char


def normalize(text: str, lowercase: bool, strip_accents: bool | None = None) -> list[tuple[str, int]]:
    """BERT's normaliser as (character, index of the original character it came from) pairs.
    Each character is normalised on its own, so each is worked out once (normalize_char)."""
    strip_accents = lowercase if strip_accents is None else strip_accents
    return [(c, index) for index, char in enumerate(text) for c in normalize_char(char, lowercase, strip_accents)]


def pre_tokenize(chars: list[tuple[str, int]]) -> list[list[tuple[str, int]]]:
    """Split normalised characters into words: white space separates, punctuation stands alone."""
    words, current = [], []
    for char, index in chars:
        if char in WHITE_SPACE:
            if current:
                words.append(current)
            current = []
        elif is_punctuation(char):
            if current:
                words.append(current)
            words.append([(char, index)])
            current = []
        else:
            current.append((char, index))
    if current:
        words.append(current)
    return words


def tokenize_word(word: str, vocab: dict[str, int] | set[str], unk_token: str = "[UNK]",
                  max_chars: int = 100) -> list[str]:
    """WordPiece on one word: repeatedly take the longest prefix of what is left that is in the
    vocabulary ("##" in front when it does not start the word). No match: the whole word is
    [UNK]. tokenize_word("unaffable") -> ["un", "##aff", "##able"]."""
    # BEGIN SOLUTION
    if len(word) > max_chars:
        return [unk_token]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return [unk_token]
        pieces.append(piece)
        start = end
    return pieces
    # END SOLUTION


@dataclass
class Encoding:
    """One encoded text (or pair): ids, segment ids, offsets into the original text(s)."""
    ids: list[int] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    type_ids: list[int] = field(default_factory=list)
    offsets: list[tuple[int, int]] = field(default_factory=list)  # (start, end) characters; (0, 0) special
    special_tokens_mask: list[int] = field(default_factory=list)
    attention_mask: list[int] = field(default_factory=list)
    sequence_ids: list[int | None] = field(default_factory=list)  # 0 = text, 1 = pair, None = special

    def __len__(self):
        return len(self.ids)


def truncated_lengths(n1: int, n2: int, budget: int) -> tuple[int, int]:
    """Longest-first truncation of a pair to `budget` tokens, as the reference computes it:
    only the longer one shrinks while it can; otherwise both get half (the longer the odd one)."""
    if n1 + n2 <= budget:
        return n1, n2
    short, long_ = sorted((n1, n2))
    long_ = short if short > budget else max(short, budget - short)
    if short + long_ > budget:
        short, long_ = budget // 2, budget // 2 + budget % 2
    return (short, long_) if n1 <= n2 else (long_, short)


def check_text(text, name: str = "text") -> str:
    """`text` if it is a str; a clear error for what a tokenizer cannot take."""
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(f"{name} is bytes: decode it to text first (e.g. {name}.decode('utf-8'))")
    if text is None:
        raise TypeError(f"{name} is None: expected text (a str)")
    raise TypeError(f"{name} must be text (a str), got {type(text).__name__} {str(text)[:40]!r}")


def check_texts(texts, name: str = "texts") -> list[str]:
    """One text or a non-empty list of texts, as a list."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (list, tuple)):
        if not texts:
            raise ValueError(f"{name} is an empty list: nothing to encode")
        return [check_text(t, f"{name}[{i}]") for i, t in enumerate(texts)]
    return [check_text(texts, name)]


def warn_if_too_long(length: int, limit: int | None, what: str = "the text") -> None:
    if limit is not None and length > limit:
        warnings.warn(f"{what} has {length} tokens, more than the model's {limit} positions: pass "
                      f"truncation=True and max_length={limit}, or the model will refuse it", stacklevel=3)


class WordPieceTokenizer:
    """Text -> WordPiece ids for BERT, with offsets; `from_pretrained(folder)` reads vocab.txt.
    `model_max_length` (read from the folder's config.json) is the model's number of positions:
    a longer encoding without truncation is warned about."""

    def __init__(self, vocab: dict[str, int], *, lowercase: bool = True, strip_accents: bool | None = None,
                 max_input_chars_per_word: int = 100, model_max_length: int | None = None):
        missing = [t for t in SPECIAL_TOKENS if t not in vocab]
        if missing:
            raise ValueError(f"the vocabulary lacks the special token(s) {', '.join(missing)}; "
                             f"a BERT vocabulary needs {', '.join(SPECIAL_TOKENS)}")
        self.vocab = vocab
        self.id_to_token = {i: t for t, i in vocab.items()}
        self.lowercase, self.strip_accents = lowercase, strip_accents
        self.max_input_chars_per_word = max_input_chars_per_word
        self.special = {t: vocab[t] for t in SPECIAL_TOKENS}
        self.pad_id, self.unk_id, self.cls_id, self.sep_id, self.mask_id = (vocab[t] for t in SPECIAL_TOKENS)
        self.cache: dict[str, list[tuple[str, int, int]]] = {}
        self.model_max_length = model_max_length

    # ------------------------------------------------------------------ loading

    @classmethod
    def from_vocab_file(cls, path: str | Path, **kwargs) -> "WordPieceTokenizer":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"vocabulary file {path} does not exist")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError as error:
            raise ValueError(f"{path} is not a UTF-8 vocab.txt (one token per line): {error}") from None
        vocab: dict[str, int] = {}
        for line_number, token in enumerate(lines, 1):
            token = token.rstrip("\n")
            if not token:
                raise ValueError(f"{path}:{line_number}: empty line; vocab.txt holds one token per line")
            if token in vocab:
                raise ValueError(f"{path}:{line_number}: token {token!r} appears twice")
            vocab[token] = len(vocab)
        return cls(vocab, **kwargs)

    @classmethod
    def from_pretrained(cls, folder: str | Path) -> "WordPieceTokenizer":
        """vocab.txt, with lower-casing read from tokenizer_config.json (default: uncased)."""
        folder = Path(folder)
        settings = {}
        config = folder / "tokenizer_config.json"
        if config.is_file():
            values = json.loads(config.read_text())
            settings["lowercase"] = bool(values.get("do_lower_case", True))
            settings["strip_accents"] = values.get("strip_accents")
        model_config = folder / "config.json"
        if model_config.is_file():
            settings["model_max_length"] = json.loads(model_config.read_text()).get("max_position_embeddings")
        return cls.from_vocab_file(folder / "vocab.txt", **settings)

    def save_vocabulary(self, folder: str | Path) -> Path:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        tokens = sorted(self.vocab, key=self.vocab.get)
        (folder / "vocab.txt").write_text("\n".join(tokens) + "\n", encoding="utf-8")
        (folder / "tokenizer_config.json").write_text(json.dumps(
            {"do_lower_case": self.lowercase, "strip_accents": self.strip_accents,
             "tokenizer_class": "BertTokenizer"}, indent=2) + "\n")
        return folder / "vocab.txt"

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # ------------------------------------------------------------------ one text

    def split_special(self, text: str) -> list[tuple[int, int, bool]]:
        """(start, end, is_special) segments: special tokens in the text are kept whole."""
        segments, start, i = [], 0, 0
        while i < len(text):
            match = next((t for t in SPECIAL_TOKENS if text.startswith(t, i)), None) if text[i] == "[" else None
            if match:
                if i > start:
                    segments.append((start, i, False))
                segments.append((i, i + len(match), True))
                i = start = i + len(match)
            else:
                i += 1
        if start < len(text):
            segments.append((start, len(text), False))
        return segments

    def tokenize_with_offsets(self, text: str) -> list[tuple[str, int, int]]:
        """(token, start, end) for every WordPiece token of `text`, offsets in characters.
        The last few thousand texts are remembered: SQuAD asks many questions of one context."""
        check_text(text)
        if text in self.cache:
            return self.cache[text]
        if len(self.cache) >= 4096:
            self.cache.clear()
        self.cache[text] = out = self.tokenize_uncached(text)
        return out

    def tokenize_uncached(self, text: str) -> list[tuple[str, int, int]]:
        out = []
        for start, end, special in self.split_special(text):
            if special:
                out.append((text[start:end], start, end))
                continue
            chars = normalize(text[start:end], self.lowercase, self.strip_accents)
            for word in pre_tokenize(chars):
                pieces = tokenize_word("".join(c for c, _ in word), self.vocab, "[UNK]",
                                       self.max_input_chars_per_word)
                if pieces == ["[UNK]"]:
                    out.append(("[UNK]", start + word[0][1], start + word[-1][1] + 1))
                    continue
                position = 0
                for piece in pieces:
                    length = len(piece) - (2 if piece.startswith("##") and position > 0 else 0)
                    first, last = word[position], word[position + length - 1]
                    out.append((piece, start + first[1], start + last[1] + 1))
                    position += length
        return out

    def tokenize(self, text: str) -> list[str]:
        return [token for token, _, _ in self.tokenize_with_offsets(text)]

    def convert_tokens_to_ids(self, tokens: list[str]) -> list[int]:
        return [self.vocab.get(t, self.unk_id) for t in tokens]

    # ------------------------------------------------------------------ encode

    def encode(self, text: str, pair: str | None = None, *, add_special_tokens: bool = True,
               max_length: int | None = None, truncation: str | bool = False,
               padding: str | bool = False) -> Encoding:
        """[CLS] text [SEP] (pair [SEP]) with type ids 0 then 1.

        truncation: False, "longest_first" (True) or "only_second", to `max_length` tokens.
        padding: False, "max_length" (to max_length) or True/"longest" (no-op for one text).
        """
        first = self.tokenize_with_offsets(check_text(text))
        second = self.tokenize_with_offsets(check_text(pair, "pair")) if pair is not None else None
        if not truncation:
            warn_if_too_long(len(first) + (len(second) if second is not None else 0) + 3, self.model_max_length)
        if truncation:
            if max_length is None:
                raise ValueError("truncation needs max_length")
            extra = (3 if second is not None else 2) if add_special_tokens else 0
            budget = max_length - extra
            if budget < 0:
                raise ValueError(f"max_length={max_length} leaves no room for the {extra} special tokens")
            if second is None:
                first = first[:budget]
            elif truncation in (True, "longest_first"):
                n1, n2 = truncated_lengths(len(first), len(second), budget)
                first, second = first[:n1], second[:n2]
            elif truncation == "only_second":
                to_remove = len(first) + len(second) - budget
                if to_remove > 0:
                    if len(second) <= to_remove:
                        raise ValueError(f"the first text has {len(first)} tokens: not one token of the "
                                         f"second fits in max_length={max_length}; shorten the first text "
                                         "or raise max_length")
                    second = second[: len(second) - to_remove]
            else:
                raise ValueError(f"truncation must be False, 'longest_first' or 'only_second', got {truncation!r}")
        enc = Encoding()

        def add(token, start, end, type_id, sequence, special):
            enc.tokens.append(token)
            enc.ids.append(self.vocab.get(token, self.unk_id))
            enc.type_ids.append(type_id)
            enc.offsets.append((start, end))
            enc.special_tokens_mask.append(int(special))
            enc.attention_mask.append(1)
            enc.sequence_ids.append(sequence)

        if add_special_tokens:
            add("[CLS]", 0, 0, 0, None, True)
        for token, start, end in first:
            add(token, start, end, 0, 0, False)
        if add_special_tokens:
            add("[SEP]", 0, 0, 0, None, True)
        if second is not None:
            for token, start, end in second:
                add(token, start, end, 1, 1, False)
            if add_special_tokens:
                add("[SEP]", 0, 0, 1, None, True)
        if padding == "max_length":
            if max_length is None:
                raise ValueError("padding='max_length' needs max_length")
            self.pad(enc, max_length)
        return enc

    def pad(self, enc: Encoding, length: int) -> Encoding:
        for _ in range(length - len(enc)):
            enc.tokens.append("[PAD]")
            enc.ids.append(self.pad_id)
            enc.type_ids.append(0)
            enc.offsets.append((0, 0))
            enc.special_tokens_mask.append(1)
            enc.attention_mask.append(0)
            enc.sequence_ids.append(None)
        return enc

    def __call__(self, texts: str | list[str], pairs: str | list[str] | None = None, *,
                 max_length: int | None = None, truncation: str | bool = False,
                 padding: str | bool = True) -> dict:
        """Encode a batch into numpy arrays input_ids, token_type_ids, attention_mask, padded to the
        longest (padding=True) or to max_length (padding="max_length")."""
        import numpy as np

        texts = check_texts(texts)
        pairs = check_texts(pairs, "pairs") if pairs is not None else None
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"{len(texts)} texts but {len(pairs)} pairs")
        encodings = [self.encode(t, pairs[i] if pairs is not None else None, max_length=max_length,
                                 truncation=truncation) for i, t in enumerate(texts)]
        length = max_length if padding == "max_length" else max(len(e) for e in encodings)
        for e in encodings:
            if len(e) > length:
                raise ValueError(f"an encoding has {len(e)} tokens, more than max_length={length}; "
                                 "pass truncation='longest_first'")
            self.pad(e, length)
        return {"input_ids": np.array([e.ids for e in encodings], np.int32),
                "token_type_ids": np.array([e.type_ids for e in encodings], np.int32),
                "attention_mask": np.array([e.attention_mask for e in encodings], np.int32),
                "encodings": encodings}

    # ------------------------------------------------------------------ decode

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Ids back to text: "##" pieces glue to the previous token; spaces before punctuation
        and in contractions are cleaned up as the reference does."""
        tokens = []
        for i in ids:
            token = self.id_to_token.get(int(i))
            if token is None:
                raise ValueError(f"id {int(i)} is outside the vocabulary of {self.vocab_size} tokens")
            if skip_special_tokens and token in self.special:
                continue
            tokens.append(token)
        text = " ".join(tokens).replace(" ##", "")
        text = text[2:] if text.startswith("##") else text
        for before, after in ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
                              (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")):
            text = text.replace(before, after)
        return text
