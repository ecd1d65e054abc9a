# %% [markdown]
# # Lesson 04: pre-training a small BERT from scratch
#
# Everything from lessons 02 and 03, put to work: learn a WordPiece vocabulary from a raw
# corpus, pre-train a small BERT with masked-LM + next-sentence prediction, watch held-out
# masked-token accuracy climb, and ask the model to fill in a [MASK].
#
# The corpus is data/facts_corpus.txt, a synthetic encyclopedia the project writes itself
# (`python -m minitrans.datasets.synthetic`). The same command pre-trains on real books:
#     minitrans pretrain bert --corpus ../shared/data/gutenberg --vocab <folder with vocab.txt> --minutes 30

# %%
import numpy as np

from minitrans.datasets import bundled
from minitrans.models.bert import BertConfig
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, step, summary
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.tokenizers.wordpiece_trainer import count_words, learn_wordpiece_vocab
from minitrans.training.pretraining import pretrain_bert

args = lesson_args("Lesson 04: pre-training a small BERT")
out = output_dir(args, "04_pretraining_bert")
corpus = bundled("facts_corpus.txt")
lines = open(corpus).read().splitlines()

# %% [markdown]
# ## Step 1: where "##ing" comes from: learning WordPiece
# Start from characters; merge the adjacent pair with the best score freq(ab) / (freq(a) freq(b))
# until the vocabulary is full. Words seen often become single tokens; rare ones stay in pieces.

# %%
step("Step 1: learn a WordPiece vocabulary")
counts = count_words(lines)
print(f"{sum(counts.values()):,} words, {len(counts):,} distinct")
vocab = learn_wordpiece_vocab(lines, 1500 if args.quick else 3000)
tokenizer = WordPieceTokenizer(vocab)
merges = [t for t in vocab if len(t.removeprefix("##")) > 1]
print(f"vocabulary: {len(vocab):,} tokens; first merges: {merges[:12]}")
print("continuation pieces:", [t for t in merges if t.startswith("##")][:12])
for sentence in ["The capital of Lodorwen is Torkaom.", "Exporting copper and silk."]:
    print(f"  {sentence!r} -> {tokenizer.tokenize(sentence)}")

# %% [markdown]
# ## Step 2: pre-train
# A small post-LN BERT, masked-LM + NSP, AdamW with warm-up, one jitted training step.
# Held-out pairs come from documents the model never trains on.

# %%
step("Step 2: pre-train a small BERT")
config = BertConfig(hidden_size=128, num_hidden_layers=1 if args.quick else 2, num_attention_heads=2, intermediate_size=512,
                    max_position_embeddings=64)
steps = 20 if args.quick else 800
result = pretrain_bert(corpus, config, tokenizer, steps=steps, batch_size=32, max_length=64,
                       learning_rate=1e-3, warmup_steps=max(5, steps // 10),
                       eval_every=max(10, steps // 8), seed=args.seed)
history = result["history"]
print(f"{result['steps']} steps in {result['seconds']:.0f}s, {result['tokens'] / result['seconds']:,.0f} tokens/s")
save_curves({"held-out masked-token accuracy": [h["eval_mlm_accuracy"] for h in history if "eval_mlm_accuracy" in h],
             "held-out NSP accuracy": [h["eval_nsp_accuracy"] for h in history if "eval_nsp_accuracy" in h]},
            out / "pretraining_accuracy.png", "pre-training a small BERT", xlabel="evaluation", ylabel="accuracy")

# %% [markdown]
# ## Step 3: fill in the blank
# The masked-LM head scores every word of the vocabulary at the [MASK]. Early on it guesses
# frequent words ("the", "of"); with training it learns the corpus's facts and phrasing.

# %%
step("Step 3: fill-mask")
model = result["model"]
for sentence in ["The capital of [MASK] is Torkaom.", "People in Lodorwen [MASK] Lodorweish.",
                 "The river Fenash flows [MASK] Torkaom."]:
    encoding = tokenizer.encode(sentence)
    position = encoding.tokens.index("[MASK]")
    logits = np.asarray(model(np.array([encoding.ids])).prediction_logits[0, position])
    top = np.argsort(logits)[::-1][:5]
    print(f"{sentence:<42} -> " + ", ".join(tokenizer.id_to_token[int(i)] for i in top))
print(f"\nfinal held-out masked-token accuracy {history[-1]['eval_mlm_accuracy']:.1%}, "
      f"next-sentence accuracy {history[-1]['eval_nsp_accuracy']:.1%}")

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
evaluations = [h for h in history if "eval_mlm_loss" in h]
expect("held-out masked-LM loss, first evaluation minus last", evaluations[0]["eval_mlm_loss"] - evaluations[-1]["eval_mlm_loss"],
       full=Expect(2.100, at_least=1.0), quick=Expect(0.372, at_least=0.15))
expect("held-out masked-token accuracy", history[-1]["eval_mlm_accuracy"], fmt=percent,
       full=Expect(0.478, at_least=0.3), quick=Expect(0.101, at_least=0.05))
expect("held-out next-sentence accuracy", history[-1]["eval_nsp_accuracy"], fmt=percent,
       full=Expect(0.656, at_least=0.45), quick=Expect(0.599, at_least=0.4))
summary("pre-training is the two tasks of lesson 03 at scale: a WordPiece vocabulary learned from the corpus, "
        "AdamW with warm-up, one jitted step; the held-out figures rise as the model learns the corpus's facts",
        ["tokenize_word", "warmup_schedule"])
