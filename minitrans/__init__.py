"""minitrans: a from-scratch, educational transformer framework in JAX + Flax NNX.

Start with `minitrans.nn` (the layers), `minitrans.masks` (the attention masks) and
`minitrans.models.encoder` (the course's encoder); the lessons in lessons/ walk through them.
"""

import os
import sys
from pathlib import Path

__version__ = "0.1.0"

# XLA:CPU's default scheduler starts independent work as early as it can, so a training step
# computes parts of its backward pass during the forward pass and holds them to the end; the
# other one orders by memory: 20% less at a training step's peak, no slower (benchmarks/
# RESULTS.md, "The training step's memory"). XLA reads XLA_FLAGS once, when JAX first runs
# something, so it is set on import; a value the user set for the flag is kept.
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"
if _SCHEDULER_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_SCHEDULER_FLAG}=false".strip()

# XLA takes the large buffers of each run of a program (700 MB of temporaries for a BERT-mini
# training step) from glibc's malloc, which maps them afresh every time; the kernel then fills
# them 4 KB page by page: 174,000 page faults, a sixth of the step. With this tunable glibc
# asks for 2 MB pages there (transparent huge pages): 1,600 faults, the step 1.2x faster, the
# same numbers (benchmarks/RESULTS.md, "Page faults"). glibc reads it when a process starts, so
# the `minitrans` command restarts itself with it and `make` sets it; a Python of your own
# needs `export GLIBC_TUNABLES=glibc.malloc.hugetlb=1` before it starts (=0 keeps it off).
HUGE_PAGES = "glibc.malloc.hugetlb=1"


def huge_page_environment(environ: dict | None = None) -> dict | None:
    """A copy of `environ` (default os.environ) with HUGE_PAGES added to GLIBC_TUNABLES; None when
    the tunable is set already (to any value) or cannot help: not Linux with glibc 2.35 or later,
    or the kernel's transparent huge pages off."""
    environ = os.environ if environ is None else environ
    tunables = environ.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb" in tunables or not sys.platform.startswith("linux"):
        return None
    import platform

    name, version = platform.libc_ver()
    if name != "glibc" or tuple(int(part) for part in version.split(".")[:2]) < (2, 35):
        return None
    try:
        if "[never]" in Path("/sys/kernel/mm/transparent_hugepage/enabled").read_text():
            return None
    except OSError:
        return None
    return {**environ, "GLIBC_TUNABLES": f"{tunables}:{HUGE_PAGES}" if tunables else HUGE_PAGES}


def restart_with_huge_pages() -> None:
    """Replace this process by the same command line with HUGE_PAGES, when that helps. For a
    program's entry point only: what ran before the call runs again."""
    environ = huge_page_environment()
    if environ is not None:
        os.execve(sys.executable, sys.orig_argv, environ)


def from_pretrained(folder, **kwargs):
    """Load any checkpoint folder, choosing the class named by `architectures` in config.json."""
    from minitrans import checkpoints
    from minitrans.models import registry

    config = checkpoints.read_config(folder)
    known = registry()
    names = config.get("architectures") or []
    if not names or names[0] not in known:
        raise checkpoints.CheckpointError(
            f"{folder}/config.json names architectures={names!r}; minitrans knows {', '.join(sorted(known))}")
    return known[names[0]].from_pretrained(folder, **kwargs)


def pipeline(task: str, model, tokenizer=None, **options):
    """`minitrans.pipelines.pipeline`: a task's three stages around a checkpoint folder or model."""
    from minitrans.pipelines import pipeline as make

    return make(task, model, tokenizer, **options)
