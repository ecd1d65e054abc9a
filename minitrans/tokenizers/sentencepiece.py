"""T5's tokenizer: a SentencePiece unigram model (the `sentencepiece` package) with T5's
conventions: <pad> = 0, </s> = 1, <unk> = 2, and 100 sentinels <extra_id_0> ... <extra_id_99>
appended after the model's pieces, <extra_id_0> being the last id (as the reference tokenizer
numbers them: with T5's 32,000 pieces, <extra_id_0> = 32099).

`T5Tokenizer.from_file("spiece.model")` loads an existing model; `T5Tokenizer.train(texts,
vocab_size)` learns a new one from a corpus.
"""

import re
import tempfile
from pathlib import Path

from minitrans.tokenizers.wordpiece import check_text, check_texts

SENTINEL = re.compile(r"<extra_id_(\d+)>")


class T5Tokenizer:
    def __init__(self, model_file: str | Path, extra_ids: int = 100):
        import sentencepiece as spm

        path = Path(model_file)
        if not path.is_file():
            raise FileNotFoundError(f"SentencePiece model {path} does not exist")
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.Load(str(path))
        except Exception as error:  # sentencepiece raises OSError/RuntimeError on bad files
            raise ValueError(f"{path} is not a SentencePiece model: {error}") from None
        self.path, self.extra_ids = path, extra_ids
        self.pieces = self.sp.GetPieceSize()
        expected = {"<pad>": 0, "</s>": 1, "<unk>": 2}
        found = {piece: self.sp.PieceToId(piece) for piece in expected}
        if found != expected:
            raise ValueError(f"{path} does not follow T5's conventions: expected ids {expected}, got {found}")
        self.pad_id, self.eos_id, self.unk_id = 0, 1, 2

    @classmethod
    def from_file(cls, model_file: str | Path, extra_ids: int = 100) -> "T5Tokenizer":
        return cls(model_file, extra_ids)

    @classmethod
    def train(cls, texts, vocab_size: int, model_prefix: str | Path | None = None, extra_ids: int = 100,
              character_coverage: float = 1.0, max_piece_length: int = 16,
              split_digits: bool = False) -> "T5Tokenizer":
        """Learn a unigram model of `vocab_size - extra_ids` pieces; sentinels take the rest.
        No piece is longer than `max_piece_length` characters (SentencePiece's default 16);
        `split_digits` spells numbers digit by digit."""
        import sentencepiece as spm

        texts = [t for t in texts if t.strip()]
        if not texts:
            raise ValueError("the corpus holds no text: cannot train a SentencePiece model")
        if vocab_size <= extra_ids + 3:
            raise ValueError(f"vocab_size={vocab_size} leaves no room beside {extra_ids} sentinels and 3 specials")
        folder = Path(model_prefix).parent if model_prefix else Path(tempfile.mkdtemp())
        prefix = str(model_prefix) if model_prefix else str(folder / "spiece")
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(texts), model_prefix=prefix, vocab_size=vocab_size - extra_ids,
            model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1, character_coverage=character_coverage,
            max_sentencepiece_length=max_piece_length, split_digits=split_digits, hard_vocab_limit=False,
            minloglevel=2)
        return cls(prefix + ".model", extra_ids)

    @property
    def vocab_size(self) -> int:
        return self.pieces + self.extra_ids

    def sentinel_id(self, n: int) -> int:
        """<extra_id_n>: counted down from the end of the vocabulary."""
        if not 0 <= n < self.extra_ids:
            raise ValueError(f"<extra_id_{n}> does not exist: this tokenizer has {self.extra_ids} sentinels")
        return self.vocab_size - 1 - n

    def encode(self, text: str, add_eos: bool = True) -> list[int]:
        """Text to ids; <extra_id_N> written in the text becomes that sentinel; </s> at the end."""
        check_text(text)
        ids, position = [], 0
        for match in SENTINEL.finditer(text):
            ids += self.sp.EncodeAsIds(text[position:match.start()]) if match.start() > position else []
            ids.append(self.sentinel_id(int(match.group(1))))
            position = match.end()
        ids += self.sp.EncodeAsIds(text[position:]) if position < len(text) else []
        return ids + [self.eos_id] if add_eos else ids

    def decode(self, ids, skip_special_tokens: bool = True) -> str:
        """Ids to text; sentinels print as <extra_id_N>; pad and eos are dropped when skipping."""
        out, run = [], []
        for i in (int(x) for x in ids):
            if i >= self.pieces:
                if not 0 <= i < self.vocab_size:
                    raise ValueError(f"id {i} is outside the vocabulary of {self.vocab_size}")
                out.append(self.sp.DecodeIds(run))
                run = []
                out.append(f"<extra_id_{self.vocab_size - 1 - i}>")
            elif skip_special_tokens and i in (self.pad_id, self.eos_id):
                continue
            else:
                run.append(i)
        out.append(self.sp.DecodeIds(run))
        return " ".join(part for part in out if part)

    def tokenize(self, text: str) -> list[str]:
        return self.sp.EncodeAsPieces(check_text(text))

    def __call__(self, texts: str | list[str], *, max_length: int | None = None, truncation: bool = False,
                 padding: str | bool = True, add_eos: bool = True) -> dict:
        """Encode a batch as WordPieceTokenizer does: numpy arrays input_ids and attention_mask,
        padded (with <pad> = 0) to the longest or, with padding="max_length", to max_length;
        truncation=True cuts each to max_length (keeping </s> at the end)."""
        import numpy as np

        texts = check_texts(texts)
        if (truncation or padding == "max_length") and max_length is None:
            raise ValueError("truncation and padding='max_length' need max_length")
        rows = [self.encode(t, add_eos=add_eos) for t in texts]
        if truncation:
            rows = [r if len(r) <= max_length else r[:max_length - 1] + r[-1:] if add_eos else r[:max_length]
                    for r in rows]
        length = max_length if padding == "max_length" else max(len(r) for r in rows)
        if any(len(r) > length for r in rows):
            raise ValueError(f"an encoding has {max(len(r) for r in rows)} tokens, more than max_length={length}; "
                             "pass truncation=True")
        ids = np.zeros((len(rows), length), np.int32)
        for i, r in enumerate(rows):
            ids[i, :len(r)] = r
        return {"input_ids": ids, "attention_mask": (np.arange(length)[None] < np.array([len(r) for r in rows])[:, None])
                .astype(np.int32)}
