"""`python -m minitrans.exercises NAME DIR`: grade a student's copy in this process and print the
results as one marked JSON line; `minitrans exercise check` runs it as a child process with a
time limit (minitrans.exercises.check_isolated), so a copy that loops forever or exits cannot
take the grader with it."""

import dataclasses
import json
import sys

from minitrans.exercises import RESULT_MARKER, check

if __name__ == "__main__":
    results, _ = check(sys.argv[1], sys.argv[2])
    print(RESULT_MARKER + json.dumps([dataclasses.asdict(r) for r in results]), flush=True)
