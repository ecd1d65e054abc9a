"""The SQuAD 2.0 variant: a no-answer-aware extractive model, scored on SQuAD 2.0 dev questions.

    python benchmarks/squad_v2.py --model outputs/squad/model [--minutes 10]

There is no SQuAD 2.0 training set beside the project (../shared/data/squad/README.md). What
there is: `squad2-split-a.json.gz`, half of the official 2.0 dev set by article (6,078
questions, 3,168 unanswerable), and `dev-v2.0.reconstructed.json.gz`, the whole 2.0 dev set
(11,873 questions), which contains split a. So: fine-tune on split a (unanswerable questions
point at [CLS]), starting from a model already fine-tuned on SQuAD 1.1 (`--model`), and score
on the dev-v2.0 questions of the articles split a does not hold, with the official v2.0 metric
(answer "" when the [CLS] score beats the best span; and the best threshold). The evaluation
file is written to `--out`/dev-v2.0-not-in-split-a.json.
"""

import argparse
import json
import time
from pathlib import Path

from minitrans.datasets import shared
from minitrans.datasets.squad import read_json
from minitrans.qa.squad import evaluate_squad, load_qa_model, train_squad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a BERT QA checkpoint (e.g. fine-tuned on SQuAD 1.1)")
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--lr", type=float, default=5e-5)
    parser.add_argument("--out", default="outputs/squad_v2")
    args = parser.parse_args()
    split_a, dev = shared("squad/squad2-split-a.json.gz"), shared("squad/dev-v2.0.reconstructed.json.gz")
    if split_a is None or dev is None:
        raise SystemExit("needs ../shared/data/squad/{squad2-split-a,dev-v2.0.reconstructed}.json.gz")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_titles = {a["title"] for a in read_json(split_a)["data"]}
    data = read_json(dev)
    kept = [a for a in data["data"] if a["title"] not in train_titles]
    eval_file = out / "dev-v2.0-not-in-split-a.json"
    eval_file.write_text(json.dumps({"version": data.get("version", "v2.0"), "data": kept}))
    questions = sum(len(p["qas"]) for a in kept for p in a["paragraphs"])
    print(f"training on {split_a.name} ({len(train_titles)} articles); evaluating on {questions:,} questions of "
          f"{len(kept)} other dev-v2.0 articles -> {eval_file}")
    started = time.perf_counter()
    model, tokenizer = load_qa_model(args.model)
    model = train_squad(model, tokenizer, split_a, out, steps=args.steps, minutes=args.minutes, batch_size=16,
                        learning_rate=args.lr, warmup_steps=30, started=started, version_2=True)
    scores = evaluate_squad(model, tokenizer, eval_file, out, version_2=True)
    print(json.dumps(scores, indent=1))


if __name__ == "__main__":
    main()
