"""T5 generation speed: with and without the key/value cache, and side by side with transformers.

    python benchmarks/t5_generation.py [--config mini] [--new-tokens 64] [--batch 8]
    python benchmarks/t5_generation.py --reference-python /path/to/venv/bin/python \\
        [--config mini] [--cases 1x64 8x64 1x256 8x256] [--beams 1 4] [--repeats 3]

The first form: our greedy generation with the cache (one compiled step per token over the
cache) against without it (the whole decoder over a fixed-size buffer per token, also compiled
once), random weights, the same inputs both ways.

The second form: ours against transformers' `generate` (its cache on, `torch.inference_mode`),
the same random weights (written once by minitrans, read by both sides), the same inputs
(input length 128), greedy and beam search, no early end (EOS never stops a row), each side in
its own process with 2 threads. For every case (batch x new tokens, beams) it prints generated
tokens per second (batch x new tokens over the seconds of the fastest of `--repeats` warmed-up
calls: the machine's speed drifts, and the fastest call is the one least slowed by it), the first
call's seconds (ours compiles there), and how many of the returned rows are token for token the
same on both sides. Needs a Python with torch and transformers for the reference (a venv with
`pip install torch==2.13.0 transformers`).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sides import run_side

INPUT_LENGTH = 128


def cache_or_not(args) -> None:
    import jax.numpy as jnp
    from flax import nnx

    from minitrans.generation import generate
    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration

    config = getattr(T5Config, args.config)()
    model = T5ForConditionalGeneration(config, rngs=nnx.Rngs(0))
    ids = jnp.asarray(np.random.default_rng(0).integers(2, config.vocab_size, size=(args.batch, INPUT_LENGTH)))
    print(f"T5-{args.config}, batch {args.batch}, input {INPUT_LENGTH}, {args.new_tokens} new tokens (no early EOS)")
    model.config = config.replace(eos_token_id=-1)  # never stop early: time exactly new_tokens steps
    for use_cache in (True, False):
        start = time.perf_counter()
        generate(model, ids, max_new_tokens=args.new_tokens, use_cache=use_cache)  # compiles, then runs
        first = time.perf_counter() - start
        start = time.perf_counter()
        out = generate(model, ids, max_new_tokens=args.new_tokens, use_cache=use_cache)
        seconds = time.perf_counter() - start
        produced = args.batch * (out.shape[1] - 1)
        print(f"  {'with' if use_cache else 'without'} cache: {produced / seconds:8.1f} tokens/s "
              f"({seconds:.2f} s; the first call, compiling, took {first:.2f} s)")


# ---------------------------------------------------------------- one side, in its own process

def ours(folder: Path, cases: list[tuple[int, int, int]], repeats: int) -> dict:
    import jax

    from minitrans.generation import generate
    from minitrans.models.t5 import T5ForConditionalGeneration

    model = T5ForConditionalGeneration.from_pretrained(folder, verbose=False)
    model.config = model.config.replace(eos_token_id=-1)  # EOS never ends a row
    inputs = np.load(folder / "inputs.npy")
    return {"side": f"minitrans (jax {jax.__version__})",
            "cases": [timed(lambda ids, n, beams: np.asarray(generate(model, ids, max_new_tokens=n, num_beams=beams)),
                            inputs, case, folder / f"ours_{'x'.join(map(str, case))}.npy", repeats) for case in cases]}


def reference(folder: Path, cases: list[tuple[int, int, int]], repeats: int) -> dict:
    import torch
    import transformers

    torch.set_num_threads(2)
    model = transformers.T5ForConditionalGeneration.from_pretrained(folder).eval()
    model.generation_config.eos_token_id = None  # EOS never ends a row
    inputs = np.load(folder / "inputs.npy")

    def run(ids, n, beams):
        with torch.inference_mode():
            out = model.generate(torch.from_numpy(ids.astype(np.int64)), max_new_tokens=n, num_beams=beams,
                                 do_sample=False, use_cache=True, early_stopping=False)
        return out.numpy()
    return {"side": f"transformers {transformers.__version__} + torch {torch.__version__}",
            "cases": [timed(run, inputs, case, folder / f"reference_{'x'.join(map(str, case))}.npy", repeats)
                      for case in cases]}


def timed(run, inputs: np.ndarray, case: tuple[int, int, int], path: Path, repeats: int) -> dict:
    """A first call (compiling, on our side), then `repeats` timed ones, of which the fastest
    counts; the tokens go to `path`."""
    batch, new_tokens, beams = case
    ids = inputs[:batch]
    start = time.perf_counter()
    run(ids, new_tokens, beams)
    first = time.perf_counter() - start
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = run(ids, new_tokens, beams)
        seconds.append(time.perf_counter() - start)
    seconds = min(seconds)
    np.save(path, out)
    return {"case": case, "first_s": first, "seconds": seconds, "tokens_per_s": batch * new_tokens / seconds}


# ---------------------------------------------------------------- orchestration

def side_by_side(args) -> None:
    from flax import nnx

    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration

    cases = [(int(b), int(n), beams) for b, n in (c.split("x") for c in args.cases) for beams in args.beams]
    config = getattr(T5Config, args.config)()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        T5ForConditionalGeneration(config, rngs=nnx.Rngs(0)).save_pretrained(folder)
        batch = max(b for b, _, _ in cases)
        np.save(folder / "inputs.npy", np.random.default_rng(0).integers(2, config.vocab_size, size=(batch, INPUT_LENGTH)))
        results = {side: run_side(__file__, python, {"side": side, "folder": str(folder), "cases": cases,
                                                     "repeats": args.repeats})
                   for side, python in (("ours", sys.executable), ("reference", args.reference_python))}
        print(f"T5-{args.config} (random weights), input {INPUT_LENGTH} tokens, no early EOS; "
              f"ours: {results['ours']['side']}; reference: {results['reference']['side']}\n")
        print("| batch | new tokens | beams | ours tokens/s | reference tokens/s | ours / reference "
              "| first call ours / reference | identical rows |\n|---:|---:|---:|---:|---:|---:|---:|---:|")
        for mine, theirs in zip(results["ours"]["cases"], results["reference"]["cases"]):
            tag = "x".join(map(str, mine["case"]))
            a, b = np.load(folder / f"ours_{tag}.npy"), np.load(folder / f"reference_{tag}.npy")
            same = sum(np.array_equal(x, y) for x, y in zip(a, b)) if a.shape == b.shape else 0
            batch, new_tokens, beams = mine["case"]
            print(f"| {batch} | {new_tokens} | {beams} | {mine['tokens_per_s']:,.1f} | {theirs['tokens_per_s']:,.1f} "
                  f"| {mine['tokens_per_s'] / theirs['tokens_per_s']:.2f}x | {mine['first_s']:.1f} s / "
                  f"{theirs['first_s']:.1f} s | {same} of {len(a)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="mini", choices=["tiny", "mini", "small"])
    parser.add_argument("--new-tokens", type=int, default=64, help="cache or not: tokens to generate")
    parser.add_argument("--batch", type=int, default=8, help="cache or not: rows")
    parser.add_argument("--reference-python", help="side by side with transformers: a Python with torch and it")
    parser.add_argument("--cases", nargs="+", default=["1x64", "8x64", "1x256", "8x256"], help="side by side: BATCHxNEW")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 4], help="side by side: beam widths")
    parser.add_argument("--repeats", type=int, default=3, help="side by side: timed calls per case (the fastest counts)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    if args.child:
        spec = json.loads(args.child)
        side = ours if spec["side"] == "ours" else reference
        print(json.dumps(side(Path(spec["folder"]), [tuple(c) for c in spec["cases"]], spec["repeats"])))
    elif args.reference_python:
        side_by_side(args)
    else:
        cache_or_not(args)


if __name__ == "__main__":
    main()
