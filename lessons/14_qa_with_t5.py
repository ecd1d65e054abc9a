# %% [markdown]
# # Lesson 14: implementing question answering with T5
#
# The course's recipe, step by step:
#
# 1. load a T5 pre-trained with our own span-corruption code (lesson 10),
# 2. process each example into "question: Q context: C" -> "A",
# 3. fine-tune with teacher forcing (the decoder reads the answer shifted right),
# 4. predict by generating text, and score it with SQuAD's EM and F1,
# 5. the same with the 2023 course's graded functions, `parse_squad` and `answer_question`.
#
# The data are the project's synthetic encyclopedia (data/facts_corpus.txt and
# data/mini_squad.json), so the lesson runs offline in minutes.
# `python lessons/14_qa_with_t5.py` (--quick: under a minute).

# %%
import gzip
import json
import textwrap

import jax.numpy as jnp
import numpy as np

from minitrans.datasets import bundled, shared
from minitrans.datasets import text_to_text as t2t
from minitrans.datasets.squad import load_squad
from minitrans.experiments.closed_book import (
    encode_pairs,
    facts_t5_config,
    facts_tokenizer,
    fine_tune,
    score,
    source_length_for,
)
from minitrans.generation import generate
from minitrans.qa.text_to_text import answer_question, parse_squad
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_curves, step, summary
from minitrans.training.pretraining import pretrain_t5

args = lesson_args("Lesson 14: question answering with T5")
out = output_dir(args, "14_qa_with_t5")
rng = np.random.default_rng(args.seed)

# %% [markdown]
# ## Step 1: load a pre-trained T5
# We pre-train one here, with lesson 10's span corruption on the encyclopedia (a real T5
# checkpoint would be loaded with `T5ForConditionalGeneration.from_pretrained(folder)`).

# %%
step("Step 1: a pre-trained T5")
tokenizer = facts_tokenizer(model_prefix=out / "spiece")  # names spelt from syllables (see its docstring)
config = facts_t5_config(tokenizer, num_layers=1 if args.quick else 2)  # d_model 128, 2 + 2 layers (quick: 1 + 1)
pretrain_steps = 10 if args.quick else 1500
model = pretrain_t5(bundled("facts_corpus.txt"), config, tokenizer, steps=pretrain_steps, batch_size=32,
                    input_length=64, target_length=16, learning_rate=2e-3, warmup_steps=max(5, pretrain_steps // 10),
                    eval_every=max(10, pretrain_steps // 4), seed=args.seed)["model"]

# %% [markdown]
# ## Step 2: process the examples
# SQuAD records become text-to-text pairs: the question and its context in, the answer out.
# The answer is words the model writes, not a span it points at, so T5 could also answer in
# words the context does not contain.

# %%
step("Step 2: 'question: Q context: C' -> 'A'")
examples = [e for e in load_squad(bundled("mini_squad.json")) if not e.is_impossible]
titles = list(dict.fromkeys(e.title for e in examples))
held_out_titles = set(titles[100:])
pairs = [(e.id, t2t.question_answering(e.question, e.context), e.answer) for e in examples]
train = [p for p, e in zip(pairs, examples) if e.title not in held_out_titles]
test = [p for p, e in zip(pairs, examples) if e.title in held_out_titles]
if args.quick:
    test = test[:32]
print(f"{len(train)} training pairs, {len(test)} held out; e.g.\n  {train[0][1][:100]}...  ->  {train[0][2]!r}")
source_length = source_length_for(train + test, tokenizer)  # the longest input: no context is cut
print(f"inputs padded to {source_length} tokens")
batch = encode_pairs(train[:2], tokenizer, source_length=source_length)
print("input ids:", batch["input_ids"][0][:16], "...\nlabels:   ", batch["labels"][0], "(-100: not scored)")

# %% [markdown]
# ## Step 3: fine-tune
# Cross entropy of the answer tokens, the decoder reading the answer shifted right.

# %%
step("Step 3: fine-tune")
steps = 6 if args.quick else 800
model, losses = fine_tune(model, train, tokenizer, steps, source_length=source_length, rng=rng)
save_curves({"fine-tuning loss": losses}, out / "qa_loss.png", "T5 question answering")

# %% [markdown]
# ## Step 4: predict and score
# Greedy generation with the key/value cache, then SQuAD's normalised EM and F1.

# %%
step("Step 4: predict")
context = next(e.context for e in examples if e.title in held_out_titles)
question = f"What is the capital of {next(iter(sorted(held_out_titles)))}?"
source = t2t.question_answering(question, context)
generated = generate(model, jnp.asarray([tokenizer.encode(source)]), max_new_tokens=10)
print(f"{question} -> {tokenizer.decode(generated[0])!r}")
scores, predictions = score(model, tokenizer, test, source_length=source_length)
for qid, src, gold in test[:4]:
    print(f"  {src[10:60]:<50} -> {predictions[qid]!r} (gold {gold!r})")
print(f"held-out countries ({len(test)} questions): EM {scores['exact_match']:.1f}  F1 {scores['f1']:.1f}")

# %% [markdown]
# ## Step 5: the 2023 course's way: parse_squad and answer_question
# The course formats the answer too: the target is "answer: A", and at prediction time the
# decoder starts from the ids of "answer: " and continues greedily until EOS.
# `parse_squad` reads SQuAD 2.0 records (unanswerable questions left out), `answer_question`
# generates from that decoder prefix (`generate(..., decoder_prefix=...)`).

# %%
step("Step 5: parse_squad and answer_question")
with open(bundled("mini_squad.json"), encoding="utf-8") as file:
    articles = json.load(file)["data"]
skipped = {}
inputs, targets = parse_squad([a for a in articles if a["title"] not in held_out_titles], skipped)
print(f"{len(inputs)} pairs ({skipped['unanswerable']} unanswerable questions left out); e.g.\n"
      f"  {inputs[0][:90]}...  ->  {targets[0]!r}")
course_pairs = [(f"course-{i}", source, target) for i, (source, target) in enumerate(zip(inputs, targets))]
model, course_losses = fine_tune(model, course_pairs, tokenizer, 6 if args.quick else 300,
                                 source_length=source_length, rng=rng)
answer_ids = answer_question(source, model, tokenizer, encoder_maxlen=source_length, decoder_maxlen=10)
print(f"{question} -> {tokenizer.decode(answer_ids)!r}")

# %% [markdown]
# The course's slide example comes from SQuAD's training set (the article on race as a human
# categorisation): in the course's format it reads as below; its gold answer is
# "approximately five percent" (the slide capitalises it).

# %%
squad_train = shared("squad/train-v1.1.reconstructed.json.gz")
if squad_train is None:
    print("(the example needs ../shared/data/squad/train-v1.1.reconstructed.json.gz)")
else:
    with gzip.open(squad_train, "rt", encoding="utf-8") as file:
        race = [a for a in json.load(file)["data"] if a["title"] == "Race_(human_categorization)"]
    for source_text, target_text in zip(*parse_squad(race)):
        if source_text.startswith("question: What percentage of the French population today is non-European?"):
            print(textwrap.fill(source_text, 100), "\n->", repr(target_text))

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons").

# %%
expect("fine-tuning loss, first step minus last", losses[0] - losses[-1], full=Expect(9.51, at_least=6.0),
       quick=Expect(0.553, at_least=0.2))
expect(f"held-out countries ({len(test)} questions), F1", scores["f1"], full=Expect(6.25, at_least=1.0, at_most=30),
       quick=Expect(0.0, at_most=10))  # quick: too few steps to answer
expect("the course's format: fine-tuning loss, first step minus last", course_losses[0] - course_losses[-1],
       full=Expect(7.028, at_least=4.0), quick=Expect(1.474, at_least=0.5))
summary("question answering as text to text: 'question: Q context: C' in, the answer's words out, trained with "
        "teacher forcing and scored by SQuAD's EM and F1 on what the model generates",
        ["parse_squad", "answer_question"])
