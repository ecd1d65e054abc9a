"""Every lesson runs end to end in --quick mode as a Jupyter notebook (jupytext reads the `# %%`
source, nbclient runs it in a real kernel), writes its figures, and ends with its table of
expected against obtained figures, every one inside its range.

A lesson is the same code as a script and as a notebook; the two differ only in the teaching
harness (where --quick comes from, how a figure out of range fails), which tests/test_teaching.py
holds. So each lesson runs once, as the notebook; the shortest, lesson 05, also as a script
through `minitrans lesson`; and every lesson is checked to use nothing a plain Python process
lacks (IPython's `display`, magics)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("[0-9][0-9]_*.py"))


def test_there_are_lessons():
    assert LESSONS


def test_the_lessons_and_the_tour_start_first(request):
    """conftest.py puts the longest tests at the head of the collection (the end of a run is
    then quick tests on both pytest-xdist workers): the files it names exist, and this run's
    collection starts with those of them it collected."""
    from conftest import LONGEST_FIRST, ROOT

    assert all((ROOT / path).is_file() for path in LONGEST_FIRST)
    files = [item.nodeid.split("::")[0] for item in request.session.items]
    collected = [path for path in LONGEST_FIRST if path in files]
    assert list(dict.fromkeys(files))[:len(collected)] == collected


def run_as_script(lesson: Path, out: Path) -> str:
    command = [sys.executable, "-m", "minitrans.cli", "lesson", lesson.name[:2], "--quick", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout


@pytest.fixture(scope="session")
def kernel():
    """One Jupyter kernel for all the lessons a test process runs. A new kernel for each lesson
    would start Python and import JAX, Flax and minitrans again (about 2.5 s a lesson) and compile
    again the eager operations every lesson uses. Each lesson still starts as in a fresh kernel:
    see FRESH."""
    from jupyter_client.manager import KernelManager

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel()
    yield manager
    manager.shutdown_kernel(now=True)


# run before a lesson's first cell: an empty namespace (a name the lesson does not define or
# import itself is an error, as in a new kernel), numpy's default print options, the lesson's
# own folder, and its "command line" (lesson_args reads it in a notebook)
FRESH = """%reset -f
import os, numpy
numpy.set_printoptions(**{options!r})
os.chdir({out!r})
os.environ["MINITRANS_LESSON_ARGS"] = {args!r}
del os, numpy"""


def run_as_notebook(lesson: Path, out: Path, kernel) -> str:
    import jupytext
    import nbformat
    import numpy
    from nbclient import NotebookClient

    notebook = jupytext.read(lesson)
    fresh = FRESH.format(options=numpy.get_printoptions(), out=str(out), args=f"--quick --out {out}")
    notebook.cells.insert(0, nbformat.v4.new_code_cell(fresh))
    NotebookClient(notebook, timeout=300, km=kernel).execute()
    return "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)


def check_run(printed: str, out: Path, mode: str) -> None:
    assert "=== Step 1" in printed, mode
    assert list(out.glob("*.png")), f"{mode}: a lesson saves its figures as PNG"
    table = printed.split("=== Expected against obtained (--quick, seed 0)")[1]
    assert "| ✓ |" in table and "| ✗ |" not in table and "What this lesson showed:" in table, (mode, table)


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_in_quick_mode_as_a_notebook(lesson, tmp_path, kernel):
    printed = run_as_notebook(lesson, tmp_path, kernel)
    check_run(printed, tmp_path, "notebook")
    for text in MUST_PRINT.get(lesson.stem, []):
        assert text in printed, (lesson.stem, text)


@pytest.mark.slow
def test_a_lesson_sees_nothing_the_previous_lesson_in_the_kernel_left(kernel, tmp_path):
    from nbclient.exceptions import CellExecutionError

    notebooks = {name: tmp_path / f"{name}.py" for name in ("first", "second", "third")}
    notebooks["first"].write_text("# %%\nimport numpy as np\nleftover = 1\nnp.set_printoptions(precision=2)\n")
    notebooks["second"].write_text("# %%\nimport numpy\nprint('precision', numpy.get_printoptions()['precision'])\n")
    notebooks["third"].write_text("# %%\nprint(leftover)\n")
    run_as_notebook(notebooks["first"], tmp_path, kernel)
    assert "precision 8" in run_as_notebook(notebooks["second"], tmp_path, kernel)  # numpy's default again
    with pytest.raises(CellExecutionError, match="name 'leftover' is not defined"):
        run_as_notebook(notebooks["third"], tmp_path, kernel)


MUST_PRINT = {"01_transformer_encoder": [  # the masks by name, and a layer drawn as the course draws it
    "fully visible", "causal with prefix 3",
    "FeedForwardBlock[\n  LayerNorm\n  Dense_32\n  Relu\n  Dropout\n  Dense_8\n  Dropout\n]"]}


@pytest.mark.slow
def test_a_lesson_runs_as_a_script_through_the_command_line(tmp_path):
    lesson = next(p for p in LESSONS if p.name.startswith("05"))  # the shortest: the harness, not the lesson, is checked
    check_run(run_as_script(lesson, tmp_path), tmp_path, "script")


IPYTHON_ONLY = {"display", "get_ipython", "In", "Out"}  # names a notebook has and a script does not


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_as_a_plain_script_too(lesson):
    source = lesson.read_text()
    tree = ast.parse(source)  # a syntax error (or a bare %magic line) fails here
    bound = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}
    bound |= {alias.asname or alias.name.split(".")[0] for node in ast.walk(tree)
              if isinstance(node, (ast.Import, ast.ImportFrom)) for alias in node.names}
    used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
    assert not (used & IPYTHON_ONLY) - bound, f"{lesson.name} uses {(used & IPYTHON_ONLY) - bound}: notebook-only"
    assert not [line for line in source.splitlines() if line.startswith(("%", "!"))], "a magic line in " + lesson.name
