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
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
expect("training loss, first step minus last", losses[0] - losses[-1], full=Expect(7.27, at_least=5.0),
       quick=Expect(4.195, at_least=2.5))
# held-out answers stay hard for a T5 trained from scratch: it learns the formats, rarely the
# facts of countries it never saw (the full run: 1 answer in 64; lesson 14 pre-trains first)
expect(f"exact match on {len(sample)} held-out examples", exact, fmt=percent, full=Expect(0.016, at_most=0.15),
       quick=Expect(0.0, at_most=0.1))  # 20 steps: not yet
summary("every task is text in and text out: a prefix names the task, one model and one loss learn them all, "
        "and the answers are generated", ["mixing_rates"])
