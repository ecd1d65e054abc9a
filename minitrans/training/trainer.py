"""The training loop of minitrans; every model trains through it. One line, as in the course:

    Trainer(model, train_data, eval_data=..., args=TrainingArguments(num_epochs=3, warmup_steps=100,
            weight_decay=0.01, learning_rate=5e-5), loss_fn=..., metrics=...).train()

- data: a list of examples (batched by `collate`, shuffled each epoch with a seed, or grouped
  by length), or a batch source `batches(step) -> dict` (pre-training draws its batches so);
- budget: epochs, `max_steps`, or `max_seconds` of wall clock (whichever ends first); a run
  bounded by time alone keeps the learning rate constant after the warm-up;
- AdamW with linear warm-up then linear or cosine decay, no weight decay on biases and norms,
  clipping by global norm, gradient accumulation weighted by tokens (minitrans.training.step);
- one jitted pure step and no host sync per step except when logging;
- evaluation every `eval_every` steps: `eval_data` (the loss function's metrics and `metrics`
  functions, dropout off) or any `evaluate(model) -> dict` (say, SQuAD F1 on held-out questions),
  keeping the best checkpoint;
- checkpoints: the model in its own format plus the training state (optimizer state and
  dropout RNG state as safetensors, step and history as JSON), written to a temporary folder
  and renamed, so a crash mid-save never leaves a broken checkpoint; `train(resume_from=...)`
  continues exactly where it stopped;
- data parallelism: each batch is split over all JAX devices (a Mesh with one "data" axis);
  on one device nothing changes. Several hosts: call jax.distributed.initialize() first.
"""

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from minitrans.datasets.streaming import length_grouped_order
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
        out = {}
        for key, value in batch.items():
            value = np.asarray(value)
            spec = PartitionSpec("data") if value.ndim and value.shape[0] % n == 0 else PartitionSpec()
            out[key] = jax.device_put(value, NamedSharding(self.mesh, spec))
        return out

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

    def save_checkpoint(self, folder: str | Path, state: TrainState, step: int) -> Path:
        """Write the model and the training state to `folder`, atomically."""
        from safetensors.numpy import save_file

        folder = Path(folder)
        tmp = folder.with_name(folder.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        model = state.model()
        if hasattr(model, "save_pretrained"):
            model.save_pretrained(tmp / "model")
        save_file(flatten(state.params), str(tmp / "params.safetensors"))
        save_file(flatten(state.opt_state), str(tmp / "optimizer.safetensors"))
        save_file(flatten(state.rng_state), str(tmp / "rng.safetensors"))
        (tmp / "trainer_state.json").write_text(json.dumps({
            "step": step, "model": type(model).__name__, "args": dataclasses.asdict(self.args),
            "history": self.history}, indent=1))
        old = folder.with_name(folder.name + ".old")
        if folder.exists():
            os.replace(folder, old)
        os.replace(tmp, folder)
        shutil.rmtree(old, ignore_errors=True)
        return folder

    def load_checkpoint(self, folder: str | Path, state: TrainState) -> int:
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
        return saved["step"]

    # ------------------------------------------------------------------ the loop

    def train(self, resume_from: str | Path | None = None, stop_after: int | None = None) -> dict:
        """Train to the budget (or stop early after `stop_after` steps, to test resuming).

        Returns {"model" (eval mode), "history", "steps", "tokens", "seconds", "losses" (every
        step's)}; the trained model is also `self.model`, its state `self.state`."""
        from tqdm.auto import tqdm

        a = self.args
        self.model.train()
        state = TrainState.create(self.model, self.optimizer(), self.loss_fn)
        step = self.load_checkpoint(resume_from, state) if resume_from else 0
        log_file = Path(a.output_dir) / "log.jsonl" if a.output_dir else None
        if log_file:
            log_file.parent.mkdir(parents=True, exist_ok=True)
        best = None
        bar = tqdm(total=self.total_steps if a.max_steps or self.source is None else None, initial=step,
                   disable=not a.progress_bar, desc="training")
        started = time.perf_counter()
        tokens = window_tokens = 0
        window_start, recent, losses = started, [], []
        last = min(step + stop_after if stop_after else self.total_steps, self.total_steps)
        while step < last:
            if a.max_seconds and time.perf_counter() - started > a.max_seconds:
                self.log(f"stopping at step {step}: the time budget of {a.max_seconds:.0f} s is spent")
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
            step += 1
            bar.update(1)
            if step % a.log_every == 0 or step == self.total_steps:
                now = time.perf_counter()
                record = {"step": step, "epoch": epoch, "loss": float(jnp.mean(jnp.stack(recent))),
                          "learning_rate": state.learning_rate, "seconds": round(now - started, 1),
                          "tokens_per_second": round(window_tokens / max(now - window_start, 1e-9), 1)}
                recent, window_start, window_tokens = [], now, 0
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
            if a.save_every and a.output_dir and step % a.save_every == 0:
                self.save_checkpoint(Path(a.output_dir) / "latest", state, step)
        bar.close()
        evaluated = [r["step"] for r in self.history if any(k.startswith("eval_") for k in r)]
        if a.eval_every and (self.eval_data is not None or self.evaluate_fn) and evaluated[-1:] != [step]:
            self.evaluate_and_keep(state, step, started, best)  # the figures of the final model
        self.state, self.step = state, step
        self.model = state.model()
        self.model.eval()
        if a.output_dir:
            self.save_checkpoint(Path(a.output_dir) / "latest", state, step)
            if self.history:
                print(f"training curves: {save_training_curves(self.history, Path(a.output_dir) / 'curves.png')}")
        return {"model": self.model, "history": self.history, "steps": step, "tokens": tokens,
                "seconds": time.perf_counter() - started,
                "losses": [float(x) for x in np.asarray(jnp.stack(losses))] if losses else []}

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
                self.save_checkpoint(Path(a.output_dir) / "best", state, step)
        return best


def classification_loss(model, batch: dict):
    """Cross entropy of `model(input_ids, token_type_ids, attention_mask).logits` against labels."""
    logits = model(batch["input_ids"], batch.get("token_type_ids"), batch.get("attention_mask")).logits
    loss = cross_entropy(logits, batch["labels"])
    return loss, {"accuracy": accuracy(logits, batch["labels"])}
