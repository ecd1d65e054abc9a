"""The pre-training loop BERT and T5 share: batches in, one jitted step each, held-out
metrics every `eval_every` steps, stop after a number of steps or minutes of wall clock."""

import json
import time
from pathlib import Path
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.training import TrainState, adamw_with_warmup, make_train_step


def pretraining_loop(model: nnx.Module, loss_fn, next_batch: Callable[[], dict], held_out: list[dict], *,
                     steps: int | None, minutes: float | None, learning_rate: float, warmup_steps: int,
                     eval_every: int, describe: Callable[[dict], str], started: float | None = None,
                     log=print) -> dict:
    """Train `model` on `next_batch()` (a dict of numpy arrays; its "attention_mask" or
    "input_ids" != 0 counts the real tokens) until `steps` steps or `minutes` have passed.
    Tokens are counted on the host before the batch moves to the device, so nothing waits for
    the device between steps and the next batch is prepared while the current step runs.

    `loss_fn(model, batch) -> (loss, metrics)`. Every `eval_every` steps the metrics are averaged
    over the fixed `held_out` batches with dropout off, and `describe(held_out_metrics)` is
    logged. A run bounded by steps decays the learning rate linearly to 0 after the warm-up; a
    run bounded by time keeps it constant. Returns the model (eval mode) and the history.
    """
    if steps is None and minutes is None:
        raise ValueError("give steps or minutes (or both) to bound the pre-training")
    started = time.perf_counter() if started is None else started
    optimizer = adamw_with_warmup(learning_rate, steps if steps is not None else 10**9, warmup_steps,
                                  schedule="linear" if steps is not None else "constant")
    model.train()
    state = TrainState.create(model, optimizer)
    train_step = make_train_step(state.graphdef, optimizer, loss_fn)
    model.eval()
    eval_graphdef, _ = nnx.split(model)
    eval_fn = jax.jit(lambda s, batch: loss_fn(nnx.merge(eval_graphdef, s), batch)[1])

    def held_out_metrics() -> dict:
        eval_model = state.model()
        eval_model.eval()
        _, eval_state = nnx.split(eval_model)
        totals: dict[str, float] = {}
        for batch in held_out:
            for k, v in eval_fn(eval_state, batch).items():
                totals[k] = totals.get(k, 0.0) + float(v) / len(held_out)
        return totals

    def real_tokens(batch) -> int:
        mask = batch["attention_mask"] if "attention_mask" in batch else batch["input_ids"] != 0
        return int(np.asarray(mask).sum())

    history, step, tokens = [], 0, 0
    deadline = started + minutes * 60 if minutes is not None else None
    window_start, window_tokens = time.perf_counter(), 0
    while (steps is None or step < steps) and (deadline is None or time.perf_counter() < deadline):
        batch = next_batch()
        count = real_tokens(batch)
        batch = {k: jnp.asarray(v) for k, v in batch.items()}
        state.params, state.rest, state.opt_state, loss, _ = train_step(state.params, state.rest, state.opt_state, batch)
        step += 1
        tokens += count
        window_tokens += count
        if step % eval_every == 0 or step == steps:
            evaluation, now = held_out_metrics(), time.perf_counter()
            history.append({"step": step, "seconds": round(now - started, 1), "loss": round(float(loss), 4),
                            "tokens_per_second": round(window_tokens / (now - window_start), 1),
                            **{f"held_out_{k}": round(v, 4) for k, v in evaluation.items()}})
            log(f"step {step:6d}  {history[-1]['seconds']:7.0f}s  loss {float(loss):.3f}  {describe(evaluation)}  "
                f"{history[-1]['tokens_per_second']:,.0f} tokens/s")
            window_start, window_tokens = time.perf_counter(), 0
    if not history or history[-1]["step"] != step:
        history.append({"step": step, "seconds": round(time.perf_counter() - started, 1),
                        **{f"held_out_{k}": round(v, 4) for k, v in held_out_metrics().items()}})
    model = state.model()
    model.eval()
    return {"model": model, "history": history, "steps": step, "tokens": tokens,
            "seconds": time.perf_counter() - started}


def save_run(out_dir: str | Path, model, tokenizer_save: Callable[[Path], object], history: list, log=print) -> None:
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    tokenizer_save(out_dir)
    (out_dir / "pretraining_history.json").write_text(json.dumps(history, indent=1))
    log(f"saved the model, its vocabulary and the history to {out_dir}")
