"""Training throughput, ours against Hugging Face PyTorch, side by side on this machine.

    python benchmarks/training_throughput.py [--reference-python /path/to/venv/bin/python] [--bfloat16]
    python benchmarks/training_throughput.py --scaling [--lengths 128 256 512] [--batches 8 32 64] \
        [--reference-python ...] [--out outputs]

For BERT-mini masked-LM + NSP pre-training (hidden 256, 4 layers, 4 heads, intermediate 1024,
vocab 30,522, batch 32 x 128) and T5-mini span corruption (d_model 256, d_ff 1024, 4 + 4
layers, 4 heads, vocab 32,128, batch 32, input 128, target 32), it prints for each side:
seconds per step, tokens per second (input positions, 32 x 128 per step, the measure the issue's
reference figures use), the time to compile (ours) or run (theirs) the first step, peak
resident memory, and model FLOP utilisation: the matmul FLOPs each side executes per step
(forward x 3) over the measured float32 matmul peak of this machine (a 2048 x 2048 matmul).

`--bfloat16` adds mixed precision on both sides: ours inside `jax.default_matmul_precision(
"bfloat16")` (the layers' products take bfloat16 operands, see `minitrans.kernels.linear`), the
reference's forward pass under `torch.autocast("cpu", dtype=torch.bfloat16)`; float32 weights,
optimizer and loss on both. The utilisation stays over the float32 peak; the bfloat16 peak of
the same 2048 x 2048 product is printed beside it.

Each measurement runs in its own process (so peak memory is its own) with the same number of
threads (2, this machine's cores). The reference side needs torch and transformers: from this
interpreter if it has them, or from `--reference-python` (a venv with `pip install torch==2.13.0
transformers`); without either, only our side is measured. No weights are downloaded: both
models are built from configs with random weights.

The two sides differ where BERT's own code and transformers differ: BERT scores the vocabulary
only at the masked positions (19 of 128 here), transformers' BertForPreTraining at all 128.

`--scaling`: how the cost grows, the same steps at every sequence length x batch size of the
grid (BERT: 15% of the positions masked, the two segments half each; T5: targets a quarter of
the input length), 3 timed steps each, both sides; prints a Markdown table (tokens/s and peak
resident memory of each side) and writes OUT/training_scaling.png.
"""

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

from sides import has_torch, run_side

ROOT = Path(__file__).resolve().parents[1]
BERT = dict(vocab=30522, d=256, layers=4, heads=4, ff=1024, batch=32, length=128, masked=19)
T5 = dict(vocab=32128, d=256, layers=4, heads=4, d_kv=64, ff=1024, batch=32, length=128, target=32)


def shapes(model: str, batch: int = 32, length: int = 128) -> dict:
    """The benchmark's configuration of `model` at another batch size and sequence length."""
    if model == "bert":
        return dict(BERT, batch=batch, length=length, masked=round(0.15 * length))
    return dict(T5, batch=batch, length=length, target=length // 4)


# ---------------------------------------------------------------- FLOPs (multiply-adds x 2)

def bert_forward_flops(c: dict, vocab_positions: int) -> float:
    L, d, ff = c["length"], c["d"], c["ff"]
    per_layer = 2 * L * (4 * d * d + 2 * d * ff) + 2 * 2 * L * L * d  # projections, FFN, scores + mix
    head = 2 * vocab_positions * (d * d + d * c["vocab"]) + 2 * (d * d + 2 * d)  # MLM transform + vocab, pooler+NSP
    return c["batch"] * (c["layers"] * per_layer + head)


def t5_forward_flops(c: dict) -> float:
    L, T, d, ff, inner = c["length"], c["target"], c["d"], c["ff"], c["heads"] * c["d_kv"]
    encoder = c["layers"] * (2 * L * (4 * d * inner + 2 * d * ff) + 2 * 2 * L * L * inner)
    self_attention = 2 * T * 4 * d * inner + 2 * 2 * T * T * inner
    cross = 2 * T * 2 * d * inner + 2 * L * 2 * d * inner + 2 * 2 * T * L * inner
    decoder = c["layers"] * (self_attention + cross + 2 * T * 2 * d * ff)
    return c["batch"] * (encoder + decoder + 2 * T * d * c["vocab"])


def segments(length: int) -> list[int]:
    """BERT's token types: the first half sentence A, the second sentence B."""
    return [0] * (length // 2) + [1] * (length - length // 2)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- our side (JAX)

def matmul_peak(n: int = 2048, repeats: int = 10, dtype: str = "float32") -> float:
    import jax
    import jax.numpy as jnp

    a = jax.random.normal(jax.random.key(0), (n, n), dtype)
    b = jax.random.normal(jax.random.key(1), (n, n), dtype)
    dot = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=jnp.float32))
    dot(a, b).block_until_ready()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        dot(a, b).block_until_ready()
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best / 1e9


def build(model: str, rng, c: dict | None = None):
    """(network, loss_fn, batch() of random ids, training FLOPs per step) for our side of the
    benchmark, at the shapes `c` (default: the benchmark's); benchmarks/profile_step.py
    profiles the same steps."""
    import numpy as np
    from flax import nnx

    c = c or shapes(model)
    if model == "bert":
        from minitrans.models.bert import BertConfig, BertForPreTraining
        from minitrans.training.pretraining import pretraining_loss
        net = BertForPreTraining(BertConfig.mini(vocab_size=c["vocab"]), rngs=nnx.Rngs(params=0, dropout=1))
        positions = np.sort(np.stack([rng.choice(np.arange(1, c["length"]), c["masked"], replace=False)
                                      for _ in range(c["batch"])]), 1).astype(np.int32)

        def batch():
            return {"input_ids": rng.integers(5, c["vocab"], (c["batch"], c["length"]), dtype=np.int32),
                    "token_type_ids": np.repeat([segments(c["length"])], c["batch"], 0).astype(np.int32),
                    "attention_mask": np.ones((c["batch"], c["length"]), np.int32),
                    "masked_positions": positions,
                    "masked_ids": rng.integers(5, c["vocab"], (c["batch"], c["masked"]), dtype=np.int32),
                    "masked_weights": np.ones((c["batch"], c["masked"]), np.float32),
                    "next_sentence_labels": rng.integers(0, 2, c["batch"], dtype=np.int32)}
        return net, pretraining_loss, batch, 3 * bert_forward_flops(c, c["masked"])
    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
    from minitrans.training.pretraining import span_corruption_loss
    net = T5ForConditionalGeneration(T5Config.mini(vocab_size=c["vocab"]), rngs=nnx.Rngs(params=0, dropout=1))

    def batch():
        return {"input_ids": rng.integers(5, 32000, (c["batch"], c["length"]), dtype=np.int32),
                "attention_mask": np.ones((c["batch"], c["length"]), np.int32),
                "labels": rng.integers(5, 32000, (c["batch"], c["target"]), dtype=np.int32),
                "word_weights": np.ones((c["batch"], c["target"]), np.float32)}
    return net, span_corruption_loss, batch, 3 * t5_forward_flops(c)


def ours(model: str, steps: int, c: dict, precision: str = "float32") -> dict:
    import jax
    import numpy as np

    from minitrans.training.step import TrainState, adamw_with_warmup

    net, loss_fn, batch, flops = build(model, np.random.default_rng(0), c)
    net.train()
    state = TrainState.create(net, adamw_with_warmup(1e-4, 10_000, 100), loss_fn)
    batches = [batch() for _ in range(3)]
    with jax.default_matmul_precision(None if precision == "float32" else precision):
        start = time.perf_counter()
        loss, _ = state.train_step(batches[0])
        loss.block_until_ready()
        first = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(steps):
            loss, _ = state.train_step(batches[i % 3])
        loss.block_until_ready()
    per_step = (time.perf_counter() - start) / steps
    peaks = {"matmul_peak_gflops": matmul_peak()}
    if precision == "bfloat16":
        peaks["bfloat16_peak_gflops"] = matmul_peak(dtype="bfloat16")
    return {"side": f"minitrans (jax {jax.__version__})" + (", bfloat16 products" if precision == "bfloat16" else ""),
            "model": model, "first_step_s": first, "s_per_step": per_step,
            "tokens_per_s": c["batch"] * c["length"] / per_step, "flops_per_step": flops,
            "peak_rss_mb": peak_rss_mb(), **peaks}


# ---------------------------------------------------------------- the reference (PyTorch)

def reference(model: str, steps: int, c: dict, precision: str = "float32") -> dict:
    import torch
    import transformers

    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    if model == "bert":
        config = transformers.BertConfig(vocab_size=c["vocab"], hidden_size=c["d"], num_hidden_layers=c["layers"],
                                         num_attention_heads=c["heads"], intermediate_size=c["ff"])
        net = transformers.BertForPreTraining(config)

        def batch():
            labels = torch.full((c["batch"], c["length"]), -100)
            for row in range(c["batch"]):
                where = torch.randperm(c["length"] - 1)[:c["masked"]] + 1
                labels[row, where] = torch.randint(5, c["vocab"], (c["masked"],))
            return {"input_ids": torch.randint(5, c["vocab"], (c["batch"], c["length"])),
                    "token_type_ids": torch.tensor([segments(c["length"])] * c["batch"]),
                    "attention_mask": torch.ones(c["batch"], c["length"], dtype=torch.long),
                    "labels": labels, "next_sentence_label": torch.randint(0, 2, (c["batch"],))}
        flops = 3 * bert_forward_flops(c, c["length"])
    else:
        config = transformers.T5Config(vocab_size=c["vocab"], d_model=c["d"], d_kv=c["d_kv"], d_ff=c["ff"],
                                       num_layers=c["layers"], num_heads=c["heads"], decoder_start_token_id=0,
                                       pad_token_id=0, eos_token_id=1)
        net = transformers.T5ForConditionalGeneration(config)

        def batch():
            return {"input_ids": torch.randint(5, 32000, (c["batch"], c["length"])),
                    "attention_mask": torch.ones(c["batch"], c["length"], dtype=torch.long),
                    "labels": torch.randint(5, 32000, (c["batch"], c["target"]))}
        flops = 3 * t5_forward_flops(c)
    net.train()
    optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=0.01)
    batches = [batch() for _ in range(3)]

    def one(b):
        optimizer.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bfloat16"):
            loss = net(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()

    start = time.perf_counter()
    one(batches[0])
    first = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(steps):
        one(batches[i % 3])
    per_step = (time.perf_counter() - start) / steps
    autocast = ", autocast bfloat16" if precision == "bfloat16" else ""
    return {"side": f"transformers {transformers.__version__} + torch {torch.__version__}{autocast}", "model": model,
            "first_step_s": first, "s_per_step": per_step, "tokens_per_s": c["batch"] * c["length"] / per_step,
            "flops_per_step": flops, "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------- orchestration

def both_sides(model: str, steps: int, c: dict, ref_python: str | None,
               precision: str = "float32") -> list[dict | None]:
    """[ours, the reference's (or None)] figures for one configuration, each in its own process."""
    spec = {"model": model, "steps": steps, "shapes": c, "precision": precision}
    results = [run_side(__file__, sys.executable, {"side": "ours", **spec}, strict=False)]
    if ref_python:
        results.append(run_side(__file__, ref_python, {"side": "reference", **spec}, strict=False))
    return results


def scaling(args, ref_python: str | None) -> None:
    """Every sequence length x batch size, both models, both sides: a table and a plot."""
    rows = []
    print("| model | length | batch | ours tokens/s | reference tokens/s | ours / reference | ours MFU "
          "| ours peak MB | reference peak MB |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model in args.models.split(","):
        for length in args.lengths:
            for batch in args.batches:
                mine, theirs = (both_sides(model, args.steps, shapes(model, batch, length), ref_python) + [None])[:2]
                rows.append((model, length, batch, mine, theirs))
                cell = lambda r, key, fmt: format(r[key], fmt) if r else "failed"
                ratio = f"{mine['tokens_per_s'] / theirs['tokens_per_s']:.2f}x" if mine and theirs else "-"
                mfu = f"{mine['flops_per_step'] / mine['s_per_step'] / 1e9 / mine['matmul_peak_gflops']:.0%}" \
                    if mine else "-"
                print(f"| {model.upper()}-mini | {length} | {batch} | {cell(mine, 'tokens_per_s', ',.0f')} "
                      f"| {cell(theirs, 'tokens_per_s', ',.0f')} | {ratio} | {mfu} | {cell(mine, 'peak_rss_mb', ',.0f')} "
                      f"| {cell(theirs, 'peak_rss_mb', ',.0f')} |", flush=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = args.models.split(",")
    fig, axes = plt.subplots(2, len(models), figsize=(5.5 * len(models), 7.5), squeeze=False)
    for column, model in enumerate(models):
        for batch, color in zip(args.batches, ("tab:blue", "tab:orange", "tab:green", "tab:red")):
            for side, style in ((3, "-"), (4, "--")):
                points = [(r[1], r[side]) for r in rows if r[0] == model and r[2] == batch and r[side]]
                label = f"batch {batch}, {'minitrans' if side == 3 else 'transformers'}"
                for row, key in ((0, "tokens_per_s"), (1, "peak_rss_mb")):
                    axes[row][column].plot([p[0] for p in points], [p[1][key] for p in points], style, marker="o",
                                           color=color, label=label)
        axes[0][column].set(title=f"{model.upper()}-mini training", ylabel="tokens/s", xscale="log", xticks=args.lengths)
        axes[1][column].set(xlabel="sequence length", ylabel="peak resident memory (MB)", xscale="log",
                            xticks=args.lengths)
        for axis in axes[:, column]:
            axis.minorticks_off()
            axis.set_xticklabels([str(n) for n in args.lengths])
            axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "training_scaling.png", dpi=120)
    print(f"\nwrote {out / 'training_scaling.png'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10; 3 with --scaling)")
    parser.add_argument("--models", default="bert,t5")
    parser.add_argument("--reference-python", help="a Python with torch and transformers (default: this one)")
    parser.add_argument("--scaling", action="store_true", help="the grid of sequence lengths x batch sizes")
    parser.add_argument("--lengths", type=int, nargs="+", default=[128, 256, 512])
    parser.add_argument("--batches", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--out", default="outputs", help="--scaling: where the plot goes")
    parser.add_argument("--bfloat16", action="store_true",
                        help="also measure both sides with bfloat16 matrix products (mixed precision)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        side = ours if spec["side"] == "ours" else reference
        print(json.dumps(side(spec["model"], spec["steps"], spec.get("shapes") or shapes(spec["model"]),
                              spec.get("precision", "float32"))))
        return
    ref_python = args.reference_python or sys.executable
    if not has_torch(ref_python):
        print(f"{ref_python} has no torch + transformers: measuring our side only "
              "(pass --reference-python a venv with `pip install torch==2.13.0 transformers`)")
        ref_python = None
    if args.scaling:
        args.steps = args.steps or 3
        return scaling(args, ref_python)
    args.steps = args.steps or 10
    for model in args.models.split(","):
        print(f"\n{model.upper()}-mini, {args.steps} timed steps after the first")
        results = both_sides(model, args.steps, shapes(model), ref_python)
        mixed = both_sides(model, args.steps, shapes(model), ref_python, "bfloat16") if args.bfloat16 else []
        peak = results[0]["matmul_peak_gflops"] if results[0] else None
        if peak:
            print(f"  measured float32 matmul peak (2048 x 2048, jax): {peak:,.0f} GFLOP/s")
        if mixed and mixed[0]:
            print(f"  measured bfloat16 matmul peak (2048 x 2048, jax, float32 sums): "
                  f"{mixed[0]['bfloat16_peak_gflops']:,.0f} GFLOP/s")
        for r in results + mixed:
            if r is None:
                continue
            mfu = r["flops_per_step"] / r["s_per_step"] / 1e9 / peak if peak else float("nan")
            print(f"  {r['side']:<40} {r['s_per_step']:.3f} s/step  {r['tokens_per_s']:>8,.0f} tokens/s  "
                  f"first step {r['first_step_s']:.1f} s  peak memory {r['peak_rss_mb']:,.0f} MB  "
                  f"{r['flops_per_step'] / 1e9:,.0f} GFLOP/step  MFU {mfu:.0%}")
        if len(results) == 2 and all(results):
            print(f"  ratio (ours / reference, tokens/s): {results[0]['tokens_per_s'] / results[1]['tokens_per_s']:.2f}x")
        if len(mixed) == 2 and all(mixed):
            print(f"  ratio, both in bfloat16: {mixed[0]['tokens_per_s'] / mixed[1]['tokens_per_s']:.2f}x")
        if mixed and mixed[0] and len(results) == 2 and all(results):
            print(f"  ratio, ours in bfloat16 / the reference in float32: "
                  f"{mixed[0]['tokens_per_s'] / results[1]['tokens_per_s']:.2f}x")


if __name__ == "__main__":
    main()
