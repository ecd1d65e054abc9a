"""The course's multi-task comparison (T5 paper, table 5) on GLUE: one T5 fine-tuned on a
mixture of tasks under each mixing strategy, against one T5 per task, all with the same number
of steps; each task's dev score.

    python benchmarks/multitask_t5.py --model outputs/t5_mini_gutenberg/model \\
        --tasks SST-2 MRPC RTE --steps 300 --mixing-limit 16384 --out outputs/multitask -- --lr 1e-3

Rows: single-task (one model per task, each trained the given steps on its task alone),
examples-proportional with the limit K (--mixing-limit), temperature-scaled (T = --temperature, same K)
and equal mixing. Everything after `--` goes to every `minitrans glue train` run. Runs already
in --out are not made again. Prints a Markdown table; writes OUT/multitask.png.
"""

import argparse
from pathlib import Path

from glue_seeds import run

from minitrans.datasets.glue import TASKS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a T5 checkpoint folder")
    parser.add_argument("--tasks", nargs="+", default=["SST-2", "MRPC", "RTE"], choices=list(TASKS))
    parser.add_argument("--steps", type=int, default=400, help="steps of every run (default 400)")
    parser.add_argument("--mixing-limit", type=int, default=16384, help="K of proportional and temperature mixing")
    parser.add_argument("--temperature", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/multitask")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then `minitrans glue train` flags")
    args = parser.parse_args()
    extra = [*(args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args), "--steps", str(args.steps)]
    out, mixture = Path(args.out), ",".join(args.tasks)
    rows = {"single-task (one model per task)": {}}
    minutes = {"single-task (one model per task)": 0.0}
    for task in args.tasks:
        scores, info = run(task, args.seed, args.model, out / f"single_{task}", extra)
        rows["single-task (one model per task)"][task] = scores
        minutes["single-task (one model per task)"] += info["seconds"] / 60
    k, t = args.mixing_limit, args.temperature
    strategies = {f"examples-proportional, K={k:,}": ["--mixing", "proportional", "--mixing-limit", str(k)],
                  f"temperature-scaled, T={t:g}, K={k:,}":
                      ["--mixing", "temperature", "--temperature", str(t), "--mixing-limit", str(k)],
                  "equal": ["--mixing", "equal"]}
    for name, flags in strategies.items():
        scores, info = run(mixture, args.seed, args.model, out / f"mixture_{flags[1]}", [*flags, *extra])
        rows[name], minutes[name] = scores, info["seconds"] / 60
        rows[name]["rates"] = info["rates"]

    metric = {task: TASKS[task].metrics[0] for task in args.tasks}
    print(f"\n| training | {' | '.join(f'{t} {metric[t]}' for t in args.tasks)} | mean | rates "
          f"({', '.join(args.tasks)}) | minutes |\n|---|" + "---|" * (len(args.tasks) + 3))
    for name, scores in rows.items():
        values = [100 * scores[t][metric[t]] for t in args.tasks]
        rates = ", ".join(f"{scores['rates'][t]:.2f}" for t in args.tasks) if "rates" in scores else "-"
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values)
              + f" | {sum(values) / len(values):.2f} | {rates} | {minutes[name]:.1f} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.8 / len(rows)
    for i, (name, scores) in enumerate(rows.items()):
        ax.bar(np.arange(len(args.tasks)) + i * width, [100 * scores[t][metric[t]] for t in args.tasks], width,
               label=name)
    ax.set_xticks(np.arange(len(args.tasks)) + width * (len(rows) - 1) / 2,
                  [f"{t} ({metric[t]})" for t in args.tasks])
    ax.set_ylabel("dev score (%)")
    ax.set_title(f"One T5 per task against one T5 on a mixture ({args.steps} steps each)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = out / "multitask.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
