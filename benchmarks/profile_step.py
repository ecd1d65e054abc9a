"""Where a training step's time goes: XLA's operations ranked by time, from a JAX profile.

    python benchmarks/profile_step.py t5|bert|qa [--steps 2] [--by-kind] [--top 25] [--length L --batch B]

Builds the benchmark's T5-mini or BERT-mini pre-training step (benchmarks/training_throughput.py)
(or at another sequence length and batch size, as its --scaling grid) or a MiniLM-sized
question-answering step (16 windows of 192 tokens by default), compiles it, runs it
under `jax.profiler.trace` and prints the operations of the compiled program with their time
per step. Names are XLA's: `ynn_fusion` = a matrix product (XLA's XNNPACK/YNNPACK kernels),
`copy`/`transpose` fusions = data being laid out again, `broadcast_add_fusion` in a step with
dropout = mostly the random bits. With --by-kind, times are summed over the numbered copies.
This is how the hand-written backward passes of minitrans.nn.linear and
minitrans.losses.negative_log_likelihood, and the two-draws-per-word dropout masks, were found.
"""

import argparse
import collections
import gzip
import json
import os
import re
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the CPU runtime reports each operation to the profiler only with this flag (read when JAX starts)
os.environ["XLA_FLAGS"] = os.environ.get("XLA_FLAGS", "") + " --xla_cpu_enable_xprof_traceme=true"

import jax
import numpy as np
import training_throughput  # its build() makes the benchmark's models and batches (a script beside this one)
from flax import nnx

from minitrans.training.step import TrainState, adamw_with_warmup


def build(which: str, rng: np.random.Generator, batch: int = 32, length: int = 128):
    """(model, loss_fn, make_batch): the throughput benchmark's T5-mini and BERT-mini steps, or
    a MiniLM-sized question-answering step (`batch` windows of `length` tokens)."""
    if which in ("t5", "bert"):
        net, loss_fn, make_batch, _ = training_throughput.build(which, rng, training_throughput.shapes(which, batch,
                                                                                                       length))
        return net, loss_fn, make_batch
    from minitrans.models.bert import BertConfig, BertForQuestionAnswering
    from minitrans.qa.extractive import qa_loss
    config = BertConfig(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)
    net = BertForQuestionAnswering(config, rngs=nnx.Rngs(params=0, dropout=1))
    return net, qa_loss, lambda: {
        "input_ids": rng.integers(5, 30522, (batch, length), dtype=np.int32),
        "token_type_ids": np.zeros((batch, length), np.int32), "attention_mask": np.ones((batch, length), np.int32),
        "start_positions": rng.integers(0, length, batch, dtype=np.int32),
        "end_positions": rng.integers(0, length, batch, dtype=np.int32)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", choices=["t5", "bert", "qa"])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--by-kind", action="store_true", help="sum the numbered copies of each operation")
    parser.add_argument("--length", type=int, help="input length (default 128; qa 192)")
    parser.add_argument("--batch", type=int, help="batch size (default 32; qa 16)")
    args = parser.parse_args()
    qa = args.model == "qa"
    args.length = args.length or (192 if qa else 128)
    args.batch = args.batch or (16 if qa else 32)
    if args.steps < 1:
        raise SystemExit("--steps must be at least 1")
    net, loss_fn, make_batch = build(args.model, np.random.default_rng(0), args.batch, args.length)
    net.train()
    state = TrainState.create(net, adamw_with_warmup(1e-4, 10_000, 100), loss_fn)
    batch = make_batch()

    def run():
        loss, _ = state.train_step(batch)
        loss.block_until_ready()

    run()  # compile
    started = time.perf_counter()
    run()
    print(f"{args.model}: {time.perf_counter() - started:.3f} s per step (outside the profiler)")
    with tempfile.TemporaryDirectory() as folder:
        with jax.profiler.trace(folder, create_perfetto_trace=True):
            for _ in range(args.steps):
                run()
        trace = json.load(gzip.open(next(Path(folder).rglob("*perfetto_trace.json.gz"))))
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    skip = ("Thunk", "$", "Pjit", "Slinky", "PjRt", "Handle input", "ParseArguments")
    totals = collections.Counter()
    for event in events:
        name = event.get("name", "")
        if event.get("ph") == "X" and not any(s in name for s in skip):
            totals[re.sub(r"\.\d+$", "", name) if args.by_kind else name] += event.get("dur", 0)
    print("operation time per step (ms; summed over both threads' work, so it may exceed the step):")
    for name, micros in totals.most_common(args.top):
        print(f"{micros / 1e3 / args.steps:9.1f}  {name}")


if __name__ == "__main__":
    main()
