"""The PNG figures of minitrans: curves (training loss, held-out accuracy, ...) and heat maps
(attention weights, masks). matplotlib is imported only when a figure is drawn."""

from pathlib import Path

import numpy as np


def pyplot():
    import matplotlib
    matplotlib.use("Agg")  # files only: no window, works without a display
    import matplotlib.pyplot as plt
    return plt


def save_curves(curves: dict[str, list], path: str | Path, title: str, xlabel: str = "step", ylabel: str = "loss",
                panels: bool = False, reference: float | None = None) -> Path:
    """One or more curves in one PNG: name -> y values (at x = 1, 2, ...) or (x, y) pairs.
    `panels` draws each curve in its own panel; `reference` adds a dashed horizontal line
    (chance level, say)."""
    plt = pyplot()
    count = len(curves) if panels else 1
    fig, axes = plt.subplots(1, count, figsize=(6.5 if count == 1 else 5 * count, 4), sharey=True, squeeze=False)
    for i, (name, values) in enumerate(curves.items()):
        ax = axes[0, i if panels else 0]
        points = [v if isinstance(v, (tuple, list)) else (n + 1, v) for n, v in enumerate(values)]
        ax.plot([x for x, _ in points], [y for _, y in points], "o-" if len(points) < 40 else "-", label=name)
        if reference is not None:
            ax.axhline(reference, color="grey", lw=0.8, ls="--")
        ax.set_title(name if panels else title, fontsize=10 if panels else None)
        ax.set_xlabel(xlabel)
    axes[0, 0].set_ylabel(ylabel)
    if not panels:
        axes[0, 0].legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_training_curves(history: list[dict], path: str | Path) -> Path:
    """A PNG of the training loss and of every evaluation figure against the step (a Trainer's history)."""
    plt = pyplot()
    train = [r for r in history if "loss" in r]
    evals = [r for r in history if any(k.startswith("eval_") for k in r)]
    names = sorted({k for r in evals for k in r if k.startswith("eval_")})
    fig, axes = plt.subplots(1, 1 + len(names), figsize=(4.5 * (1 + len(names)), 3.5), squeeze=False)
    axes[0, 0].plot([r["step"] for r in train], [r["loss"] for r in train], label="training loss")
    axes[0, 0].set_title("training loss")
    for ax, name in zip(axes[0, 1:], names):
        ax.plot([r["step"] for r in evals if name in r], [r[name] for r in evals if name in r], "o-")
        ax.set_title(name.replace("_", " "))
    for ax in axes[0]:
        ax.set_xlabel("step")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def save_heatmap(matrix, path: str | Path, title: str, xlabels=None, ylabels=None) -> Path:
    """Save a (query, key) matrix, attention weights or a mask, as a PNG heat map."""
    plt = pyplot()
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
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
