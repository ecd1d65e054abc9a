# %% [markdown]
# # Lesson 13: question answering, context-based versus closed-book
#
# Two ways to answer "What is the capital of Lodorwen?":
#
# - context-based (extractive): read a passage and point at the answer span in it. BERT gives
#   every token a start score and an end score; the best valid span is the answer.
# - closed-book: no passage. The answer must come from what the model stored in its
#   parameters in pre-training; T5 writes it out as text.
#
# This lesson builds the extractive pipeline step by step (windows, labels, training,
# post-processing, the official SQuAD metric), then measures the contrast with T5.
# `python lessons/13_question_answering.py` (--quick: a one-minute version).

# %%

import numpy as np

from minitrans.checkpoints import minilm_folder
from minitrans.datasets import bundled
from minitrans.datasets.squad import load_squad
from minitrans.datasets.streaming import pad_batch
from minitrans.experiments.closed_book import facts_t5_config, facts_tokenizer, qa_experiment
from minitrans.models.bert import BertForQuestionAnswering
from minitrans.qa.extractive import (
    QuestionAnswerer,
    highlight,
    postprocess_qa_predictions,
    predict_logits,
    prepare_train_features,
    prepare_validation_features,
    qa_loss,
)
from minitrans.qa.metrics import f1_score, normalize_answer, squad_evaluate
from minitrans.teaching import Expect, expect, lesson_args, output_dir, save_curves, step, summary
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training.trainer import Trainer, TrainingArguments

args = lesson_args("Lesson 13: question answering")
out = output_dir(args, "13_question_answering")
folder = minilm_folder(required=True)
tokenizer = WordPieceTokenizer.from_pretrained(folder)

# %% [markdown]
# ## Step 1: SQuAD, and windows over long contexts
# A SQuAD record is a context, a question and the answer's text with its character offset.
# BERT reads at most 512 tokens (we use 384); a longer context is cut into overlapping
# windows, so every answer lies whole in at least one of them.

# %%
step("Step 1: a record, and its windows")
examples = load_squad(bundled("mini_squad.json"))
example = examples[0]
print(f"context:  {example.context[:120]}...\nquestion: {example.question}\nanswer:   {example.answers[0]}")
features = prepare_validation_features([example], tokenizer, max_length=40, stride=8)
for f in features:
    tokens = [tokenizer.id_to_token[int(i)] for i in f["input_ids"]]
    print(f"  window of {len(tokens)} tokens: {' '.join(tokens[:14])} ... {' '.join(tokens[-4:])}")

# %% [markdown]
# ## Step 2: labels — characters to token positions
# The answer's first and last characters become the first and last token that cover them.
# A window that does not hold the whole answer points at [CLS] (position 0): "not here".

# %%
step("Step 2: start and end positions")
for f in prepare_train_features([example], tokenizer, max_length=40, stride=8):
    s, e = int(f["start_positions"]), int(f["end_positions"])
    span = tokenizer.decode(f["input_ids"][s:e + 1]) if s else "[CLS] (no answer in this window)"
    print(f"  start {s:2d} end {e:2d}: {span}")

# %% [markdown]
# ## Step 3: fine-tune BERT to point at answers
# A pre-trained encoder plus a new Dense(hidden, 2) head; the loss is the mean of the start and
# end cross entropies. Questions about 100 countries train; 20 countries are held out.

# %%
step("Step 3: fine-tune")
titles = list(dict.fromkeys(e.title for e in examples))
held_out_titles = set(titles[100:])
train = [e for e in examples if e.title not in held_out_titles and not e.is_impossible]
held_out = [e for e in examples if e.title in held_out_titles and not e.is_impossible]
if args.quick:
    held_out = held_out[:24]
model = BertForQuestionAnswering.from_pretrained(folder)
steps = 4 if args.quick else 150
length, stride = (64, 16) if args.quick else (128, 32)  # quick: shorter windows, fewer shapes to compile
trainer = Trainer(model, prepare_train_features(train, tokenizer, max_length=length, stride=stride),
                  args=TrainingArguments(output_dir=str(out / "bert_qa"), overwrite_output_dir=True, max_steps=steps,
                                         batch_size=8 if args.quick else 16,
                                         learning_rate=1e-4, warmup_steps=max(1, steps // 10), group_by_length=True,
                                         log_every=max(1, steps // 5), progress_bar=False),
                  loss_fn=qa_loss, collate=pad_batch)
trainer.train()
model = trainer.model
save_curves({"training loss": [r["loss"] for r in trainer.history if "loss" in r]}, out / "bert_qa_loss.png",
            "BERT learning to point at answers", xlabel="log line")

# %% [markdown]
# ## Step 4: from logits to answers, and the official metric
# For each window: the 20 best starts and ends make candidate spans (inside the context, end
# after start, at most 30 tokens); the best start + end score wins and is cut out of the
# original text by its character offsets. SQuAD scores exact match and word-overlap F1 after
# normalising (lower case, no punctuation, no articles).

# %%
step("Step 4: post-processing and EM/F1")
features = prepare_validation_features(held_out, tokenizer, max_length=length, stride=stride)
starts, ends = predict_logits(model, features)
predictions, _, _ = postprocess_qa_predictions(held_out, features, starts, ends)
for e in held_out[:4]:
    print(f"  {e.question:<45} -> {predictions[e.id]!r:<16} gold {e.answer!r}")
print(f"normalize_answer('The Capital!') = {normalize_answer('The Capital!')!r};  "
      f"f1_score('the river Montva', 'Montva') = {f1_score('the river Montva', 'Montva'):.2f}")
scores = squad_evaluate(held_out, predictions)
print(f"held-out countries: EM {scores['exact_match']:.1f}  F1 {scores['f1']:.1f}")
qa = QuestionAnswerer(model, tokenizer)
context = "Ada Lovelace wrote the first published algorithm in 1843, for Charles Babbage's Analytical Engine."
result = qa("When did Ada Lovelace write the first algorithm?", context)
print("  " + highlight(context, result["start"], result["end"]) + f"  score {result['score']:.2f}")

# %% [markdown]
# ## Step 5: closed-book — can a model answer from memory?
# T5 pre-trained by span corruption on the encyclopedia (all 120 countries), then asked about
# 20 held-out countries: with a context (a three-sentence passage; the reader is fine-tuned
# on questions about thousands of other countries, so it must learn to read), and without
# (closed-book, fine-tuned on questions about the other 100 countries while rehearsing the
# corpus). Closed-book answers need the fact stored in the weights; without pre-training
# there is nowhere it could come from.
# `benchmarks/t5_qa.py` runs the longer version whose figures are in benchmarks/RESULTS.md.

# %%
step("Step 5: T5, with and without the context")
t5_tokenizer = facts_tokenizer(model_prefix=out / "spiece")  # names spelt from syllables (see its docstring)
config = facts_t5_config(t5_tokenizer, num_layers=1 if args.quick else 2)  # d_model 128, 2 + 2 layers (quick: 1 + 1)
results = qa_experiment(t5_tokenizer, config, pretrain_steps=10 if args.quick else 1000,
                        finetune_steps=6 if args.quick else 2000, seed=args.seed, learning_rate=1e-3,
                        reader_countries=200 if args.quick else 5000)
print("\n| T5 | EM | F1 |\n|---|---:|---:|")
for name, result in results.items():
    if isinstance(result, dict):
        print(f"| {name} | {result['scores']['exact_match']:.1f} | {result['scores']['f1']:.1f} |")
print(f"(questions about 20 held-out countries; {np.round(results['seconds'])} s)")

# %% [markdown]
# ## What you should see
# Measured with seed 0 (benchmarks/RESULTS.md, "Expected figures of the lessons"; the full
# T5 table is `benchmarks/t5_qa.py`'s).

# %%
expect("BERT: held-out countries, F1", scores["f1"], full=Expect(99.5, at_least=90),
       quick=Expect(5.36, at_least=2, at_most=50))
t5_full = {"context-based, pre-trained": Expect(39.69, at_least=25),  # it reads countries it never saw
           "closed-book, pre-trained": Expect(4.554, at_most=15),  # guessing each type's commonest answer: 4.4
           "closed-book, no pre-training": Expect(3.438, at_most=10)}
for name, result in results.items():
    if isinstance(result, dict):
        expect(f"T5 {name}: held-out countries, F1", result["scores"]["f1"], full=t5_full[name],
               quick=Expect(0.0, at_most=10))  # quick: too few steps to answer
summary("extractive QA points at a span of the context (BERT: a start and an end score per token); closed-book "
        "QA writes the answer from what pre-training stored in the weights (T5), and without pre-training "
        "there is nothing to recall",
        ["prepare_train_features", "postprocess_qa_predictions", "normalize_answer", "f1_score"])
