"""The course's table of fine-tuning methods (T5 paper, table 6) on one small GLUE task: every
strategy of `minitrans glue train --strategy` over several seeds, with the dev score (mean ±
standard deviation), the trainable parameters and the time; a Markdown table and a figure.

    python benchmarks/fine_tuning_methods.py --task RTE --seeds 0 1 2 --full-lr 1e-4 --out outputs/methods -- \
        --minutes 10 --epochs 3 --dropout 0

Rows: all parameters, feature-based (the head only), adapters with d = 32, 128, 512, 2048, and
gradual unfreezing. Everything after `--` goes to every `minitrans glue train` run (the same
budget for each row); the learning rate is each strategy's default (5e-5 when everything trains,
1e-3 for the head or adapters) unless given there, and --full-lr sets it for the rows that train
the whole network (all parameters, gradual unfreezing) only. Runs already in --out are not made
again.
Writes OUT/fine_tuning_methods.png.
"""

import argparse
from pathlib import Path

from glue_seeds import mean_sd, run

from minitrans.checkpoints import minilm_folder
from minitrans.datasets.glue import TASKS, load_glue

ROWS = {"all parameters": "all", "feature-based (head only)": "feature", "adapters d=32": "adapters-32",
        "adapters d=128": "adapters-128", "adapters d=512": "adapters-512", "adapters d=2048": "adapters-2048",
        "gradual unfreezing": "gradual"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", default="RTE", choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model", help="a checkpoint folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--out", default="outputs/methods")
    parser.add_argument("--full-lr", type=float, help="learning rate of the rows that train every layer")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then `minitrans glue train` flags")
    args = parser.parse_args()
    extra = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    model = args.model or str(minilm_folder(required=True))
    metric = TASKS[args.task].metrics[0]
    table = {}

    def full_lr(strategy):
        return ["--lr", str(args.full_lr)] if args.full_lr and strategy in ("all", "gradual") else []

    for name, strategy in ROWS.items():
        runs = [run(args.task, seed, model, Path(args.out) / f"{args.task}_{strategy}_seed{seed}",
                    ["--strategy", strategy, *extra, *full_lr(strategy)]) for seed in args.seeds]
        table[name] = ([100 * scores[metric] for scores, _ in runs], runs[0][1]["trainable_parameters"],
                       [info["seconds"] / 60 for _, info in runs])
    print(f"\n| method | dev {metric} (mean ± sd over seeds {', '.join(map(str, args.seeds))}) | trainable parameters "
          "| minutes per run |\n|---|---|---|---|")
    for name, (values, trainable, minutes) in table.items():
        print(f"| {name} | {mean_sd(values)} | {trainable:,} | {sum(minutes) / len(minutes):.1f} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(9, 4.5))
    names = list(table)
    means = [np.mean(table[n][0]) for n in names]
    errors = [np.std(table[n][0], ddof=1) if len(table[n][0]) > 1 else 0 for n in names]
    ax.bar(range(len(names)), means, yerr=errors if len(args.seeds) > 1 else None, capsize=4, color="tab:blue")
    for i, n in enumerate(names):  # every seed's score as a dot
        ax.plot([i] * len(table[n][0]), table[n][0], "k.", markersize=5)
    labels = [n.replace(" (", "\n(").replace("adapters ", "adapters\n").replace(" unfreezing", "\nunfreezing")
              + f"\n{table[n][1]:,} trained" for n in names]
    ax.set_xticks(range(len(names)), labels, fontsize=7)
    if metric == "accuracy":
        labels_dev = [ex.label for ex in load_glue(args.task, "dev")]
        majority = 100 * max(labels_dev.count(c) for c in set(labels_dev)) / len(labels_dev)
        ax.axhline(majority, color="grey", linestyle="--", linewidth=1, label=f"majority class ({majority:.1f}%)")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_ylabel(f"dev {metric} (%)")
    ax.set_ylim(min(means) - 10, max(max(v) for v, _, _ in table.values()) + 5)
    seeds = f"{len(args.seeds)} seed{'s' if len(args.seeds) > 1 else ''}"
    ax.set_title(f"Fine-tuning methods on {args.task}, {args.model or 'all-MiniLM-L6-v2'}, same budget "
                 f"({seeds}: bar the mean, dots each)")
    fig.tight_layout()
    path = Path(args.out) / "fine_tuning_methods.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
