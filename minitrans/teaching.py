"""Small helpers the lessons share: their command line, step headers and pictures."""

import argparse
import time
from pathlib import Path

from minitrans.plots import save_curves, save_heatmap  # noqa: F401  (the lessons' pictures)


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
