# %% [markdown]
# # Lesson 15: SentencePiece and byte-pair encoding
#
# The course's SentencePiece & BPE lab. T5 reads text through a SentencePiece model; GPT-2
# and RoBERTa through byte-pair encoding (BPE). Both cut words into subword pieces learned
# from a corpus, so no word is ever unknown and frequent words stay whole.
#
# 1. SentencePiece's conventions: NFKC normalisation, and "▁" for the spaces (lossless),
# 2. BPE merges computed by hand on the paper's toy corpus,
# 3. a BPE model trained with the sentencepiece library, compared with our merges,
# 4. byte-level BPE in GPT-2's scheme, and a small GPT that writes in its subwords.
# `python lessons/15_sentencepiece_and_bpe.py` (--quick: seconds).

# %%
import tempfile
from pathlib import Path

import numpy as np
import sentencepiece as spm
from flax import nnx

from minitrans.datasets import bundled, shared
from minitrans.datasets.streaming import pack
from minitrans.exercises.tokenizers import PAPER_WORDS
from minitrans.experiments import lineage
from minitrans.generation import generate
from minitrans.models.gpt import GPT, GPT2Config, lm_loss
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, step, summary
from minitrans.tokenizers.bpe import SPACE, apply_bpe, from_pieces, learn_bpe, normalize, pair_counts, to_pieces_text, word_counts
from minitrans.tokenizers.byte_bpe import ByteLevelBPE
from minitrans.tokenizers.sentencepiece import T5Tokenizer

args = lesson_args("Lesson 15: SentencePiece and BPE")
out = output_dir(args, "15_sentencepiece_and_bpe")

# %% [markdown]
# ## Step 1: NFKC and "▁"
# NFKC folds characters that are the same letter in another dress (ligatures, full-width
# forms, superscripts) into one form. SentencePiece then treats the text as one stream of
# characters in which a space is just the character "▁": the pieces keep every space, so
# joining them gives the text back exactly.

# %%
step("Step 1: NFKC and the visible space")
for text in ["ﬁne", "Ｔ５", "x²", "café", "cafe\u0301"]:
    print(f"{text!r:10} -> NFKC {normalize(text)!r}")
sentence = "Hello, T5 reads ﬁne text."
print(to_pieces_text(sentence))
spiece = shared("t5/spiece.model")
if spiece is not None:
    t5 = T5Tokenizer(spiece)
    pieces = t5.tokenize(sentence)
    print("T5's pieces:", pieces)
    print("joined back:", repr(from_pieces(pieces)), "(the ligature came back as 'fi': NFKC)")

# %% [markdown]
# ## Step 2: BPE by hand
# Start from characters (the paper marks word ends with </w>), count neighbouring pairs
# weighted by word counts, merge the most frequent, repeat.

# %%
step("Step 2: the merges of the paper's corpus")
words = dict(PAPER_WORDS)
print("pairs before the first merge:", dict(pair_counts(words).most_common(4)))
merges, merged = learn_bpe(words, 10)
for i, pair in enumerate(merges, 1):
    print(f"merge {i:2}: {' + '.join(pair):16} -> {''.join(pair)}")
print("the words now:", {" ".join(w): n for w, n in merged.items()})
print("a new word, 'lowest':", apply_bpe(("l", "o", "w", "e", "s", "t", "</w>"), merges))

# %% [markdown]
# ## Step 3: sentencepiece's BPE and ours on the same corpus
# sentencepiece trains a BPE model (`model_type="bpe"`); we learn the same number of merges
# with our code on the same words (each starting with "▁"), then compare the vocabularies
# and how each splits a sentence.

# %%
step("Step 3: sentencepiece's BPE versus ours")
corpus = Path(bundled("facts_corpus.txt")).read_text(encoding="utf-8").splitlines()[: 300 if args.quick else 3000]
folder = Path(tempfile.mkdtemp())
vocab_size = 300 if args.quick else 1000
spm.SentencePieceTrainer.train(sentence_iterator=iter(corpus), model_prefix=str(folder / "bpe"), model_type="bpe",
                               vocab_size=vocab_size, character_coverage=1.0, minloglevel=2)
bpe = spm.SentencePieceProcessor(model_file=str(folder / "bpe.model"))
theirs = [bpe.id_to_piece(i) for i in range(bpe.get_piece_size())]
alphabet = {c for line in corpus for c in to_pieces_text(line)}
ours_merges, _ = learn_bpe(word_counts(" ".join(corpus)), len(theirs) - 3 - len(alphabet))
ours = {"".join(pair) for pair in ours_merges} | alphabet
multi = [p for p in theirs[3:] if len(p) > 1]
shared_share = sum(p in ours for p in multi) / len(multi)
print(f"sentencepiece: {len(theirs)} pieces; ours: {len(ours)} symbols; "
      f"{sum(p in ours for p in multi)} of sentencepiece's {len(multi)} merged pieces are ours too")
held_out = "The capital city of the new country lies on the river."
print("sentencepiece:", bpe.encode(held_out, out_type=str))
print("ours:         ", [piece for word in to_pieces_text(held_out).split(SPACE)[1:]
                         for piece in apply_bpe((SPACE, *word), ours_merges)])

# %% [markdown]
# ## Step 4: byte-level BPE, GPT-2's scheme, and a GPT over subwords
# GPT-2 runs BPE over the bytes of the text: each byte is first shown as a printable character
# (a space is "Ġ"), a pre-tokenizer splits contractions, words, numbers and symbols, and the
# merges are applied by rank. `ByteLevelBPE` learns its merges as Hugging Face's `tokenizers`
# does (the test suite checks: the same merges and ids) and reads and writes GPT-2's
# `vocab.json` + `merges.txt`. Then a small GPT learns to continue text in those subwords.

# %%
step("Step 4: byte-level BPE and a GPT over its subwords")
byte_bpe = ByteLevelBPE.train(corpus, 300 if args.quick else 1000)
byte_bpe.save(out / "byte_bpe")
byte_bpe = ByteLevelBPE.from_files(out / "byte_bpe" / "vocab.json", out / "byte_bpe" / "merges.txt")
print("tokens:", byte_bpe.tokenize("The capital city isn't far -- 12 km."))
print("first merges:", [" ".join(m) for m in byte_bpe.merges[:8]])
length = 32
blocks = np.stack(list(pack([byte_bpe.encode(line + "\n") for line in corpus], length)))
config = GPT2Config(vocab_size=byte_bpe.vocab_size, n_positions=length, n_embd=64, n_layer=1 if args.quick else 2,
                    n_head=2, resid_pdrop=0.0, attn_pdrop=0.0, embd_pdrop=0.0)
rng = np.random.default_rng(args.seed)
steps = 100 if args.quick else 1500
gpt, losses = lineage.fit(GPT(config, rngs=nnx.Rngs(args.seed)), lm_loss,
                          lambda i: {"input_ids": blocks[rng.integers(len(blocks), size=32)]}, steps,
                          learning_rate=1e-2 if args.quick else 3e-3, log_every=max(1, steps // 4))
save_curves({"next-subword loss": losses}, out / "gpt_subwords.png", "GPT over byte-level BPE")
prompt = byte_bpe.encode("The capital city of")
sample = generate(gpt, np.array([prompt]), max_new_tokens=length - len(prompt), do_sample=True, temperature=0.7,
                  top_k=20, seed=args.seed)[0]
print("GPT:", repr(byte_bpe.decode(sample)))

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
expect("share of sentencepiece's merged pieces that our BPE learned too", shared_share, fmt=percent,
       full=Expect(0.583, at_least=0.5), quick=Expect(0.756, at_least=0.65))
expect("GPT over byte-level BPE: training loss, first step minus last", losses[0] - losses[-1],
       full=Expect(6.782, at_least=5.0), quick=Expect(3.67, at_least=2.5))
summary("subword vocabularies are learned from counts: NFKC first, '▁' keeps the spaces so decoding is "
        "lossless, BPE merges the most frequent pair again and again, and bytes leave no word unknown",
        ["learn_bpe"])
