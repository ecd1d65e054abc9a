# %% [markdown]
# # Lesson 11: text to text
#
# T5's idea: every task is text in, text out. A prefix names the task; the target is words.
#
#     translate English to German: That is good.   ->  Das ist gut.
#     cola sentence: The course is jumping well.    ->  unacceptable
#     stsb sentence1: ... sentence2: ...            ->  3.8
#     question: Q context: C                        ->  the answer
#
# Here one small T5 learns two tasks at once from the synthetic encyclopedia: answering a
# question from a context, and telling which country a sentence is about.

# %%
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets import bundled
from minitrans.datasets import text_to_text as t2t
from minitrans.datasets.streaming import pad_rows
from minitrans.datasets.synthetic import describe, make_countries, questions
from minitrans.experiments import lineage
from minitrans.generation import generate
from minitrans.losses import IGNORE
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, step, summary
from minitrans.tokenizers.sentencepiece import T5Tokenizer
from minitrans.training.mixing import Mixture, mixing_rates

args = lesson_args("Lesson 11: text to text")
out = output_dir(args, "11_text_to_text")

# %% [markdown]
# ## Step 1: the formats

# %%
step("Step 1: task prefixes")
print(t2t.translate("That is good."))
print(t2t.mnli("A man is playing a guitar.", "A person plays music."), "->", t2t.mnli_target(0))
print(t2t.cola("The course is jumping well."), "->", t2t.cola_target(0))
print(t2t.stsb("A cat sits.", "A cat is sitting."), "->", t2t.stsb_target(4.75))
print(t2t.summarize("A long article ..."))

# %% [markdown]
# ## Step 2: two tasks, one model
# "question: Q context: C" -> A, and "topic sentence: S" -> the country it is about. Held-out
# examples ask about countries the model never saw in training.

# %%
step("Step 2: data")
rng = np.random.default_rng(args.seed)
countries = make_countries(120, seed=args.seed)
train_countries, test_countries = countries[:100], countries[100:]


def examples(country_list):
    out = []
    for c in country_list:
        context = " ".join(describe(c, rng))
        out += [(t2t.question_answering(q, context), a) for q, a in questions(c)]
        out += [(f"topic sentence: {s}", c.name) for s in describe(c, rng)[:3]]
    return out


train, test = examples(train_countries), examples(test_countries)
tokenizer = T5Tokenizer.train(bundled("facts_corpus.txt").read_text().splitlines(), vocab_size=1000,
                              model_prefix=out / "spiece")
print(f"{len(train):,} training and {len(test):,} held-out examples, e.g.\n  {train[0][0][:110]}... -> {train[0][1]}")


def batch_of(pairs, source_length=160, target_length=12):
    source = pad_rows([tokenizer.encode(s)[:source_length] for s, _ in pairs], source_length)
    labels = pad_rows([tokenizer.encode(target)[:target_length] for _, target in pairs], target_length, IGNORE)
    return {"input_ids": source, "labels": labels}  # IGNORE (-100): positions the loss does not score


# %% [markdown]
# ## Step 3: train

# %%
step("Step 3: train one T5 on both tasks")
config = T5Config(vocab_size=tokenizer.vocab_size, d_model=128, d_kv=32, d_ff=512, num_layers=1 if args.quick else 2, num_heads=4,
                  dropout_rate=0.0)
steps = 20 if args.quick else 2000
model, losses = lineage.fit(T5ForConditionalGeneration(config, rngs=nnx.Rngs(args.seed)), lineage.t5_loss,
                            lambda i: batch_of([train[j] for j in rng.integers(len(train), size=32)]), steps,
                            learning_rate=2e-3, log_every=max(1, steps // 5))
save_curves({"training loss": losses}, out / "text_to_text_loss.png", "T5 on two text-to-text tasks")

# %% [markdown]
# ## Step 4: answers, as text

# %%
step("Step 4: held-out answers")
sample = [test[i] for i in rng.permutation(len(test))[:64]]
generated = generate(model, jnp.asarray(batch_of(sample)["input_ids"]), max_new_tokens=10)
answers = [tokenizer.decode(row) for row in generated]
exact = np.mean([a.strip() == target for a, (_, target) in zip(answers, sample)])
for (source, target), answer in list(zip(sample, answers))[:5]:
    print(f"  {source[:70]:<70} -> {answer!r} (gold {target!r})")
print(f"exact match on {len(sample)} held-out examples: {exact:.1%}")

# %% [markdown]
# ## Step 5: mixing tasks of different sizes
# Here both tasks came in equal measure. Real mixtures are lopsided: GLUE's SST-2 has 67,349
# training sentences, MRPC 3,668 pairs, RTE 2,490. Drawn in proportion to size, RTE would be one
# example in thirty. The T5 paper (section 3.5.2) compares three rates for task m with e_m
# examples: examples-proportional, min(e_m, K) / sum_n min(e_n, K), where the limit K keeps a big
# task from drowning the rest; temperature-scaled, those rates to the power 1/T, renormalised;
# and equal, 1/M. `minitrans glue train --task SST-2,MRPC,RTE --mixing ...` trains one T5 so.

# %%
step("Step 5: mixing rates")
sizes = {"SST-2": 67_349, "MRPC": 3_668, "RTE": 2_490}
print(f"  {'strategy':<34}" + "".join(f"{name:>8}" for name in sizes))
for label, strategy, options in [("examples-proportional", "proportional", {}),
                                 ("examples-proportional, K = 16,384", "proportional", {"limit": 16_384}),
                                 ("temperature T = 2, K = 16,384", "temperature", {"limit": 16_384, "temperature": 2.0}),
                                 ("equal", "equal", {})]:
    rates = mixing_rates(sizes, strategy, **options)
    print(f"  {label:<34}" + "".join(f"{rates[name]:>8.1%}" for name in sizes))
# a run's batches follow the rates: 100 steps of 32 drawn from the three tasks (the examples
# here stand in for the real ones by their task's name)
mixture = Mixture({name: [name] * n for name, n in sizes.items()}, "temperature", limit=16_384, temperature=2.0,
                  seed=args.seed)
drawn = [example for batch_step in range(100) for example in mixture.batch(batch_step, 32)]
rte_rate, rte_share = mixture.rates["RTE"], drawn.count("RTE") / len(drawn)
print(f"RTE: rate {rte_rate:.1%}, share of the {len(drawn):,} examples drawn {rte_share:.1%}")

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
expect("training loss, first step minus last", losses[0] - losses[-1], full=Expect(7.27, at_least=5.0),
       quick=Expect(4.195, at_least=2.5))
# held-out answers stay hard for a T5 trained from scratch: it learns the formats, rarely the
# facts of countries it never saw (the full run: 1 answer in 64; lesson 14 pre-trains first)
expect(f"exact match on {len(sample)} held-out examples", exact, fmt=percent, full=Expect(0.016, at_most=0.15),
       quick=Expect(0.0, at_most=0.1))  # 20 steps: not yet
expect("RTE's rate, temperature 2 and K = 16,384", rte_rate, fmt=percent, full=Expect(0.2093, at_least=0.20925, at_most=0.20935),
       quick=Expect(0.2093, at_least=0.20925, at_most=0.20935))  # computed, no randomness
expect("RTE's share of 3,200 drawn examples", rte_share, fmt=percent, full=Expect(0.2062, at_least=0.18, at_most=0.24),
       quick=Expect(0.2062, at_least=0.18, at_most=0.24))  # the rate within about 4 standard errors
summary("every task is text in and text out: a prefix names the task, one model and one loss learn them all, "
        "and the answers are generated; mixing rates decide how much of each task a model sees", ["mixing_rates"])
