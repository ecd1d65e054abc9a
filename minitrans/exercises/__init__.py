"""Unit-test exercises, the course's graded functions, run locally.

An exercise is a function or class of the library whose solution sits between
`# BEGIN SOLUTION` and `# END SOLUTION` markers. `start` writes a student copy of it, the
solution replaced by a stub that raises "not implemented yet"; `check` imports the student
copy and runs the exercise's graded checks on it, printing for each what was expected and
what came back. The checks compare values with independent computations (numpy), so each
fails on the stub and passes on a correct solution; the test suite proves both for every
exercise.

    minitrans exercise list
    minitrans exercise start EncoderBlock --dir my_exercises
    minitrans exercise check EncoderBlock --dir my_exercises
    minitrans exercise hint EncoderBlock
"""

import ast
import importlib
import importlib.util
import inspect
import json
import re
import subprocess
import sys
import textwrap
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


class CheckFailed(AssertionError):
    """A graded check found a wrong value; the message says what was expected."""


@dataclass(frozen=True)
class Check:
    description: str
    run: Callable[[object], None]  # raises CheckFailed (or anything) when the student is wrong


@dataclass(frozen=True)
class Exercise:
    name: str
    module: str  # where the reference solution lives
    object_name: str
    topic: str
    hint: str
    checks: tuple[Check, ...]

    def reference(self):
        return getattr(importlib.import_module(self.module), self.object_name)


EXERCISES: dict[str, Exercise] = {}


def exercise(name: str, module: str, topic: str, hint: str, object_name: str | None = None):
    """Register an exercise; the decorated function returns its list of `Check`s."""
    def register(make_checks: Callable[[], list[Check]]):
        EXERCISES[name] = Exercise(name, module, object_name or name, topic,
                                   textwrap.dedent(hint).strip(), tuple(make_checks()))
        return make_checks
    return register


def get(name: str) -> Exercise:
    load_all()
    if name not in EXERCISES:
        raise KeyError(f"no exercise named {name!r}; `minitrans exercise list` shows them: "
                       f"{', '.join(sorted(EXERCISES))}")
    return EXERCISES[name]


def load_all() -> dict[str, Exercise]:
    """Import every module that registers exercises."""
    for module in ("foundation", "bert", "lineage", "t5", "training", "qa", "tokenizers", "metrics"):
        importlib.import_module(f"minitrans.exercises.{module}")
    return EXERCISES


# --------------------------------------------------------------------------- assertions


def expect_close(what: str, got, expected, atol: float = 1e-5) -> None:
    """Raise CheckFailed saying where and by how much `got` differs from `expected`."""
    try:
        got_arr = np.asarray(got, dtype=np.float64)
    except Exception:
        raise CheckFailed(f"{what}: expected an array of shape {np.shape(expected)}, got {got!r}")
    expected = np.asarray(expected, dtype=np.float64)
    if got_arr.shape != expected.shape:
        raise CheckFailed(f"{what}: expected shape {expected.shape}, got shape {got_arr.shape}")
    if np.isnan(got_arr).any() and not np.isnan(expected).any():
        raise CheckFailed(f"{what}: expected no NaN, got NaN at {np.argwhere(np.isnan(got_arr))[0].tolist()}")
    bad = ~np.isclose(got_arr, expected, atol=atol, rtol=1e-4)
    if bad.any():
        index = tuple(np.argwhere(bad)[0].tolist())
        raise CheckFailed(f"{what}: {bad.sum()} of {bad.size} values differ; at index {list(index)} "
                          f"expected {expected[index]:.6g}, got {got_arr[index]:.6g}")


def expect_equal(what: str, got, expected) -> None:
    if isinstance(expected, str) or isinstance(got, str):  # text: show it as text
        if got != expected:
            raise CheckFailed(f"{what}:\n  expected: {expected}\n  got:      {got}")
        return
    try:
        got_arr, expected_arr = np.asarray(got), np.asarray(expected)
    except ValueError:  # ragged Python structures: compare them as they are
        if got != expected:
            raise CheckFailed(f"{what}: expected {expected!r}, got {got!r}") from None
        return
    if got_arr.shape != expected_arr.shape:
        raise CheckFailed(f"{what}: expected shape {expected_arr.shape}, got shape {got_arr.shape}"
                          + (f"\n  expected: {expected!r}\n  got:      {got!r}" if expected_arr.ndim <= 1 else ""))
    if not np.array_equal(got_arr, expected_arr):
        index = tuple(np.argwhere(got_arr != expected_arr)[0].tolist())
        raise CheckFailed(f"{what}: at index {list(index)} expected {expected_arr[index]!r}, "
                          f"got {got_arr[index]!r}\nexpected:\n{expected_arr}\ngot:\n{got_arr}")


def next_keep(module, path: str, shape: tuple, rate: float):
    """The dropout mask that the Dropout at `path` of `module` will draw on its next call (read
    from a copy, so the module itself still draws it), with its keep probability 1 - rate: the
    same random numbers for a numpy re-computation as for the code under test."""
    from flax import nnx

    from minitrans.exercises import numpy_reference
    from minitrans.nn import keep_mask

    dropout = numpy_reference.part(nnx.clone(module), path, "Dropout")
    return np.asarray(keep_mask(dropout.rngs(), shape, rate)), 1.0 - rate


# --------------------------------------------------------------------------- student copies


def stub_lines(indent: str, name: str) -> list[str]:
    return [f"{indent}# YOUR CODE HERE: replace the line below (`minitrans exercise hint {name}`).",
            f'{indent}raise NotImplementedError("not implemented yet: exercise {name}")']


def strip_solutions(source: str, name: str) -> str:
    """Replace every BEGIN/END SOLUTION region of `source` by a stub that raises."""
    out, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"exercise {name}: nested {BEGIN}")
            inside = True
            out.extend(stub_lines(line[: len(line) - len(line.lstrip())], name))
        elif stripped == END:
            if not inside:
                raise ValueError(f"exercise {name}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"exercise {name}: {BEGIN} without {END}")
    return "\n".join(out) + "\n"


def drop_markers(source: str) -> str:
    return "\n".join(line for line in source.splitlines()
                     if line.strip() not in (BEGIN, END)) + "\n"


def student_source(ex: Exercise, keep_solution: bool = False) -> str:
    """The text of a student copy: the library's names imported, then the exercise's code."""
    code = inspect.getsource(ex.reference())
    if BEGIN not in code:
        raise ValueError(f"exercise {ex.name}: {ex.module}.{ex.object_name} has no {BEGIN} marker")
    body = drop_markers(code) if keep_solution else strip_solutions(code, ex.name)
    module_source = inspect.getsource(importlib.import_module(ex.module))
    imports = [ast.get_source_segment(module_source, node)
               for node in ast.parse(module_source).body
               if isinstance(node, (ast.Import, ast.ImportFrom))]
    header = textwrap.dedent(f'''\
        """Exercise {ex.name} ({ex.topic}).

        Fill in the parts marked YOUR CODE HERE, then run:
            minitrans exercise check {ex.name} --dir <this folder>
        The reference lives in {ex.module}; everything that module can use, you can use here.
        """
        ''')
    return "\n".join([header, *imports, f"from {ex.module} import *  # noqa: F401,F403", "", "",
                      body])


def student_path(name: str, directory: str | Path) -> Path:
    return Path(directory) / f"{name}.py"


def start(name: str, directory: str | Path = "exercises", *, force: bool = False,
          keep_solution: bool = False) -> Path:
    """Write the student copy of exercise `name` into `directory`; never overwrite work."""
    ex = get(name)
    path = student_path(name, directory)
    if path.exists() and not force:
        raise FileExistsError(f"{path} already exists; it may hold your work. "
                              "Pass --force to overwrite it with a fresh copy.")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(student_source(ex, keep_solution=keep_solution))
    return path


def load_student(name: str, directory: str | Path):
    """Import the student's copy and return its version of the exercise's object."""
    ex = get(name)
    path = student_path(name, directory)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist: run `minitrans exercise start {name} "
                                f"--dir {directory}` first")
    module_name = f"minitrans_student_{re.sub(r'[^0-9a-zA-Z_]', '_', name)}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # so inspect and dataclasses can find it
    spec.loader.exec_module(module)
    obj = getattr(module, ex.object_name, None)
    if obj is None:
        raise CheckFailed(f"{path} defines no {ex.object_name}")
    if getattr(obj, "__module__", None) != module_name:
        raise CheckFailed(f"{path} does not define {ex.object_name} itself: the one it has comes from "
                          f"{getattr(obj, '__module__', 'elsewhere')} (the library's solution, imported by the "
                          f"`import *` line). Write your {ex.object_name} in this file.")
    return obj


@dataclass
class CheckResult:
    description: str
    passed: bool
    message: str = ""


def where_it_failed(error: BaseException, own_file: str | None) -> str:
    """" (at FILE:LINE: code)" for the deepest frame of the traceback in `own_file` (the code
    under test), else for the deepest frame of all."""
    frames = traceback.extract_tb(error.__traceback__)
    mine = [f for f in frames if own_file and f.filename == own_file]
    frame = (mine or frames or [None])[-1]
    if frame is None:
        return ""
    return f" (at {frame.filename}:{frame.lineno}" + (f": {frame.line.strip()}" if frame.line else "") + ")"


def run_checks(name: str, obj, first_failure: bool = False) -> list[CheckResult]:
    """Run every graded check of exercise `name` on `obj` (a student's or the reference); with
    `first_failure`, stop at the first check that fails."""
    try:
        own_file = inspect.getsourcefile(obj)
    except TypeError:
        own_file = None
    results = []
    for check in get(name).checks:
        try:
            check.run(obj)
            results.append(CheckResult(check.description, True))
        except NotImplementedError as error:
            results.append(CheckResult(check.description, False, str(error)))
        except CheckFailed as error:
            results.append(CheckResult(check.description, False, str(error)))
        except Exception as error:  # the code under test crashed: show where, in its own file
            results.append(CheckResult(check.description, False,
                                       f"raised {type(error).__name__}: {error}{where_it_failed(error, own_file)}"))
        if first_failure and not results[-1].passed:
            break
    return results


def check(name: str, directory: str | Path = "exercises", first_failure: bool = False) -> tuple[list[CheckResult], str]:
    """Grade the student's copy; returns the results and the printable report."""
    try:
        obj = load_student(name, directory)
    except (FileNotFoundError, CheckFailed) as error:
        return [CheckResult("load your copy", False, str(error))], f"FAIL  {error}"
    except Exception as error:
        message = f"your copy does not import: {type(error).__name__}: {error}"
        return [CheckResult("load your copy", False, message)], f"FAIL  {message}"
    results = run_checks(name, obj, first_failure)
    return results, report(name, results)


RESULT_MARKER = "MINITRANS-EXERCISE-RESULTS "


def check_isolated(name: str, directory: str | Path = "exercises", timeout: float = 60.0) -> tuple[list[CheckResult], str]:
    """Grade the student's copy in a child process with a time limit: a copy that loops forever,
    crashes the interpreter or calls sys.exit gets a report that says so, instead of hanging or
    ending the grader."""
    get(name)  # an unknown name fails here, with the list of names
    if timeout <= 0:
        raise ValueError(f"timeout must be > 0 seconds, got {timeout}")
    command = [sys.executable, "-m", "minitrans.exercises", name, str(directory)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        message = (f"the checks did not finish within {timeout:g} s: an endless loop in your copy? "
                   "(`--timeout SECONDS` allows more)")
        return [CheckResult("your copy runs within the time limit", False, message)], f"FAIL  {message}"
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        if done.returncode == 0:
            message = "your copy ended the program (sys.exit, exit or quit) before the checks could report"
        else:
            tail = "\n".join(done.stderr.strip().splitlines()[-6:])
            message = f"the checks stopped with exit code {done.returncode}:\n{tail}"
        return [CheckResult("your copy runs to the end of the checks", False, message)], f"FAIL  {message}"
    results = [CheckResult(**r) for r in json.loads(lines[-1][len(RESULT_MARKER):])]
    if len(results) == 1 and results[0].description == "load your copy":
        return results, f"FAIL  {results[0].message}"
    return results, report(name, results)


def report(name: str, results: list[CheckResult]) -> str:
    lines = [f"Exercise {name}"]
    for r in results:
        lines.append(f"  {'PASS' if r.passed else 'FAIL'}  {r.description}")
        if not r.passed:
            lines.extend("        " + line for line in r.message.splitlines())
    passed = sum(r.passed for r in results)
    lines.append(f"Score: {passed}/{len(results)}" + ("  - all checks pass!" if passed == len(results) else ""))
    return "\n".join(lines)
