# %% [markdown]
# # Lesson 07: GPT, and why not bi-directional?
#
# GPT is a transformer decoder: the course's encoder block under a causal mask, trained to
# predict the next word. It generates text by sampling one word at a time.
#
# Then the experiment behind "why not bi-directional?": train the same network on the same
# next-word task with a fully visible mask. Each position can now see the word it must
# predict ("each word can peek at itself"), copies it, drives its loss to near zero, and is
# useless at generating. This is why BERT predicts masked words instead.

# %%
import numpy as np

from minitrans.datasets import bundled, shared
from minitrans.experiments import lineage
from minitrans.generation import generate
from minitrans.masks import show_masks_side_by_side
from minitrans.models.gpt import decoder_mask
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_curves, step, summary

args = lesson_args("Lesson 07: GPT")
out = output_dir(args, "07_gpt")
# --quick: the small synthetic corpus, where the copying shows within seconds
corpus = bundled("facts_corpus.txt") if args.quick else shared("wikitext-2/wiki.valid.tokens.gz") or bundled("facts_corpus.txt")

# %% [markdown]
# ## Step 1: the masks

# %%
step("Step 1: causal versus fully visible")
print(show_masks_side_by_side({"GPT (causal)": decoder_mask(None, 6),
                               "fully visible": np.ones((1, 1, 6, 6), bool)}))

# %% [markdown]
# ## Step 2: train both on next-word prediction

# %%
step("Step 2: train a causal and a bidirectional model")
# `peeking_experiment` (minitrans/experiments/lineage.py, twenty lines worth reading) trains the
# same GPT twice on next-word prediction, causal and fully visible, with no dropout (dropping
# attention weights at random would hide the copying we want to show).
experiment = lineage.peeking_experiment(corpus, quick=args.quick, seed=args.seed)
vocab, length, models, curves = experiment["vocab"], experiment["length"], experiment["models"], experiment["curves"]
print("both models:", models["causal (GPT)"].config)
save_curves(curves, out / "causal_vs_bidirectional.png", "next-word training loss")
print("held-out perplexity when the words after the one to predict are hidden, as in generation:")
perplexities = experiment["perplexities"]
for name, model in models.items():
    print(f"  {name:<14} final training loss {np.mean(curves[name][-10:]):.3f}   "
          f"held-out perplexity {perplexities[name]:,.1f}")

# %% [markdown]
# ## Step 3: generate
# Sampling with temperature and top-k. The causal model continues the prompt; the
# bidirectional one was trained with the answer in view and has nothing to go on.

# %%
step("Step 3: samples")
prompt = [vocab.bos_id] + vocab.encode("the capital of" if args.quick else "the first")
for name, model in models.items():
    ids = generate(model, np.array([prompt]), max_new_tokens=length - len(prompt), do_sample=True, temperature=0.8,
                   top_k=20, seed=args.seed)[0].tolist()
    print(f"{name:<14} {vocab.decode(ids[1:])}")

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons"). The
# bidirectional model's training loss is far lower (it peeks at the answer), its held-out
# perplexity far higher once it may no longer peek.

# %%
expect("causal: final training loss (mean of the last 10 steps)", np.mean(curves["causal (GPT)"][-10:]),
       full=Expect(3.823, at_most=4.5), quick=Expect(1.321, at_most=1.8))
expect("bidirectional: final training loss (it peeks)", np.mean(curves["bidirectional"][-10:]),
       full=Expect(0.00477, at_most=0.1), quick=Expect(0.128, at_most=0.6))
expect("causal: held-out perplexity", perplexities["causal (GPT)"], full=Expect(137.2, at_most=180),
       quick=Expect(4.84, at_most=8))
expect("bidirectional: held-out perplexity, no peeking", perplexities["bidirectional"],
       full=Expect(22650, at_least=1000), quick=Expect(3982, at_least=100))
summary("GPT is a transformer decoder: the causal mask keeps each word from the words after it, which is "
        "what lets it generate; a model that may peek learns to copy and cannot generate",
        ["decoder_mask", "sample_top_k"])
