"""T5 greedy generation speed with and without the key/value cache.

    python benchmarks/t5_generation.py [--config mini] [--new-tokens 64] [--batch 8]

Random weights (speed does not depend on them); the same inputs both ways; the cached path
compiles one step and runs it once per token, the uncached path re-runs the decoder over the
whole prefix every token. Prints tokens/second (generated tokens, whole batch) for each.
"""

import argparse
import sys
import time
from pathlib import Path

import jax.numpy as jnp
import numpy as np
from flax import nnx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from minitrans.generation import generate  # noqa: E402
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration  # noqa: E402


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
    for use_cache in (True, False):
        eos = config.eos_token_id
        model.config = config.replace(eos_token_id=-1)  # never stop early: time exactly new_tokens steps
        generate(model, ids[:, :8], max_new_tokens=2, use_cache=use_cache)  # warm-up compile of small shapes
        start = time.perf_counter()
        out = generate(model, ids, max_new_tokens=args.new_tokens, use_cache=use_cache)
        seconds = time.perf_counter() - start
        model.config = config.replace(eos_token_id=eos)
        produced = args.batch * (out.shape[1] - 1)
        print(f"  {'with' if use_cache else 'without'} cache: {seconds:6.1f} s, {produced / seconds:8.1f} tokens/s "
              "(compilation included)")


if __name__ == "__main__":
    main()
