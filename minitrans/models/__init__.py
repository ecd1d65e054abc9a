"""The models of the course, one architecture per file, and the registry of those that load
from a checkpoint folder.

A model file ends with `ARCHITECTURES`, its classes that have Hugging Face checkpoints; adding a
model is one new file plus its line in `MODEL_FILES`.
"""

import importlib

MODEL_FILES = ("bert", "distilbert", "gpt", "t5")


def registry() -> dict[str, type]:
    """{name in config.json's `architectures`: class} for every model minitrans can load."""
    known = {}
    for name in MODEL_FILES:
        for cls in importlib.import_module(f"minitrans.models.{name}").ARCHITECTURES:
            for architecture in cls.answers_to():
                known[architecture] = cls
    return known


def task_class(model_type: str, task: str) -> type:
    """The class of `model_type` ("bert", "distilbert", ...) for `task` ("question-answering",
    "masked-lm", "text-classification", "base", ...): how a checkpoint of one family is loaded
    for a task, whatever its family."""
    for cls in set(registry().values()):
        if cls.config_class.model_type == model_type and getattr(cls, "task", None) == task:
            return cls
    known = sorted({(cls.config_class.model_type, getattr(cls, "task", "?")) for cls in registry().values()})
    raise ValueError(f"minitrans has no {task!r} model for {model_type!r} checkpoints; it has "
                     + ", ".join(f"{t} ({m})" for m, t in known))


def load_for_task(folder, task: str, *, scratch: bool = False, seed: int = 0, dropout: float | None = None,
                  verbose: bool = True, **overrides):
    """The `task` model of a checkpoint folder's family (config.json's model_type): its weights,
    or with `scratch` its config and random weights (`seed`). `dropout` replaces every dropout
    rate of the config; `overrides` set other config fields (a head's `num_labels`); `verbose`
    reports the tensors a checkpoint lacks or leaves unused."""
    from flax import nnx

    from minitrans.checkpoints import read_config

    raw = read_config(folder)
    cls = task_class(raw.get("model_type", "bert"), task)
    if dropout is not None:
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        overrides.update({key: dropout for key in cls.config_class.dropout_keys})
    if scratch:
        return cls(cls.config_class.from_dict(raw, **overrides), rngs=nnx.Rngs(seed))
    return cls.from_pretrained(folder, verbose=verbose, **overrides)
