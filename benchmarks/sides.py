"""One side of a side-by-side benchmark, in its own process.

A benchmark script runs itself again with `--child SPEC` (SPEC: JSON with at least "side") in
a given Python: ours in this one, the reference in a venv with torch and transformers. Both get
2 threads; the child prints its figures as one JSON line, last. Each side runs as its users run
it: ours with glibc's huge pages, as the `minitrans` command and `make` set them
(minitrans.HUGE_PAGES), the reference without (torch's steps are slower with them:
benchmarks/RESULTS.md, "Page faults").
"""

import json
import os
import subprocess

ENVIRONMENTS = "ours with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (as the minitrans command sets it), the reference without"
_told = False  # ENVIRONMENTS is printed once per benchmark run


def side_environment(side: str) -> dict:
    """The environment of a side's process: 2 threads; glibc's huge pages for ours, none for the reference."""
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", BENCH_THREADS="2")
    tunables = [t for t in env.pop("GLIBC_TUNABLES", "").split(":") if t and not t.startswith("glibc.malloc.hugetlb")]
    if tunables:
        env["GLIBC_TUNABLES"] = ":".join(tunables)
    if side == "ours":
        import minitrans  # here, not above: the reference's Python imports this file too, without minitrans

        env = minitrans.huge_page_environment(env) or env
    return env


def run_side(script: str, python: str, spec: dict, *, strict: bool = True) -> dict | None:
    """The figures `script --child SPEC` prints in `python`. A side that fails ends the run
    (`strict`) or is reported and gives None."""
    global _told
    if not _told:
        print(f"each side in its own process with 2 threads: {ENVIRONMENTS}", flush=True)
        _told = True
    env = side_environment(spec["side"])
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
