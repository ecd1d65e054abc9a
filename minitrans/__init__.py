"""minitrans: a from-scratch, educational transformer framework in JAX + Flax NNX.

Start with `minitrans.nn` (the layers), `minitrans.masks` (the attention masks) and
`minitrans.models.encoder` (the course's encoder); the lessons in lessons/ walk through them.
"""

import os

__version__ = "0.1.0"

# XLA:CPU's default scheduler starts independent work as early as it can, so a training step
# computes parts of its backward pass during the forward pass and holds them to the end; the
# other one orders by memory: 20% less at a training step's peak, no slower (benchmarks/
# RESULTS.md, "The training step's memory"). XLA reads XLA_FLAGS once, when JAX first runs
# something, so it is set on import; a value the user set for the flag is kept.
_SCHEDULER_FLAG = "--xla_cpu_enable_concurrency_optimized_scheduler"
if _SCHEDULER_FLAG not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {_SCHEDULER_FLAG}=false".strip()


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
