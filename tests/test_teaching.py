"""The lessons' expected figures: a figure outside its range is marked and fails the run (exit
status 1 as a script), a run with another seed shows them without failing, the table lists
expected against obtained, and every lesson states its figures and unlocks real exercises."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from minitrans.exercises import load_all
from minitrans.teaching import Expect

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.py"))

SCRIPT = textwrap.dedent("""
    import sys
    from minitrans.teaching import Expect, expect, lesson_args, percent, summary
    args = lesson_args("a lesson")
    expect("accuracy", float(sys.argv[1]), fmt=percent, full=Expect(0.9, at_least=0.8), quick=Expect(0.6, at_least=0.5))
    expect("loss", 1.0, full=None, quick=Expect(1.0, at_most=2.0))
    summary("what it showed", ["FeedForwardBlock"])
""")


def run(tmp_path, *argv):
    script = tmp_path / "lesson.py"
    script.write_text(SCRIPT)
    return subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True, timeout=120)


def test_figures_inside_their_range_pass_and_are_tabulated(tmp_path):
    result = run(tmp_path, "0.85")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "✓ accuracy: 85.0% (expected 90.0% (at least 80.0%))" in out
    assert "| accuracy | 90.0% (at least 80.0%) | 85.0%    | ✓ |" in out
    assert "| loss     | not measured yet" in out  # the full run's figure not measured: shown, not checked
    assert "What this lesson showed: what it showed" in out and "minitrans exercise start FeedForwardBlock" in out


def test_a_figure_outside_its_range_fails_the_script(tmp_path):
    result = run(tmp_path, "0.7")
    assert result.returncode == 1
    assert "✗ accuracy: 70.0%" in result.stdout and "| ✗ |" in result.stdout
    assert "1 figure(s) outside the expected range: accuracy" in result.stderr


def test_quick_mode_has_its_own_figures(tmp_path):
    assert run(tmp_path, "0.55", "--quick").returncode == 0
    failed = run(tmp_path, "0.45", "--quick")
    assert failed.returncode == 1 and "expected 60.0% (at least 50.0%)" in failed.stdout


def test_another_seed_shows_the_figures_without_failing(tmp_path):
    result = run(tmp_path, "0.7", "--seed", "3")
    assert result.returncode == 0 and "shown, not checked" in result.stdout


def test_a_range_must_hold_its_own_measurement():
    with pytest.raises(ValueError, match="outside its own range"):
        Expect(0.5, at_least=0.6)


def calls(lesson: Path, name: str) -> list[ast.Call]:
    """The calls of `name` (or of `name.something`, as Expect.exactly) in a lesson."""
    def called(func) -> bool:
        return getattr(func, "id", None) == name or getattr(getattr(func, "value", None), "id", None) == name
    return [node for node in ast.walk(ast.parse(lesson.read_text())) if isinstance(node, ast.Call) and called(node.func)]


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_every_lesson_states_its_figures_and_ends_with_a_summary(lesson):
    assert calls(lesson, "expect"), f"{lesson.name} checks no figure"
    summaries = calls(lesson, "summary")
    assert len(summaries) == 1, f"{lesson.name} must end with one summary(...)"
    unlocks = ast.literal_eval(summaries[0].args[1])
    unknown = [name for name in unlocks if name not in load_all()]
    assert not unknown, f"{lesson.name} unlocks exercises that do not exist: {unknown}"
    for call in calls(lesson, "Expect"):  # measured figures are numbers written down, not computed
        assert all(isinstance(a, ast.Constant) or (isinstance(a, ast.UnaryOp) and isinstance(a.operand, ast.Constant))
                   for a in [*call.args, *(k.value for k in call.keywords)]), \
            f"{lesson.name}:{call.lineno}: Expect(...) takes the measured numbers, not expressions"


def test_in_a_notebook_a_figure_outside_its_range_errors_the_last_cell(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SCRIPT.replace("float(sys.argv[1])", "0.45"))])
    monkeypatch.setenv("MINITRANS_LESSON_ARGS", "--quick")  # a notebook's arguments come from the environment
    with pytest.raises(CellExecutionError, match="FiguresOutsideExpected"):
        NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in notebook.cells[0].outputs)
    assert "✗ accuracy: 45.0% (expected 60.0% (at least 50.0%))" in printed


def test_the_step_headers_count_from_the_lessons_start_each_time_it_starts(monkeypatch, capsys):
    from minitrans import teaching

    clock = iter([100.0, 103.0, 500.0, 501.5])  # a lesson starts, a step; the lesson again, a step
    monkeypatch.setattr(teaching.time, "time", lambda: next(clock))
    teaching.lesson_args("a lesson", ["--quick"])
    teaching.step("Step 1")
    teaching.lesson_args("a lesson", ["--quick"])  # run again in the same kernel
    teaching.step("Step 1")
    assert capsys.readouterr().out.split() == ["===", "Step", "1", "[3.0s]", "===", "Step", "1", "[1.5s]"]
