"""The `minitrans` command.

    minitrans lesson list                     the step-through lessons
    minitrans lesson 01 [--quick]             run lesson 01 (arguments pass through)
    minitrans exercise list                   the unit-test exercises
    minitrans exercise start NAME [--dir D]   write your copy of an exercise, solution stubbed
    minitrans exercise check NAME [--dir D]   grade your copy, check by check
    minitrans exercise hint NAME              a hint
"""

import argparse
import os
import subprocess
import sys
from pathlib import Path


def lessons_dir() -> Path:
    """The lessons/ folder of the source checkout (the library itself never imports lessons)."""
    folder = Path(os.environ.get("MINITRANS_LESSONS", Path(__file__).resolve().parents[1] / "lessons"))
    if not folder.is_dir():
        raise SystemExit(f"no lessons folder at {folder}: lessons ship with the source checkout; "
                         "set MINITRANS_LESSONS to its lessons/ folder")
    return folder


def lesson_files() -> dict[str, Path]:
    return {path.name.split("_")[0]: path for path in sorted(lessons_dir().glob("[0-9][0-9]_*.py"))}


def cmd_lesson(args, rest: list[str]) -> int:
    lessons = lesson_files()
    if args.number == "list":
        for number, path in lessons.items():
            print(f"{number}  {path.stem[3:].replace('_', ' ')}   ({path})")
        return 0
    number = args.number.zfill(2)
    if number not in lessons:
        raise SystemExit(f"no lesson {args.number!r}; expected one of {', '.join(lessons)} "
                         "(`minitrans lesson list`)")
    return subprocess.call([sys.executable, str(lessons[number]), *rest])


def cmd_exercise(args) -> int:
    from minitrans import exercises

    exercises.load_all()
    if args.action == "list":
        width = max(len(name) for name in exercises.EXERCISES)
        for name, ex in exercises.EXERCISES.items():
            print(f"{name:<{width}}  {ex.topic}  ({len(ex.checks)} checks; reference: "
                  f"{ex.module}.{ex.object_name})")
        return 0
    if not args.name:
        raise SystemExit(f"`minitrans exercise {args.action}` needs an exercise NAME; "
                         f"one of: {', '.join(exercises.EXERCISES)}")
    try:
        ex = exercises.get(args.name)
    except KeyError as error:
        raise SystemExit(error.args[0])
    if args.action == "hint":
        print(f"Hint for {ex.name}:\n{ex.hint}")
        return 0
    if args.action == "start":
        try:
            path = exercises.start(ex.name, args.dir, force=args.force)
        except FileExistsError as error:
            raise SystemExit(str(error))
        print(f"Wrote {path}. Fill in the parts marked YOUR CODE HERE, then run:\n"
              f"  minitrans exercise check {ex.name} --dir {args.dir}")
        return 0
    results, text = exercises.check(ex.name, args.dir)
    print(text)
    return 0 if all(r.passed for r in results) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="minitrans", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    lesson = commands.add_parser("lesson", help="run a step-through lesson")
    lesson.add_argument("number", help="a lesson number such as 01, or 'list'")

    exercise = commands.add_parser("exercise", help="unit-test exercises")
    exercise.add_argument("action", choices=["list", "start", "check", "hint"])
    exercise.add_argument("name", nargs="?")
    exercise.add_argument("--dir", default="exercises", help="folder of your copies (default: exercises)")
    exercise.add_argument("--force", action="store_true", help="start: overwrite an existing copy")

    args, rest = parser.parse_known_args(argv)
    if args.command == "lesson":
        return cmd_lesson(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    return cmd_exercise(args)


if __name__ == "__main__":
    sys.exit(main())
