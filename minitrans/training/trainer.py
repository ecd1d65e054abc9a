"""The training loop of minitrans; every model trains through it. One line, as in the course:

    Trainer(model, train_data, eval_data=..., args=TrainingArguments(num_epochs=3, warmup_steps=100,
            weight_decay=0.01, learning_rate=5e-5), loss_fn=..., metrics=...).train()

- data: a list of examples (batched by `collate`, shuffled each epoch with a seed, or grouped
  by length), or a batch source `batches(step) -> dict` (pre-training draws its batches so);
- budget: epochs, `max_steps`, or `max_seconds` of wall clock (whichever ends first); a run
  bounded by time alone keeps the learning rate constant after the warm-up;
- AdamW with linear warm-up then linear or cosine decay, no weight decay on biases and norms,
  clipping by global norm, gradient accumulation weighted by tokens (minitrans.training.step);
- one jitted pure step; the host waits only for the step before the one just dispatched (so
  the progress bar counts finished steps and its time estimate holds), and reads losses back
  only when logging;
- evaluation every `eval_every` steps: `eval_data` (the loss function's metrics and `metrics`
  functions, dropout off) or any `evaluate(model) -> dict` (say, SQuAD F1 on held-out questions,
  or BLEU and ROUGE of generated text: `generation_metrics`), keeping the best checkpoint;
- checkpoints: the model in its own format plus the training state (optimizer state and
  dropout RNG state as safetensors, step and history as JSON), written to a temporary folder
  and renamed, so a crash mid-save never leaves a broken checkpoint; `train(resume_from=...)`
  continues exactly where it stopped;
- data parallelism: each batch is split over all JAX devices (a Mesh with one "data" axis),
  and every device holds a copy of the state (`replicate`); on one device nothing changes.
  Several hosts: call jax.distributed.initialize() first.
"""

import dataclasses
import json
import os
import shutil
import signal
import tempfile
import threading
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from minitrans.datasets.streaming import length_grouped_order
from minitrans.kernels import matmul_dtype, matmul_precision
from minitrans.losses import accuracy, cross_entropy
from minitrans.plots import save_training_curves
from minitrans.training.step import TrainState, adamw_with_warmup
from minitrans.training.transfer import freeze


@dataclasses.dataclass(frozen=True)
class TrainingArguments:
    output_dir: str | None = None
    num_epochs: int = 1
    max_steps: int | None = None
    max_seconds: float | None = None  # stop when training has run this long
    batch_size: int = 32
    learning_rate: float = 5e-5
    warmup_steps: int = 0
    weight_decay: float = 0.01
    schedule: str = "linear"  # after the warm-up: "linear" or "cosine" decay to 0, or "constant"
    max_grad_norm: float | None = 1.0
    gradient_accumulation_steps: int = 1
    eval_every: int | None = None
    save_every: int | None = None
    keep_best: str | None = None  # a metric name: keep the checkpoint where it was best
    greater_is_better: bool = True
    log_every: int = 10
    seed: int = 0
    progress_bar: bool = True
    group_by_length: bool = False  # batches of similar lengths (less padding; needs a padding collate)
    overwrite_output_dir: bool = False  # a fresh run into a folder that holds another run's files

    def __post_init__(self):
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be > 0, got {self.learning_rate}")
        if self.batch_size < 1 or self.num_epochs < 1 or self.gradient_accumulation_steps < 1:
            raise ValueError("batch_size, num_epochs and gradient_accumulation_steps must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be at least 1, got {self.max_steps}")
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise ValueError(f"max_seconds must be > 0, got {self.max_seconds}")
        if self.log_every < 1 or (self.eval_every is not None and self.eval_every < 1):
            raise ValueError("log_every and eval_every must be at least 1")
        if self.save_every is not None and (self.save_every < 1 or self.save_every % self.gradient_accumulation_steps):
            raise ValueError(f"save_every must be a positive multiple of gradient_accumulation_steps "
                             f"({self.gradient_accumulation_steps}), got {self.save_every}")


def stack_examples(examples: list[dict]) -> dict:
    """The default collate: stack each field of equally shaped examples."""
    return {key: np.stack([np.asarray(e[key]) for e in examples]) for key in examples[0]}


def real_tokens(batch: dict) -> int:
    """The batch's real (non-padding) tokens: its attention mask, or its non-zero input ids."""
    mask = batch["attention_mask"] if "attention_mask" in batch else np.asarray(batch.get("input_ids", [[0]])) != 0
    return int(np.asarray(mask).astype(bool).sum())


def is_key(leaf) -> bool:
    return hasattr(leaf, "dtype") and jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key)


def flatten(tree) -> dict[str, np.ndarray]:
    """A pytree as {path: array}, for safetensors (random keys stored as their key data)."""
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    return {jax.tree_util.keystr(path): np.asarray(jax.random.key_data(leaf) if is_key(leaf) else leaf)
            for path, leaf in leaves}


def unflatten(tree, arrays: dict[str, np.ndarray]):
    leaves, treedef = jax.tree_util.tree_flatten_with_path(tree)
    missing = [jax.tree_util.keystr(p) for p, _ in leaves if jax.tree_util.keystr(p) not in arrays]
    if missing:
        raise ValueError(f"the checkpoint does not fit this model and optimizer: missing {missing[:3]}")
    values = []
    for path, leaf in leaves:
        value = arrays[jax.tree_util.keystr(path)]
        if is_key(leaf):
            values.append(jax.random.wrap_key_data(jnp.asarray(value), impl=jax.random.key_impl(leaf)))
            continue
        if tuple(value.shape) != tuple(np.shape(leaf)):
            raise ValueError(f"the checkpoint does not fit this model: {jax.tree_util.keystr(path)} has shape "
                             f"{tuple(value.shape)}, expected {tuple(np.shape(leaf))}")
        values.append(jnp.asarray(value, dtype=np.asarray(leaf).dtype) if hasattr(leaf, "dtype") else value)
    return jax.tree_util.tree_unflatten(treedef, values)


def mean_metrics(loss_fn: Callable, batches: list[dict]) -> Callable:
    """evaluate(model) -> the loss function's metrics averaged over fixed held-out `batches`
    (dropout off), compiled once: the held-out figures of pre-training."""
    batches = [{k: jnp.asarray(v) for k, v in b.items()} for b in batches]
    compiled = {}

    def evaluate(model) -> dict:
        model.eval()
        graphdef, state = nnx.split(model)
        if graphdef not in compiled:
            compiled[graphdef] = jax.jit(lambda s, b: loss_fn(nnx.merge(graphdef, s), b)[1])
        totals: dict[str, float] = {}
        for batch in batches:
            for k, v in compiled[graphdef](state, batch).items():
                if k != "tokens":
                    totals[k] = totals.get(k, 0.0) + float(v) / len(batches)
        return totals

    return evaluate


def generated_texts(model, tokenizer, sources: list[str], *, max_new_tokens: int = 64, num_beams: int = 1,
                    batch_size: int = 32, max_length: int = 512) -> list[str]:
    """What `model` writes for each source text (T5: greedy or beam search from the decoder
    start), decoded. Sources are cut at `max_length` tokens and padded to a multiple of 16, and
    every batch to `batch_size` rows: few shapes, few compilations."""
    from minitrans.datasets.streaming import pad_rows
    from minitrans.generation import generate

    outputs = []
    for start in range(0, len(sources), batch_size):
        chunk = [tokenizer.encode(text)[:max_length] for text in sources[start:start + batch_size]]
        length = -(-max(len(ids) for ids in chunk) // 16) * 16
        ids = pad_rows(chunk + [[]] * (batch_size - len(chunk)), length)
        ids[len(chunk):, 0] = ids[0, 0]  # filler rows: one real token each, never read
        rows = generate(model, ids, max_new_tokens=max_new_tokens, num_beams=num_beams)
        outputs += [tokenizer.decode(row).strip() for row in rows[:len(chunk)]]
    return outputs


def generation_metrics(tokenizer, sources: list[str], references: list[str], *, metrics=("bleu", "rouge"),
                       stem: bool = True, **generation) -> Callable:
    """evaluate(model) -> corpus BLEU (0-100, sacrebleu's) and the mean ROUGE-1/2/L F-measures
    (0-1, rouge-score's, with stemming) of the model's generated texts against `references`:
    what the Trainer's `evaluate=` takes to follow a generative task while it trains.
    `generation`: `generated_texts`' options (max_new_tokens, num_beams, ...)."""
    from minitrans import metrics as scoring

    if not sources or len(sources) != len(references):
        raise ValueError(f"need one reference per source and at least one of each; got {len(sources)} sources "
                         f"and {len(references)} references")
    unknown = sorted(set(metrics) - {"bleu", "rouge"})
    if unknown:
        raise ValueError(f"unknown generation metric(s) {unknown}; expected 'bleu' and/or 'rouge'")

    def evaluate(model) -> dict:
        texts = generated_texts(model, tokenizer, sources, **generation)
        figures = {}
        if "bleu" in metrics:
            figures["bleu"] = scoring.corpus_bleu(texts, [references])["score"]
        if "rouge" in metrics:
            scores = [scoring.rouge(text, reference, stem=stem) for text, reference in zip(texts, references)]
            for kind in ("rouge1", "rouge2", "rougeL"):
                figures[kind] = float(np.mean([score[kind]["fmeasure"] for score in scores]))
        return figures

    return evaluate


class TrainingInterrupted(KeyboardInterrupt):
    """Training stopped by Ctrl-C (SIGINT) or SIGTERM, after finishing its step and saving the
    checkpoint it names (if the run has an output folder)."""

    def __init__(self, step: int, checkpoint: Path | None):
        self.step, self.checkpoint = step, checkpoint
        super().__init__(f"interrupted at step {step}" + (f"; saved {checkpoint}" if checkpoint else ""))


class TrainingDiverged(RuntimeError):
    """The training loss became NaN or infinite; the last good checkpoint is kept as it was."""


RUN_FILES = ("log.jsonl", "latest", "best", "curves.png")


class RunFolder:
    """The output folder of one run, for the duration of `Trainer.train`: checked writable before
    any work; a folder holding another run's files refused unless resuming or overwriting; a
    lock file (`.lock`, with the process id) so two runs never write into one folder."""

    def __init__(self, folder: Path, resuming: bool, overwrite: bool):
        self.folder, self.lock = folder, folder / ".lock"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-", delete=True)
            probe.close()
        except OSError as error:
            raise PermissionError(f"cannot write to the output folder {folder}: {error.strerror or error}") from None
        previous = [name for name in RUN_FILES if (folder / name).exists()]
        if previous and not resuming and not overwrite:
            raise FileExistsError(f"{folder} holds another run ({', '.join(previous)}): resume it, choose another "
                                  "output folder, or overwrite it (--overwrite; overwrite_output_dir=True)")
        if previous and overwrite and not resuming:
            for name in previous:
                path = folder / name
                shutil.rmtree(path) if path.is_dir() else path.unlink()

    def __enter__(self):
        try:
            fd = os.open(self.lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = self.lock.read_text().strip() or "?"
            if holder.isdigit() and not process_alive(int(holder)):
                self.lock.unlink()  # left by a run that died: take it over
                return self.__enter__()
            raise FileExistsError(f"another run (process {holder}) is writing to {self.folder}; wait for it to end, "
                                  f"or delete {self.lock} if it is gone") from None
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        return self

    def __exit__(self, *exc):
        self.lock.unlink(missing_ok=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class StopSignals:
    """While active (in the main thread), SIGINT and SIGTERM only raise a flag: the loop finishes
    its step, saves, and stops. A second Ctrl-C stops at once."""

    def __enter__(self):
        self.requested, self.previous = None, {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.previous[sig] = signal.signal(sig, self.handle)
        return self

    def handle(self, signum, frame):
        if self.requested is not None:
            raise KeyboardInterrupt
        self.requested = signal.Signals(signum).name

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


class Trainer:
    def __init__(self, model: nnx.Module, train_data, eval_data=None, args: TrainingArguments = TrainingArguments(),
                 loss_fn: Callable | None = None, metrics: dict[str, Callable] | None = None,
                 collate: Callable[[list], dict] = stack_examples, trainable_mask=None,
                 evaluate: Callable[[nnx.Module], dict] | None = None,
                 describe: Callable[[dict], str] | None = None, log: Callable[[str], None] = print):
        """`train_data`: a list of examples, or a callable `batches(step) -> dict` of arrays.
        `evaluate(model) -> dict` replaces the evaluation on `eval_data`; `describe(figures)`
        turns an evaluation into the line `log` prints (pre-training's progress lines)."""
        if loss_fn is None:
            raise ValueError("give loss_fn(model, batch) -> (loss, metrics)")
        self.source = train_data if callable(train_data) else None
        if self.source is None:
            if train_data is None or len(train_data) == 0:
                raise ValueError("the training data set is empty")
            if args.batch_size > len(train_data):
                raise ValueError(f"batch_size={args.batch_size} is larger than the {len(train_data)} training examples")
        elif args.max_steps is None and args.max_seconds is None:
            raise ValueError("a batch source has no epochs: give max_steps or max_seconds")
        if eval_data is not None and len(eval_data) == 0:
            raise ValueError("the evaluation data set is empty (pass None for no evaluation)")
        self.model, self.train_data, self.eval_data, self.args = model, train_data, eval_data, args
        self.loss_fn, self.metrics, self.collate, self.trainable_mask = loss_fn, metrics or {}, collate, trainable_mask
        self.evaluate_fn, self.describe, self.log = evaluate, describe, log
        if self.source is None:
            self.steps_per_epoch = len(train_data) // args.batch_size
            updates = self.steps_per_epoch * args.num_epochs // args.gradient_accumulation_steps
            self.total_steps = args.max_steps or max(1, updates) * args.gradient_accumulation_steps
            if args.group_by_length:
                self.lengths = [len(example["input_ids"]) for example in train_data]
        else:
            self.steps_per_epoch = None
            self.total_steps = args.max_steps or 10**9  # bounded by max_seconds
        self.mesh = Mesh(np.array(jax.devices()), ("data",))
        self.history: list[dict] = []

    # ------------------------------------------------------------------ pieces

    def optimizer(self) -> optax.GradientTransformation:
        a = self.args
        bounded_by_time = self.source is not None and a.max_steps is None
        updates = max(1, self.total_steps // a.gradient_accumulation_steps)
        tx = adamw_with_warmup(a.learning_rate, updates, a.warmup_steps, a.weight_decay,
                               "constant" if bounded_by_time else a.schedule, a.max_grad_norm)
        if self.trainable_mask is not None:
            tx = freeze(tx, self.trainable_mask)
        return tx

    def shard(self, batch: dict) -> dict:
        """Split the batch's first axis over the devices (replicate if it does not divide)."""
        n = len(self.mesh.devices)
        if n == 1:  # nothing to split
            return {key: jnp.asarray(value) for key, value in batch.items()}
        out = {}
        for key, value in batch.items():
            value = np.asarray(value)
            spec = PartitionSpec("data") if value.ndim and value.shape[0] % n == 0 else PartitionSpec()
            out[key] = jax.device_put(value, NamedSharding(self.mesh, spec))
        return out

    def replicate(self, state: TrainState) -> None:
        """Put a copy of the parameters, the dropout keys and the optimizer state on every device
        (data parallelism), where the step's outputs will be: placed there before the first step,
        the step compiles once, not once for inputs on one device and again for its own outputs."""
        if len(self.mesh.devices) > 1:
            everywhere = NamedSharding(self.mesh, PartitionSpec())
            state.params, state.rng_state, state.opt_state = jax.device_put(
                (state.params, state.rng_state, state.opt_state), everywhere)

    def epoch_order(self, epoch: int) -> np.ndarray:
        """The example indices of `epoch` in batch order: a permutation seeded by (seed, epoch),
        so a resumed run sees exactly the batches the uninterrupted one would.

        With group_by_length, batches hold examples of similar length, in random order
        (minitrans.datasets.streaming.length_grouped_order)."""
        if getattr(self, "cached_order", (None,))[0] == epoch:
            return self.cached_order[1]
        rng = np.random.default_rng([self.args.seed, epoch])
        if self.args.group_by_length:
            order = length_grouped_order(self.lengths, self.args.batch_size, rng)
        else:
            order = rng.permutation(len(self.train_data))
        self.cached_order = (epoch, order)
        return order

    def batch_at(self, step: int) -> tuple[int, dict]:
        """(epoch, batch) of training step `step` (counted from 0)."""
        if self.source is not None:
            return 0, self.source(step)
        epoch, index = divmod(step, self.steps_per_epoch)
        order = self.epoch_order(epoch)
        chosen = order[index * self.args.batch_size:(index + 1) * self.args.batch_size]
        return epoch, self.collate([self.train_data[int(i)] for i in chosen])

    def evaluate(self, model: nnx.Module | None = None) -> dict:
        """The evaluation figures of `model` (default: the Trainer's), dropout off: `evaluate`
        if it was given, else loss, loss_fn's metrics and the metric functions over eval_data."""
        model = self.model if model is None else model
        model.eval()
        if self.evaluate_fn is not None:
            return self.evaluate_fn(model)
        if self.eval_data is None:
            return {}
        graphdef, eval_state = nnx.split(model)
        if not hasattr(self, "eval_fn"):  # compiled once; the graph never changes
            self.eval_fn = jax.jit(lambda s, batch: self.loss_fn(nnx.merge(graphdef, s), batch))
        totals, count = {}, 0
        for start in range(0, len(self.eval_data), self.args.batch_size):
            batch = self.collate(list(self.eval_data[start:start + self.args.batch_size]))
            n = len(next(iter(batch.values())))
            loss, metrics = self.eval_fn(eval_state, {k: jnp.asarray(v) for k, v in batch.items()})
            for k, v in {"loss": loss, **metrics}.items():
                if k != "tokens":
                    totals[k] = totals.get(k, 0.0) + float(v) * n
            for name, fn in self.metrics.items():
                totals[name] = totals.get(name, 0.0) + float(fn(model, batch)) * n
            count += n
        return {k: v / count for k, v in totals.items()}

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, folder: str | Path, state: TrainState, step: int, seconds: float = 0.0,
                        pending: list | None = None) -> Path:
        """Write the model and the training state to `folder`, atomically: into a fresh temporary
        folder beside it, then renamed (a crash mid-save keeps the previous checkpoint)."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}."))
        try:
            model = state.model()
            if hasattr(model, "save_pretrained"):
                recent = [r for r in self.history if "loss" in r][-1:]
                model.save_pretrained(tmp / "model", card={
                    "training": {"trainer": "minitrans Trainer", "steps": step, "seconds": round(seconds, 1),
                                 "batch_size": self.args.batch_size,
                                 "gradient_accumulation_steps": self.args.gradient_accumulation_steps,
                                 "learning_rate": self.args.learning_rate, "warmup_steps": self.args.warmup_steps,
                                 "weight_decay": self.args.weight_decay, "seed": self.args.seed,
                                 **({"matrix products": "bfloat16 operands, float32 sums"}
                                    if matmul_dtype() is not None else {})},
                    "figures": {"last logged training loss": round(recent[0]["loss"], 4)} if recent else None})
            save_file(flatten(state.params), str(tmp / "params.safetensors"))
            save_file(flatten(state.opt_state), str(tmp / "optimizer.safetensors"))
            save_file(flatten(state.rng_state), str(tmp / "rng.safetensors"))
            (tmp / "trainer_state.json").write_text(json.dumps({
                "step": step, "seconds": round(seconds, 1), "model": type(model).__name__,
                "args": dataclasses.asdict(self.args), "history": self.history,
                "matmul_precision": matmul_precision(),
                "pending_losses": [float(x) for x in jax.device_get(pending or [])]}, indent=1))
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.old.")) if folder.exists() else None
            if old is not None:
                os.replace(folder, old / folder.name)
            os.replace(tmp, folder)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return folder

    def load_checkpoint(self, folder: str | Path, state: TrainState) -> tuple[int, float]:
        """Restore the training state saved in `folder`; returns (its step, its training seconds)."""
        from safetensors.numpy import load_file

        folder = Path(folder)
        info = folder / "trainer_state.json"
        if not info.is_file():
            raise FileNotFoundError(f"{folder} holds no checkpoint (no trainer_state.json)")
        saved = json.loads(info.read_text())
        if saved["model"] != type(self.model).__name__:
            raise ValueError(f"{folder} is a checkpoint of a {saved['model']}, not of a {type(self.model).__name__}")
        state.params = unflatten(state.params, load_file(str(folder / "params.safetensors")))
        state.opt_state = unflatten(state.opt_state, load_file(str(folder / "optimizer.safetensors")))
        state.rng_state = unflatten(state.rng_state, load_file(str(folder / "rng.safetensors")))
        self.history = saved["history"]
        self.pending_losses = saved.get("pending_losses", [])  # the steps since the last log line
        return saved["step"], saved.get("seconds", 0.0)

    # ------------------------------------------------------------------ the loop

    def train(self, resume_from: str | Path | None = None, stop_after: int | None = None) -> dict:
        """Train to the budget (or stop early after `stop_after` steps, to test resuming).

        Returns {"model" (eval mode), "history", "steps", "tokens", "seconds", "losses" (every
        step's)}; the trained model is also `self.model`, its state `self.state`. Ctrl-C or
        SIGTERM: the step finishes, `latest` is saved, and TrainingInterrupted is raised; a NaN
        or infinite loss raises TrainingDiverged and leaves the last good checkpoint as it was."""
        a = self.args
        out = Path(a.output_dir) if a.output_dir else None
        folder = RunFolder(out, resume_from is not None, a.overwrite_output_dir) if out else nullcontext()
        with folder, StopSignals() as signals:
            return self.loop(resume_from, stop_after, signals)

    def note(self, message: str) -> None:
        """A line for the user, above the progress bar when there is one."""
        from tqdm.auto import tqdm
        tqdm.write(message) if self.args.progress_bar else self.log(message)

    def loop(self, resume_from, stop_after, signals: StopSignals) -> dict:
        from tqdm.auto import tqdm

        a = self.args
        out = Path(a.output_dir) if a.output_dir else None
        self.model.train()
        state = TrainState.create(self.model, self.optimizer(), self.loss_fn)
        step, seconds_before = self.load_checkpoint(resume_from, state) if resume_from else (0, 0.0)
        self.replicate(state)
        log_file = out / "log.jsonl" if out else None
        if log_file:  # a resumed run's log goes on from its checkpoint: the lines after it are cut
            kept = [line for line in log_file.read_text().splitlines() if json.loads(line)["step"] <= step] \
                if resume_from and log_file.exists() else []
            log_file.write_text("".join(line + "\n" for line in kept))
        best = self.best_so_far()
        # smoothing=0: the estimate is the mean time per step since the clock started, which is
        # restarted once the first step (and its compilation) has finished
        bar = tqdm(total=self.total_steps if a.max_steps or self.source is None else None, initial=step,
                   disable=not a.progress_bar, desc="training", smoothing=0)
        started = time.perf_counter() - seconds_before  # the time budget counts the run before a resume
        tokens = window_tokens = 0
        window_start, losses, unchecked = time.perf_counter(), [], []
        recent = list(getattr(self, "pending_losses", [])) if resume_from else []  # the log window goes on
        last = min(step + stop_after if stop_after else self.total_steps, self.total_steps)
        while step < last:
            at_update = step % a.gradient_accumulation_steps == 0
            if signals.requested and at_update:
                break
            if a.max_seconds and time.perf_counter() - started > a.max_seconds and at_update:
                self.note(f"stopping at step {step}: the time budget of {a.max_seconds:.0f} s is spent")
                break
            epoch, batch = self.batch_at(step)
            count = real_tokens(batch)  # on the host, before the batch moves: nothing waits for the device
            tokens, window_tokens = tokens + count, window_tokens + count
            if a.gradient_accumulation_steps == 1:
                loss, _ = state.train_step(self.shard(batch))
            else:
                loss, _ = state.accumulate(self.shard(batch))
                if (step + 1) % a.gradient_accumulation_steps == 0:
                    state.apply_accumulated()
            recent.append(loss)  # stays on the device: no sync until the next log line
            losses.append(loss)
            unchecked.append(loss)
            step += 1
            if len(losses) > 1:  # the bar counts finished steps: wait for the one before (this one runs meanwhile)
                losses[-2].block_until_ready()
                bar.update(1)
                if len(losses) == 2:  # the first step compiled the program: estimate from the steps after it
                    bar.start_t, bar.initial = time.time(), bar.n
            if step % a.log_every == 0 or step == self.total_steps:
                self.check_finite(unchecked, step, out)
                now = time.perf_counter()
                record = {"step": step, "epoch": epoch, "loss": float(np.mean(np.asarray(jax.device_get(recent), np.float64))),
                          "learning_rate": state.learning_rate, "seconds": round(now - started, 1),
                          "tokens_per_second": round(window_tokens / max(now - window_start, 1e-9), 1)}
                recent, unchecked, window_start, window_tokens = [], [], now, 0
                self.history.append(record)
                bar.set_postfix(loss=f"{record['loss']:.4f}", lr=f"{record['learning_rate'] or 0:.2e}",
                                tok_s=f"{record['tokens_per_second']:,.0f}")
                if not a.progress_bar and self.describe is None:
                    self.log(f"  step {step:6d}  loss {record['loss']:.3f}  ({record['seconds']:.0f}s)")
                if log_file:
                    with open(log_file, "a") as f:
                        f.write(json.dumps(record) + "\n")
            if a.eval_every and step % a.eval_every == 0 and (self.eval_data is not None or self.evaluate_fn):
                best = self.evaluate_and_keep(state, step, started, best)
            if a.save_every and out and step % a.save_every == 0:
                self.check_finite(unchecked, step, out)
                unchecked = []
                saved = self.save_checkpoint(out / "latest", state, step, time.perf_counter() - started, recent)
                self.note(f"checkpoint {saved} (step {step})")
        if losses:
            losses[-1].block_until_ready()
            bar.update(1)
        bar.close()
        self.check_finite(unchecked, step, out)
        if signals.requested:
            saved = self.save_checkpoint(out / "latest", state, step, time.perf_counter() - started, recent) \
                if out else None
            self.state, self.step = state, step
            raise TrainingInterrupted(step, saved)
        evaluated = [r["step"] for r in self.history if any(k.startswith("eval_") for k in r)]
        if a.eval_every and (self.eval_data is not None or self.evaluate_fn) and evaluated[-1:] != [step]:
            self.evaluate_and_keep(state, step, started, best)  # the figures of the final model
        self.state, self.step = state, step
        self.model = state.model()
        self.model.eval()
        if out:
            self.save_checkpoint(out / "latest", state, step, time.perf_counter() - started)
            if self.history:
                print(f"training curves: {save_training_curves(self.history, out / 'curves.png')}")
        return {"model": self.model, "history": self.history, "steps": step, "tokens": tokens,
                "seconds": time.perf_counter() - started,
                "losses": [float(x) for x in jax.device_get(losses)]}

    def check_finite(self, losses: list, step: int, out: Path | None) -> None:
        """Stop with TrainingDiverged if a loss since the last check is NaN or infinite."""
        if losses and not np.isfinite(np.asarray(jax.device_get(losses))).all():
            good = out / "latest" if out and (out / "latest").exists() else None
            raise TrainingDiverged(f"the training loss became NaN or infinite between steps {step - len(losses) + 1} "
                                   f"and {step}; " + (f"the last good checkpoint is {good}" if good else
                                                      "no checkpoint was saved before it")
                                   + ". Lower the learning rate, or look for bad data in those steps")

    def best_so_far(self):
        """The best value of the keep_best metric in the history (a resumed run keeps comparing)."""
        name = f"eval_{self.args.keep_best}"
        values = [r[name] for r in self.history if name in r] if self.args.keep_best else []
        if not values:
            return None
        return max(values) if self.args.greater_is_better else min(values)

    def evaluate_and_keep(self, state: TrainState, step: int, started: float, best):
        """Evaluate the current model, log it, keep the best checkpoint; returns the best value."""
        a = self.args
        figures = self.evaluate(state.model())
        self.history.append({"step": step, "seconds": round(time.perf_counter() - started, 1),
                             **{f"eval_{k}": v for k, v in figures.items()}})
        if self.describe is not None:
            trained = [r for r in self.history if "loss" in r]
            self.log(f"step {step:6d}  {time.perf_counter() - started:7.0f}s  "
                     + (f"loss {trained[-1]['loss']:.3f}  " if trained else "") + self.describe(figures)
                     + (f"  {trained[-1]['tokens_per_second']:,.0f} tokens/s" if trained else ""))
        if a.keep_best and a.output_dir:
            value = figures[a.keep_best]
            if best is None or (value > best if a.greater_is_better else value < best):
                best = value
                self.save_checkpoint(Path(a.output_dir) / "best", state, step, time.perf_counter() - started)
                self.note(f"best {a.keep_best} so far ({value:.4g}): saved {Path(a.output_dir) / 'best'} (step {step})")
        return best


def classification_loss(model, batch: dict):
    """Cross entropy of `model(input_ids, token_type_ids, attention_mask).logits` against labels."""
    logits = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask")).logits
    loss = cross_entropy(logits, batch["labels"])
    return loss, {"accuracy": accuracy(logits, batch["labels"])}


def regression_loss(model, batch: dict):
    """Squared error of a one-output head (STS-B's similarity score) against real-valued labels."""
    scores = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask")).logits[:, 0]
    loss = jnp.mean((scores - batch["labels"]) ** 2)
    return loss, {"mse": loss}
