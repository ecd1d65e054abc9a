"""Where a training step's time goes: XLA's operations ranked by time, from a JAX profile.

    python benchmarks/profile_step.py t5|bert|qa [--steps 2] [--by-kind] [--top 25] [--length L --batch B]

Builds the benchmark's T5-mini or BERT-mini pre-training step (benchmarks/training_throughput.py)
(or at another sequence length and batch size, as its --scaling grid) or a MiniLM-sized
question-answering step (16 windows of 192 tokens by default), compiles it, runs it
under `jax.profiler.trace` and prints the operations of the compiled program with their time
per step. Names are XLA's: `ynn_fusion` = a matrix product (XLA's XNNPACK/YNNPACK kernels),
`copy`/`transpose` fusions = data being laid out again, `broadcast_add_fusion` in a step with
dropout = mostly the random bits. With --by-kind, times are summed over the numbered copies.

Some products (`dot`, `dot_general`: the ones XLA:CPU hands to Eigen, such as a weight gradient
x^T g) run asynchronously: the trace holds their launch and an `end: NAME` marker, not their
work. The time in which no traced operation runs is given to the operations in flight then,
between their launch and their `end:` marker (shared equally; mostly those products), marked
"(async)"; what is left is the "(untraced)" line, so the ranking adds up to the steps' time on
the device.
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
if __name__ == "__main__":  # the CPU runtime reports each operation to the profiler only with this flag (read when JAX starts)
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
    events = [e for e in (trace["traceEvents"] if isinstance(trace, dict) else trace) if e.get("ph") == "X"]
    totals, device = operation_times(events)
    if args.by_kind:
        kinds = collections.Counter()
        for name, micros in totals.items():
            kinds[re.sub(r"\.\d+( \(async\))?$", lambda m: m.group(1) or "", name)] += micros
        totals = kinds
    print(f"on the device {device / 1e3 / args.steps:.1f} ms per step; operation time per step (ms; summed over "
          "both threads' work, so it may exceed the step):")
    for name, micros in totals.most_common(args.top):
        print(f"{micros / 1e3 / args.steps:9.1f}  {name}")


def operation_times(events: list[dict]) -> tuple[collections.Counter, float]:
    """(microseconds per operation, microseconds the steps ran on the device) from a trace's
    complete ("X") events: each operation's own events, then the time inside a step when none
    runs, given to the asynchronous products in flight or to "(untraced)"."""
    skip = ("Thunk", "$", "Pjit", "Slinky", "PjRt", "Handle input", "ParseArguments", "::", "Wait for")
    ops = [e for e in events if not any(s in e["name"] for s in skip) and not e["name"].startswith("end: ")]
    totals = collections.Counter()
    for e in ops:
        totals[e["name"]] += e["dur"]
    launches, in_flight = collections.defaultdict(list), []  # (start, end, name) of each asynchronous product
    for e in sorted(ops, key=lambda e: e["ts"]):
        launches[e["name"]].append(e["ts"])
    for e in sorted((e for e in events if e["name"].startswith("end: ")), key=lambda e: e["ts"]):
        if launches.get(e["name"][5:]):
            in_flight.append((launches[e["name"][5:]].pop(0), e["ts"] + e["dur"], f"{e['name'][5:]} (async)"))
    steps = [(e["ts"], e["ts"] + e["dur"]) for e in events if e["name"] == "ThunkExecutor::Execute (wait for completion)"]
    busy = sorted((e["ts"], e["ts"] + e["dur"]) for e in ops)
    for step_start, step_end in steps:
        cursor = step_start
        for start, end in busy + [(step_end, step_end)]:  # the gaps between the operations inside the step
            if end < step_start or start > step_end:
                continue
            start, end = max(start, step_start), min(end, step_end)
            if start > cursor:
                share_gap(cursor, start, in_flight, totals)
            cursor = max(cursor, end)
    return totals, sum(end - start for start, end in steps)


def share_gap(start: float, end: float, in_flight: list, totals: collections.Counter) -> None:
    """Gives the idle interval [start, end) to the asynchronous products running through it."""
    running = [(max(a, start), min(b, end), name) for a, b, name in in_flight if a < end and b > start]
    cuts = sorted({start, end, *(a for a, _, _ in running), *(b for _, b, _ in running)})
    for left, right in zip(cuts, cuts[1:]):
        names = [name for a, b, name in running if a <= left and b >= right]
        for name in names or ["(untraced)"]:
            totals[name] += (right - left) / max(len(names), 1)


if __name__ == "__main__":
    main()
