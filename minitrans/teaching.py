"""Small helpers the lessons share: their command line, step headers, pictures, and the figures
a student should see.

A lesson states each figure it computes with the value it was measured at and the range that
counts as right, separately for the full run and for --quick (`expect`); it ends with
`summary`, a table of expected against obtained, each marked, what the lesson showed and the
exercises it unlocks. A figure outside its range fails the lesson: a non-zero exit as a script,
an error in the notebook's last cell. The figures were measured with seed 0; with another
--seed they are shown, not checked.
"""

import argparse
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from minitrans.plots import save_curves, save_heatmap  # noqa: F401  (the lessons' pictures)

MEASURED_SEED = 0  # the seed every expected figure was measured with


def in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (the lessons run as scripts and as notebooks)."""
    return "ipykernel" in sys.modules


def lesson_args(description: str, argv: list[str] | None = None) -> argparse.Namespace:
    """Every lesson takes --quick (tiny sizes, for CI: well under a minute) and --out (figures).
    In a notebook, where there is no command line, they come from the environment variable
    MINITRANS_LESSON_ARGS (for example "--quick")."""
    if argv is None and in_notebook():
        argv = shlex.split(os.environ.get("MINITRANS_LESSON_ARGS", ""))
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, runs in seconds")
    parser.add_argument("--out", default=None, help="folder for the figures (default outputs/<lesson>)")
    parser.add_argument("--seed", type=int, default=MEASURED_SEED)
    args, _ = parser.parse_known_args(argv)  # tolerate Jupyter's own arguments
    _run.update(quick=args.quick, seed=args.seed, figures=[], started=time.time())
    return args


def output_dir(args: argparse.Namespace, lesson: str) -> Path:
    folder = Path(args.out) if args.out else Path("outputs") / lesson
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# set by lesson_args, so a lesson run again in the same kernel counts its own seconds
_run = {"quick": False, "seed": MEASURED_SEED, "figures": [], "started": time.time()}


def step(title: str) -> None:
    """Print a step header, with the seconds since the lesson started."""
    print(f"\n=== {title}  [{time.time() - _run['started']:.1f}s]")


# --------------------------------------------------------------------------- expected figures


@dataclass(frozen=True)
class Expect:
    """A figure as measured (`value`, seed 0) and the range a correct run lands in."""
    value: float
    at_least: float = -math.inf
    at_most: float = math.inf

    def __post_init__(self):
        if not self.at_least <= self.value <= self.at_most:
            raise ValueError(f"the measured value {self.value} lies outside its own range "
                             f"[{self.at_least}, {self.at_most}]")

    @classmethod
    def exactly(cls, value: float) -> "Expect":
        """A figure with no room: a count, or anything computed without randomness."""
        return cls(value, at_least=value, at_most=value)

    def holds(self, obtained: float) -> bool:
        return math.isfinite(obtained) and self.at_least <= obtained <= self.at_most

    def describe(self, fmt) -> str:
        bounds = []
        if self.at_least > -math.inf:
            bounds.append(f"at least {fmt(self.at_least)}")
        if self.at_most < math.inf:
            bounds.append(f"at most {fmt(self.at_most)}")
        return f"{fmt(self.value)} ({', '.join(bounds)})" if bounds else fmt(self.value)


def percent(x: float) -> str:
    return f"{100 * x:.1f}%"


def expect(name: str, obtained: float, *, full: Expect | None, quick: Expect, fmt=None) -> bool:
    """Check a figure the lesson computed against what a student should see in this mode (full
    or --quick); print it marked and keep it for the summary. `fmt` formats the numbers
    (`percent` for fractions shown as percentages). `full=None`: the full run's figure has not
    been measured yet, so it is shown and not checked. Returns whether it holds."""
    fmt = fmt or (lambda x: f"{x:.4g}")
    wanted = quick if _run["quick"] else full
    obtained = float(obtained)
    if wanted is None:
        _run["figures"].append((name, "not measured yet", fmt(obtained), "-"))
        print(f"  {name}: {fmt(obtained)} (the full run's figure is not measured yet)")
        return True
    ok = wanted.holds(obtained)
    _run["figures"].append((name, wanted.describe(fmt), fmt(obtained), "✓" if ok else "✗"))
    print(f"{'✓' if ok else '✗'} {name}: {fmt(obtained)} (expected {wanted.describe(fmt)})")
    return ok


class FiguresOutsideExpected(AssertionError):
    """A lesson's figure fell outside its expected range."""


def summary(showed: str, unlocks: list[str]) -> None:
    """End a lesson: the table of expected against obtained figures, what the lesson showed,
    and the exercises it unlocks. A figure outside its range fails the lesson (exit status 1
    as a script, an error in a notebook), unless the run used another seed than the one the
    figures were measured with."""
    mode = "--quick" if _run["quick"] else "full run"
    print(f"\n=== Expected against obtained ({mode}, seed {_run['seed']})")
    rows = [("figure", "expected", "obtained", "")] + _run["figures"]  # (name, expected, obtained, mark)
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("| " + " | ".join(cell.ljust(w) for cell, w in zip(row, widths)) + " |")
        if i == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print(f"\nWhat this lesson showed: {showed}")
    if unlocks:
        print("Exercises it unlocks: " + ", ".join(unlocks) +
              f"\n  (`minitrans exercise start {unlocks[0]}`, then `minitrans exercise check {unlocks[0]}`)")
    else:
        print("Exercises it unlocks: none new (`minitrans exercise list` shows them all)")
    failed = [name for name, _, _, mark in _run["figures"] if mark == "✗"]
    if not failed:
        return
    if _run["seed"] != MEASURED_SEED:
        print(f"\n{len(failed)} figure(s) outside the range measured with seed {MEASURED_SEED}; "
              f"with seed {_run['seed']} they are shown, not checked.")
        return
    message = f"{len(failed)} figure(s) outside the expected range: {', '.join(failed)}"
    if in_notebook():
        raise FiguresOutsideExpected(message)
    print(f"\nFAILED: {message}", file=sys.stderr)
    raise SystemExit(1)
