"""A word-level vocabulary, for the models before WordPiece: CBOW, ELMo, and the lineage table.

Words are split as BERT's pre-tokenizer splits them (lower-cased, punctuation alone), so all
models of the lineage lesson read the same units. Rare words map to <unk>.
"""

from collections import Counter

from minitrans.tokenizers.wordpiece import normalize, pre_tokenize

SPECIALS = ("<pad>", "<unk>", "<s>", "</s>", "<mask>")


def split_words(text: str) -> list[str]:
    """Lower-cased words and punctuation; a literal "<unk>" (WikiText marks rare words so) stays whole."""
    words = []
    for i, part in enumerate(text.split("<unk>")):
        if i:
            words.append("<unk>")
        words.extend("".join(c for c, _ in word) for word in pre_tokenize(normalize(part, lowercase=True)))
    return words


class WordVocabulary:
    """word <-> id, with <pad>=0, <unk>=1, <s>=2, </s>=3, <mask>=4 (for BERT's masked LM)."""

    def __init__(self, words: list[str]):
        self.itos = list(SPECIALS) + [w for w in words if w not in SPECIALS]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.pad_id, self.unk_id, self.bos_id, self.eos_id, self.mask_id = range(len(SPECIALS))

    @classmethod
    def build(cls, texts, min_count: int = 2, max_size: int | None = None) -> "WordVocabulary":
        counts = Counter(w for text in texts for w in split_words(text))
        if not counts:
            raise ValueError("the corpus holds no words: cannot build a vocabulary")
        words = [w for w, n in counts.most_common(max_size) if n >= min_count]
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, text: str) -> list[int]:
        return [self.stoi.get(w, self.unk_id) for w in split_words(text)]

    def decode(self, ids) -> str:
        return " ".join(self.itos[int(i)] for i in ids if int(i) != self.pad_id)
