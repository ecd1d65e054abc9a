"""Every exercise: its checks pass on the reference solution and fail on the untouched stub."""

import re

import pytest

from minitrans import exercises
from minitrans.cli import main

NAMES = sorted(exercises.load_all())


def test_the_foundation_exercises_exist():
    assert {"scaled_dot_product_attention", "causal_mask", "prefix_lm_mask", "FeedForwardBlock",
            "EncoderBlock", "TransformerEncoder"} <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_checks_pass_on_the_reference_and_on_a_solved_copy(name, tmp_path):
    assert all(r.passed for r in exercises.run_checks(name, exercises.get(name).reference()))
    exercises.start(name, tmp_path, keep_solution=True)
    results, text = exercises.check(name, tmp_path)
    assert all(r.passed for r in results), text
    assert f"Score: {len(results)}/{len(results)}" in text


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow
def test_every_check_fails_on_the_untouched_stub(name, tmp_path):
    path = exercises.start(name, tmp_path)
    source = path.read_text()
    assert "BEGIN SOLUTION" not in source and "YOUR CODE HERE" in source
    results, text = exercises.check(name, tmp_path)
    assert len(results) == len(exercises.get(name).checks) >= 3
    assert not any(r.passed for r in results), text
    assert all(f"not implemented yet: exercise {name}" in r.message for r in results)
    assert f"Score: 0/{len(results)}" in text


def test_a_wrong_solution_gets_expected_versus_got(tmp_path):
    path = exercises.start("scaled_dot_product_attention", tmp_path, keep_solution=True)
    path.write_text(path.read_text().replace(
        "scores = scores / jnp.sqrt(jnp.asarray(q.shape[-1], scores.dtype))", "pass"))
    results, text = exercises.check("scaled_dot_product_attention", tmp_path)
    assert not results[0].passed and results[1].passed  # scaled=False still right
    assert re.search(r"at index \[.*\] expected -?\d.*, got -?\d", results[0].message), text


def test_a_half_done_encoder_block_fails_only_the_missing_part(tmp_path):
    path = exercises.start("EncoderBlock", tmp_path, keep_solution=True)
    source = path.read_text()
    start = source.index("        else:\n            super().__init__(\n                Residual(attention")
    path.write_text(source[:start] + "        else:\n            raise NotImplementedError('post-LN: not yet')\n"
                    + source[source.index("        # END", start) if "# END" in source[start:] else len(source):])
    results, _ = exercises.check("EncoderBlock", tmp_path)
    assert [r.passed for r in results] == [True, True, True, False, True, True]


@pytest.mark.slow
def test_cli_start_check_hint_and_list(tmp_path, capsys):
    assert main(["exercise", "list"]) == 0
    assert "EncoderBlock" in capsys.readouterr().out
    assert main(["exercise", "start", "EncoderBlock", "--dir", str(tmp_path)]) == 0
    assert (tmp_path / "EncoderBlock.py").exists()
    assert main(["exercise", "start", "EncoderBlock", "--dir", str(tmp_path)]) == 2
    assert "already exists; it may hold your work" in capsys.readouterr().err
    assert main(["exercise", "check", "EncoderBlock", "--dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "FAIL" in out and "Score: 0/6" in out and "not implemented yet: exercise EncoderBlock" in out
    assert main(["exercise", "start", "EncoderBlock", "--dir", str(tmp_path), "--force"]) == 0
    assert main(["exercise", "hint", "EncoderBlock"]) == 0
    assert "Residual(LayerNorm, attention, dropout)" in capsys.readouterr().out
    assert main(["exercise", "check", "Nope"]) == 2
    assert "no exercise named 'Nope'" in capsys.readouterr().err
    missing = tmp_path / "empty"
    assert main(["exercise", "check", "causal_mask", "--dir", str(missing)]) == 1
    assert "run `minitrans exercise start causal_mask" in capsys.readouterr().out


def test_a_copy_without_its_own_definition_is_rejected(tmp_path):
    """The copy star-imports the library module: with the definition deleted, the library's own
    solution would be graded. The grader refuses it and says why."""
    path = exercises.start("causal_mask", tmp_path, keep_solution=True)
    source = path.read_text()
    path.write_text(source[:source.index("def causal_mask")])
    results, text = exercises.check("causal_mask", tmp_path)
    assert len(results) == 1 and not results[0].passed
    assert "does not define causal_mask itself" in text and "minitrans.masks" in text


def test_a_crash_is_located_in_the_students_file(tmp_path):
    path = exercises.start("TransformerEncoder", tmp_path, keep_solution=True)
    source = path.read_text()
    path.write_text(source.replace("mask=padding_mask(attention_mask))", "mask=attention_mask)"))
    results, _ = exercises.check("TransformerEncoder", tmp_path)
    crashed = [r for r in results if "raised" in r.message]
    assert crashed and all(f"(at {path}:" in r.message and "mask=attention_mask" in r.message for r in crashed)


def test_text_prints_as_text(tmp_path):
    path = exercises.start("normalize_answer", tmp_path, keep_solution=True)
    path.write_text(path.read_text().replace("    text = text.lower()\n", ""))
    results, text = exercises.check("normalize_answer", tmp_path)
    assert "  expected: denver broncos\n" in text and "  got:      The Denver Broncos\n" in text
