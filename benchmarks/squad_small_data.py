"""Fine-tuning on little data: a dozen SQuAD articles for 30 minutes, side by side with transformers.

    python benchmarks/squad_small_data.py --reference-python /path/to/venv/bin/python \\
        [--minutes 30] [--seed 0] [--out outputs/squad_small] [--dev-limit N] [--keep-ours] \\
        [--reference-lr 3e-5 --reference-batch 12 --reference-epochs 2] [-- OPTIONS OF `minitrans qa train`]

The split: the first 12 articles of SQuAD 1.1 train that hold 250 questions or fewer (about
2,300 questions); scored on the official dev set, whose 48 articles the model never saw. Both
sides start from all-MiniLM-L6-v2 with a new start/end head and have the same wall-clock budget,
tokenisation included; evaluation comes after the budget.

- Ours: `minitrans qa train --train SPLIT --eval DEV --minutes M` as a user runs it, with the
  options after `--` (the recipe under test); its scores.json is read.
- The reference: transformers' `BertForQuestionAnswering` + torch, the recipe of transformers'
  question-answering example (learning rate 3e-5, batches of 12, 2 epochs, linear decay to 0,
  no warm-up, no weight decay, gradients clipped at norm 1, the checkpoint's dropout 0.1; change
  it with --reference-lr / --reference-batch / --reference-epochs), on the same windows (max
  length 384, stride 128, tokenised here), shuffled each epoch and padded to the batch's longest
  (rounded up to 64). Its dev logits are scored by the same post-processing and metric.

Prints each side's steps, epochs, training seconds, final training loss, exact match and F1.
"""

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from qa_inference import DEV, answers_and_scores, minilm, ragged, reference_logits, save_windows
from sides import run_side

TRAIN = DEV.parent / "train-v1.1.reconstructed.json.gz"
ARTICLES, MOST_QUESTIONS = 12, 250


def small_split(examples):
    """The questions of the first ARTICLES articles holding MOST_QUESTIONS questions or fewer."""
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.title] = counts.get(e.title, 0) + 1
    titles = [t for t, n in counts.items() if n <= MOST_QUESTIONS][:ARTICLES]
    return [e for e in examples if e.title in set(titles)], titles


# ---------------------------------------------------------------- the reference, in its own process

def reference(spec: dict) -> dict:
    import torch
    import transformers

    torch.set_num_threads(2)
    torch.manual_seed(spec["seed"])
    folder = Path(spec["folder"])
    model = transformers.BertForQuestionAnswering.from_pretrained(spec["checkpoint"])
    data = np.load(folder / "train.npz")
    ids, types = ragged(data)
    n, batch = len(ids), spec["batch"]
    per_epoch = -(-n // batch)
    total = spec["epochs"] * per_epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: max(0.0, 1 - s / total))
    rng = np.random.default_rng(spec["seed"])
    model.train()
    start, step, losses = time.perf_counter(), 0, []
    while step < total and time.perf_counter() - start < spec["budget"]:
        order = rng.permutation(n)
        for first in range(0, n, batch):
            if step >= total or time.perf_counter() - start >= spec["budget"]:
                break
            chosen = order[first:first + batch]
            length = -(-max(len(ids[i]) for i in chosen) // 64) * 64
            tensors = {"input_ids": np.zeros((len(chosen), length)), "token_type_ids": np.zeros((len(chosen), length)),
                       "attention_mask": np.zeros((len(chosen), length))}
            for row, i in enumerate(chosen):
                tensors["input_ids"][row, :len(ids[i])] = ids[i]
                tensors["token_type_ids"][row, :len(ids[i])] = types[i]
                tensors["attention_mask"][row, :len(ids[i])] = 1
            inputs = {k: torch.from_numpy(v.astype(np.int64)) for k, v in tensors.items()}
            out = model(**inputs, start_positions=torch.from_numpy(data["start_positions"][chosen].astype(np.int64)),
                        end_positions=torch.from_numpy(data["end_positions"][chosen].astype(np.int64)))
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            losses.append(out.loss.item())
            step += 1
    seconds = time.perf_counter() - start
    reference_logits(model, folder)
    return {"side": f"transformers {transformers.__version__} + torch {torch.__version__}", "steps": step,
            "epochs": step / per_epoch, "seconds": seconds, "loss": float(np.mean(losses[-20:]))}


# ---------------------------------------------------------------- orchestration

def side_by_side(args, recipe: list[str]) -> None:
    from minitrans.datasets.squad import load_squad, to_json
    from minitrans.qa.extractive import prepare_train_features, prepare_validation_features
    from minitrans.tokenizers import WordPieceTokenizer

    for path in (TRAIN, DEV):
        if not path.is_file():
            raise SystemExit(f"needs {path.name} in the shared data folder: not at {path}")
    checkpoint = minilm()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    examples, titles = small_split(load_squad(TRAIN, verbose=False))
    split = out / "train_split.json"
    split.write_text(json.dumps(to_json(examples)))
    print(f"training split: {len(examples):,} questions of {len(titles)} articles ({', '.join(titles)}); "
          f"scored on the official dev set", flush=True)

    command = [sys.executable, "-m", "minitrans.cli", "qa", "train", "--model", str(checkpoint), "--train", str(split),
               "--eval", str(DEV), "--minutes", str(args.minutes), "--seed", str(args.seed), "--out",
               str(out / "ours"), "--overwrite", *(["--eval-limit", str(args.dev_limit)] if args.dev_limit else []),
               *recipe]
    if args.keep_ours and (out / "ours" / "scores.json").is_file():
        print(f"our side: the run already in {out / 'ours'} (--keep-ours)", flush=True)
    else:
        print("$ " + " ".join(command), flush=True)
        subprocess.run(command, check=True)
    ours = json.loads((out / "ours" / "scores.json").read_text())
    trained = json.loads((out / "ours" / "training.json").read_text())

    dev = load_squad(DEV, verbose=False)[:args.dev_limit]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tokenizer = WordPieceTokenizer.from_pretrained(checkpoint)
        start = time.perf_counter()
        features = prepare_train_features(examples, tokenizer, max_length=384, stride=128)
        tokenising = time.perf_counter() - start
        np.savez(folder / "train.npz", lengths=[len(f["input_ids"]) for f in features],
                 input_ids=np.concatenate([f["input_ids"] for f in features]),
                 token_type_ids=np.concatenate([f["token_type_ids"] for f in features]),
                 start_positions=[f["start_positions"] for f in features],
                 end_positions=[f["end_positions"] for f in features])
        dev_features = prepare_validation_features(dev, tokenizer, max_length=384, stride=128)
        save_windows(dev_features, folder, 64)
        spec = {"side": "reference", "folder": str(folder), "checkpoint": str(checkpoint), "seed": args.seed,
                "lr": args.reference_lr, "batch": args.reference_batch, "epochs": args.reference_epochs,
                "budget": args.minutes * 60 - tokenising}
        print(f"the reference: {len(features):,} windows tokenised in {tokenising:.0f} s; training "
              f"(lr {args.reference_lr}, batches of {args.reference_batch}, {args.reference_epochs} epochs)", flush=True)
        theirs = run_side(__file__, args.reference_python, spec)
        _, scores, _ = answers_and_scores(dev, dev_features, folder / "reference.npz")
    (out / "reference_scores.json").write_text(json.dumps({**theirs, **scores}, indent=1))

    print(f"\n{len(examples):,} training questions, {args.minutes:g} minutes each (tokenisation included); "
          f"official dev set ({len(dev):,} questions)\n")
    print("| side | recipe | steps | epochs | training loss at the end | exact match | F1 |\n"
          "|---|---|---:|---:|---:|---:|---:|")
    history = [json.loads(line) for line in (out / "ours" / "log.jsonl").read_text().splitlines()]
    windows = trained["features"]
    print(f"| minitrans | `{' '.join(recipe) or 'the defaults'}` | {trained['steps']:,} | "
          f"{trained['steps'] * trained['batch_size'] / windows:.1f} | {history[-1]['loss'] if history else float('nan'):.3f} | "
          f"{ours['exact_match']:.2f} | {ours['f1']:.2f} |")
    print(f"| {theirs['side']} | lr {args.reference_lr}, batch {args.reference_batch}, {args.reference_epochs} epochs "
          f"| {theirs['steps']:,} | {theirs['epochs']:.1f} | {theirs['loss']:.3f} | {scores['exact_match']:.2f} "
          f"| {scores['f1']:.2f} |")


def main() -> None:
    argv = sys.argv[1:]
    recipe = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-python", help="a Python with torch and transformers (the reference side)")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="outputs/squad_small")
    parser.add_argument("--dev-limit", type=int, help="score on the first N dev questions only (a quick try)")
    parser.add_argument("--reference-lr", type=float, default=3e-5)
    parser.add_argument("--reference-batch", type=int, default=12)
    parser.add_argument("--reference-epochs", type=int, default=2)
    parser.add_argument("--keep-ours", action="store_true",
                        help="reuse our side's finished run in --out (to try another reference recipe)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(reference(json.loads(args.child))))
        return
    if not args.reference_python:
        parser.error("--reference-python is required: the figures are side by side")
    side_by_side(args, recipe)


if __name__ == "__main__":
    main()
