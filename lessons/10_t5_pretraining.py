# %% [markdown]
# # Lesson 10: pre-training T5 by span corruption
#
# T5 learns from raw text by filling in blanks: about 15% of the tokens are dropped in spans,
# each span replaced by one sentinel; the decoder writes out what each sentinel hid. This
# lesson pre-trains a small T5 that way on the synthetic encyclopedia and asks it to fill in
# spans it has not seen.
#
# The same command pre-trains on real books with T5's own vocabulary:
#     minitrans pretrain t5 --corpus ../shared/data/gutenberg --vocab ../shared/data/t5/spiece.model --minutes 30

# %%
import numpy as np

from minitrans.datasets import bundled
from minitrans.datasets.span_corruption import random_spans_noise_mask, span_corrupt
from minitrans.generation import generate
from minitrans.models.t5 import T5Config
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, step, summary
from minitrans.tokenizers.sentencepiece import T5Tokenizer
from minitrans.training.pretraining import pretrain_t5

args = lesson_args("Lesson 10: pre-training T5")
out = output_dir(args, "10_t5_pretraining")
corpus = bundled("facts_corpus.txt")

# %% [markdown]
# ## Step 1: a SentencePiece vocabulary with T5's conventions
# <pad> = 0, </s> = 1, <unk> = 2, and 100 sentinels at the end of the vocabulary.

# %%
step("Step 1: train a SentencePiece model")
tokenizer = T5Tokenizer.train(corpus.read_text().splitlines(), vocab_size=1000, model_prefix=out / "spiece")
print(f"{tokenizer.pieces} pieces + {tokenizer.extra_ids} sentinels = {tokenizer.vocab_size}; "
      f"<extra_id_0> = {tokenizer.sentinel_id(0)}")
print(tokenizer.tokenize("The capital of Lodorwen is Torkaom."))

# %% [markdown]
# ## Step 2: the paper's span corruption
# Noise density 0.15 and mean span length 3, so a 40-token stretch loses 6 tokens in 2 spans.

# %%
step("Step 2: span corruption")
ids = tokenizer.encode("The capital of Lodorwen is Torkaom. The river Fenash flows through Torkaom.", add_eos=False)
mask = random_spans_noise_mask(len(ids), rng=np.random.default_rng(args.seed))
inputs, targets = span_corrupt(ids, mask, vocab_size=tokenizer.vocab_size, eos_id=tokenizer.eos_id)
print("noise mask:", "".join("x" if m else "." for m in mask))
print("inputs: ", tokenizer.decode(inputs))
print("targets:", tokenizer.decode(targets))

# %% [markdown]
# ## Step 3: pre-train
# Held-out rows come from documents the model never trains on; span accuracy counts the
# hidden tokens predicted right (teacher forcing), sentinels excluded.

# %%
step("Step 3: pre-train a small T5")
config = T5Config(vocab_size=tokenizer.vocab_size, d_model=128, d_kv=32, d_ff=512, num_layers=1 if args.quick else 2, num_heads=4,
                  dropout_rate=0.0)
steps = 20 if args.quick else 1500
result = pretrain_t5(corpus, config, tokenizer, steps=steps, batch_size=32, input_length=64, target_length=16,
                     learning_rate=2e-3, warmup_steps=max(5, steps // 10), eval_every=max(10, steps // 10),
                     seed=args.seed)
history = result["history"]
save_curves({"held-out span accuracy": [h["eval_span_accuracy"] for h in history if "eval_span_accuracy" in h]},
            out / "span_accuracy.png", "T5 span corruption", xlabel="evaluation", ylabel="accuracy")

# %% [markdown]
# ## Step 4: fill in the blanks
# Give the model a sentence with sentinels; it writes each sentinel followed by its guess.

# %%
step("Step 4: fill in the blanks")
model = result["model"]
texts = ["The capital of Lodorwen <extra_id_0> Torkaom.", "The river <extra_id_0> flows through Torkaom.",
         "People in Vaquel speak <extra_id_0>."]
batch = tokenizer(texts)  # one padded batch (input_ids, attention_mask): one generation for all three
generated = generate(model, batch["input_ids"], batch["attention_mask"], max_new_tokens=8)
for text, row in zip(texts, generated):
    print(f"{text:<48} -> {tokenizer.decode(row)}")
print(f"final held-out span accuracy {history[-1]['eval_span_accuracy']:.1%}")

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
evaluations = [h for h in history if "eval_loss" in h]
expect("held-out loss, first evaluation minus last", evaluations[0]["eval_loss"] - evaluations[-1]["eval_loss"],
       full=Expect(0.967, at_least=0.6), quick=Expect(0.376, at_least=0.15))
expect("held-out span accuracy", history[-1]["eval_span_accuracy"], fmt=percent,
       full=Expect(0.440, at_least=0.35), quick=Expect(0.057, at_least=0.02))
summary("T5 pre-trains by span corruption: runs of tokens replaced by sentinels in the input, the target "
        "spells out what each sentinel hid; the model learns the corpus's facts by filling them in",
        ["tokenize_and_mask"])
