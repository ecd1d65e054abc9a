"""T5 greedy generation speed with and without the key/value cache.

    python benchmarks/t5_generation.py [--config mini] [--new-tokens 64] [--batch 8]

Random weights (speed does not depend on them); the same inputs both ways. The cached path
runs one compiled step per token over the cache; the uncached path runs the whole decoder over
a fixed-size buffer per token (also compiled once). Prints generated tokens per second (whole
batch) of a second, warmed-up call, and how long the first, compiling call took.
"""

import argparse
import time

import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.generation import generate
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="mini", choices=["tiny", "mini", "small"])
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--input-length", type=int, default=128)
    args = parser.parse_args()
    config = getattr(T5Config, args.config)()
    model = T5ForConditionalGeneration(config, rngs=nnx.Rngs(0))
    ids = jnp.asarray(np.random.default_rng(0).integers(2, config.vocab_size, size=(args.batch, args.input_length)))
    print(f"T5-{args.config}, batch {args.batch}, input {args.input_length}, {args.new_tokens} new tokens (no early EOS)")
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


if __name__ == "__main__":
    main()
