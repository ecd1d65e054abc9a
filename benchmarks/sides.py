"""One side of a side-by-side benchmark, in its own process.

A benchmark script runs itself again with `--child SPEC` (SPEC: JSON with at least "side") in
a given Python: ours in this one, the reference in a venv with torch and transformers. Both get
2 threads; the child prints its figures as one JSON line, last.
"""

import json
import os
import subprocess


def run_side(script: str, python: str, spec: dict, *, strict: bool = True) -> dict | None:
    """The figures `script --child SPEC` prints in `python`. A side that fails ends the run
    (`strict`) or is reported and gives None."""
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", BENCH_THREADS="2")
    out = subprocess.run([python, script, "--child", json.dumps(spec)], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        message = f"the {spec['side']} side failed:\n{out.stderr[-3000:]}"
        if strict:
            raise SystemExit(message)
        print(message)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def has_torch(python: str) -> bool:
    """Whether `python` can import torch and transformers (the reference side's needs)."""
    return subprocess.run([python, "-c", "import torch, transformers"], capture_output=True).returncode == 0
