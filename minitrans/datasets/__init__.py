"""Data sets: readers for the real ones, and small synthetic ones the project writes itself."""

from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "data"


def bundled(name: str) -> Path:
    """A file of the project's data/ folder; the facts corpus is rewritten if it is missing."""
    path = DATA_DIR / name
    if not path.exists() and name == "facts_corpus.txt":
        from minitrans.datasets.synthetic import main
        main([str(path)])
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: data/ ships with the source checkout")
    return path


def shared(relative: str) -> Path | None:
    """A file of the real data beside the project (../shared/data, or $MINITRANS_DATA), or None."""
    import os

    root = Path(os.environ.get("MINITRANS_DATA", DATA_DIR.parent.parent / "shared" / "data"))
    path = root / relative
    return path if path.exists() else None
