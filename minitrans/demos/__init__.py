"""Teaching demos: each writes one self-contained HTML page (data, script and style inline; no
network when it is viewed) that a teacher can open and project.

    minitrans demo NAME [--out FILE.html] [options]

Adding a demo is one new file here with a `build(...)` that returns the page, its script beside
it, and its line in DEMOS.
"""

import importlib
import inspect
from pathlib import Path

DEMOS = {
    "attention": "every layer and head of a pre-trained BERT on your sentence, and T5's three mask patterns",
    "masking": "BERT's 15% and 80 / 10 / 10, re-drawn on click, with a pre-trained model's predictions",
    "span-corruption": "T5's span corruption with its real vocabulary: the slide's example and your text",
    "peek": "why not bi-directional: a model that may peek at the next word copies it, and cannot generate",
    "embeddings": "CBOW's one vector per word against ELMo's vector per context, in 2-D",
}


def demo_module(name: str):
    if name not in DEMOS:
        raise ValueError(f"no demo {name!r}; the demos: " + "; ".join(f"{n} ({what})" for n, what in DEMOS.items()))
    return importlib.import_module(f"minitrans.demos.{name.replace('-', '_')}")


def options_of(name: str) -> list[str]:
    """The options a demo's page takes (the parameters of its build function)."""
    return list(inspect.signature(demo_module(name).build).parameters)


def write_demo(name: str, out: str | Path | None = None, **options) -> Path:
    """Write demo `name` to `out` (default outputs/demos/NAME.html) and return its path.
    `options` are the demo's own (see options_of); one it does not take is an error."""
    module = demo_module(name)
    unknown = sorted(set(options) - set(options_of(name)))
    if unknown:
        flags = lambda names: ", ".join("--" + n for n in names)
        raise ValueError(f"the {name} demo takes {flags(options_of(name)) or 'no options'}; not {flags(unknown)}")
    page = module.build(**options)
    path = Path(out) if out is not None else Path("outputs/demos") / f"{name}.html"
    from minitrans.checkpoints import atomic_write

    atomic_write(path, lambda tmp: Path(tmp).write_text(page, encoding="utf-8"))
    return path
