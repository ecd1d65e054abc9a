"""minitrans: a from-scratch, educational transformer framework in JAX + Flax NNX.

Start with `minitrans.nn` (the layers), `minitrans.masks` (the attention masks) and
`minitrans.models.encoder` (the course's encoder); the lessons in lessons/ walk through them.
"""

__version__ = "0.1.0"


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
