"""Make tests/fixtures/byte_bpe_tokenizers.json: Hugging Face `tokenizers`' byte-level BPE,
trained on the corpus the test trains ours on, with the same settings; its merges, its
vocabulary and its ids for held-out texts.

    /path/to/venv-with-tokenizers/bin/python reference/byte_bpe_fixture.py

Run outside the test suite (the suite does not need `tokenizers`); only the outputs are kept.
"""

import gzip
import json
import sys
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from byte_bpe_corpus import HELD_OUT, MIN_FREQUENCY, SPECIAL_TOKENS, VOCAB_SIZE, corpus  # noqa: E402

texts = corpus(ROOT)
tokenizer = Tokenizer(models.BPE())
tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
tokenizer.decoder = decoders.ByteLevel()
trainer = trainers.BpeTrainer(vocab_size=VOCAB_SIZE, min_frequency=MIN_FREQUENCY, special_tokens=list(SPECIAL_TOKENS),
                              initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
tokenizer.train_from_iterator(texts, trainer=trainer)
model = json.loads(tokenizer.to_str())["model"]
merges = [m.split(" ") if isinstance(m, str) else m for m in model["merges"]]
fixture = {
    "made_by": f"reference/byte_bpe_fixture.py with tokenizers {tokenizers.__version__}",
    "vocab_size": VOCAB_SIZE, "min_frequency": MIN_FREQUENCY, "special_tokens": list(SPECIAL_TOKENS),
    "vocab": model["vocab"], "merges": merges,
    "pre_tokenized": {text: [p for p, _ in tokenizer.pre_tokenizer.pre_tokenize_str(text)] for text in HELD_OUT},
    "ids": {text: tokenizer.encode(text).ids for text in HELD_OUT},
}
path = ROOT / "tests" / "fixtures" / "byte_bpe_tokenizers.json.gz"
with gzip.open(path, "wt", encoding="utf-8") as file:
    json.dump(fixture, file, ensure_ascii=False)
print(f"wrote {path}: {len(model['vocab'])} tokens, {len(merges)} merges, {len(HELD_OUT)} held-out texts")
