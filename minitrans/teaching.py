"""Small helpers the lessons share: their command line, step headers, pictures and counts."""

import argparse
import time
from pathlib import Path

import numpy as np


def lesson_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Every lesson takes --quick (tiny sizes, for CI: well under a minute) and --out (figures)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, runs in seconds")
    parser.add_argument("--out", default=None, help="folder for the figures (default outputs/<lesson>)")
    parser.add_argument("--seed", type=int, default=0)
    args, _ = parser.parse_known_args(argv)  # tolerate Jupyter's own arguments
    return args


def output_dir(args: argparse.Namespace, lesson: str) -> Path:
    folder = Path(args.out) if args.out else Path("outputs") / lesson
    folder.mkdir(parents=True, exist_ok=True)
    return folder


_started = time.time()


def step(title: str) -> None:
    """Print a step header, with the seconds since the lesson started."""
    print(f"\n=== {title}  [{time.time() - _started:.1f}s]")


def save_heatmap(matrix, path: Path, title: str, xlabels=None, ylabels=None) -> Path:
    """Save a (query, key) matrix, attention weights or a mask, as a PNG heat map."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matrix = np.asarray(matrix, dtype=float)
    fig, ax = plt.subplots(figsize=(1 + 0.45 * matrix.shape[1], 1 + 0.45 * matrix.shape[0]))
    ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(1.0, float(matrix.max())))
    ax.set_title(title)
    ax.set_xlabel("key")
    ax.set_ylabel("query")
    if xlabels is not None:
        ax.set_xticks(range(len(xlabels)), xlabels, rotation=90)
    if ylabels is not None:
        ax.set_yticks(range(len(ylabels)), ylabels)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_curves(curves: dict[str, list[float]], path: Path, title: str, xlabel: str = "step",
                ylabel: str = "loss") -> Path:
    """Save one or more curves (name -> values) in one PNG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in curves.items():
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
