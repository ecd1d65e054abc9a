"""The corpus and settings shared by tests/test_byte_bpe.py and reference/byte_bpe_fixture.py:
the project's synthetic encyclopedia and the start of Alice's Adventures in Wonderland
(contractions, quotes, dashes), and held-out texts that exercise every rule of the pre-tokenizer."""

import gzip
import os
from pathlib import Path

VOCAB_SIZE, MIN_FREQUENCY, SPECIAL_TOKENS = 800, 2, ("<|endoftext|>",)

HELD_OUT = [
    "The capital city of Lodorwen is Torkaom.",
    "\"I can't explain myself, I'm afraid, sir,\" said Alice, \"because I'm not myself, you see.\"",
    "It's 1642 -- they'd say we'll go, you've seen; I'LL SHOUT 'S.",
    "Spaces:  two,   three,\ttab,\n\nnew lines  \n and trailing   ",
    "Unicode: café, naïve, Ünïcödé — “quotes” ‘single’ … 日本語 and emoji 🙂!",
    "numbers 3.14159, 2,000,000 and x² ½ ٣",
]


def corpus(root: Path) -> list[str]:
    data = Path(os.environ.get("MINITRANS_DATA", root.parent / "shared" / "data"))
    facts = (root / "data" / "facts_corpus.txt").read_text(encoding="utf-8").splitlines()
    with gzip.open(data / "gutenberg" / "11-0.txt.gz", "rt", encoding="utf-8") as file:
        alice = file.read().splitlines()[:1500]
    return [line for line in facts + alice if line.strip()]
