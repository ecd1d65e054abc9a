"""Every lesson runs end to end in --quick mode, as a script, and writes its figures."""

import subprocess
import sys
from pathlib import Path

import pytest

LESSONS = sorted((Path(__file__).resolve().parents[1] / "lessons").glob("[0-9][0-9]_*.py"))


def test_there_are_lessons():
    assert LESSONS


@pytest.mark.slow
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda p: p.stem)
def test_lesson_runs_in_quick_mode(lesson, tmp_path):
    command = [sys.executable, "-m", "minitrans.cli", "lesson", lesson.name[:2]] if lesson.name.startswith("01") \
        else [sys.executable, str(lesson)]  # lesson 01 through `minitrans lesson`, the others as scripts
    result = subprocess.run([*command, "--quick", "--out", str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "=== Step 1" in result.stdout
    assert list(tmp_path.glob("*.png")), "a lesson saves its figures as PNG"
    if lesson.name.startswith("01"):
        out = result.stdout
        assert "fully visible" in out and "causal with prefix 3" in out
        assert "FeedForwardBlock[\n  LayerNorm\n  Dense_32\n  Relu\n  Dropout\n  Dense_8\n  Dropout\n]" in out
        accuracy = float(out.split("held-out accuracy on 512 new sequences: ")[1].split("%")[0])
        assert accuracy > 60.0  # chance is 50%
