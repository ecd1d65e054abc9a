"""minitrans.metrics against the official SQuAD v1.1 and v2.0 evaluation scripts
(reference/squad_official.py), to the last digit, on real and random predictions."""

import json
import random
import sys
from pathlib import Path

import pytest

from minitrans.datasets import shared
from minitrans.datasets.squad import load_squad, mini_squad, read_json, to_json
from minitrans.metrics import f1_score, normalize_answer, squad_evaluate, squad_v2_evaluate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "reference"))
import squad_official  # noqa: E402


def noisy_predictions(dataset: dict, seed: int, empty_rate: float = 0.1, missing: bool = True) -> dict:
    """Predictions of every kind: exact gold answers, gold with changed case/punctuation/articles,
    partial overlaps, context spans, empty strings, unicode, and missing questions."""
    rng = random.Random(seed)
    out = {}
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            words = paragraph["context"].split()
            for qa in paragraph["qas"]:
                kind = rng.random()
                gold = qa["answers"][rng.randrange(len(qa["answers"]))]["text"] if qa["answers"] else ""
                if kind < 0.03 and missing:
                    continue  # missing: scores 0
                if kind < empty_rate:
                    out[qa["id"]] = ""
                elif kind < 0.35:
                    out[qa["id"]] = gold
                elif kind < 0.5:
                    out[qa["id"]] = "The " + gold.upper() + "!!"
                elif kind < 0.7:
                    g = gold.split()
                    out[qa["id"]] = " ".join(g[: max(1, len(g) // 2)] + words[:rng.randrange(3)])
                elif kind < 0.9:
                    i = rng.randrange(len(words))
                    out[qa["id"]] = " ".join(words[i:i + rng.randrange(1, 8)])
                else:
                    out[qa["id"]] = rng.choice(["a an the", "Ünïcödé – “quoted”", "  ", "the the", gold + " " + gold])
    return out


def squad_v11_dev():
    path = shared("squad/dev-v1.1.json.gz")
    if path is None:
        pytest.skip("needs ../shared/data/squad/dev-v1.1.json.gz (or $MINITRANS_DATA)")
    return read_json(path)


def test_normalize_answer_and_f1_by_hand():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert normalize_answer("an apple, a pear") == "apple pear"
    assert normalize_answer("theatre") == "theatre"  # articles only as whole words
    assert f1_score("Denver Broncos", "the Denver Broncos team") == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert f1_score("", "anything") == 0


@pytest.mark.parametrize("seed", [0, 1])
def test_v11_agrees_with_the_official_script_on_the_real_dev_set(seed, capsys):
    dataset = squad_v11_dev()
    predictions = noisy_predictions(dataset, seed)
    ours = squad_evaluate(dataset, predictions)
    official = squad_official.evaluate_v1(dataset["data"], predictions)
    assert ours == official  # exact, to the last digit
    assert 20 < ours["f1"] < 80


def test_v11_from_loaded_examples_is_the_same():
    dataset = squad_v11_dev()
    path = shared("squad/dev-v1.1.json.gz")
    predictions = noisy_predictions(dataset, 3)
    assert squad_evaluate(load_squad(path, verbose=False), predictions, quiet=True) == \
        squad_official.evaluate_v1(dataset["data"], predictions)


@pytest.mark.parametrize("with_probs", [False, True])
def test_v2_agrees_with_the_official_script(with_probs, capsys):
    path = shared("squad/dev-v2.0.reconstructed.json.gz")
    dataset = read_json(path) if path else to_json(mini_squad(), "2.0")
    predictions = noisy_predictions(dataset, 5, empty_rate=0.4, missing=False)
    rng = random.Random(7)
    probs = {qid: rng.random() for qid in predictions} if with_probs else None
    ours = squad_v2_evaluate(dataset, predictions, no_answer_probs=probs)
    official = squad_official.evaluate_v2(dataset["data"], predictions, probs)
    assert ours == dict(official)
    assert {"HasAns_f1", "NoAns_f1"} <= set(ours)
    if with_probs:
        assert ours["best_f1"] >= ours["f1"] - 1e-9 and "best_f1_thresh" in ours


def test_v2_threshold_turns_answers_into_no_answer():
    dataset = to_json(mini_squad(8), "2.0")
    predictions = noisy_predictions(dataset, 1, missing=False)
    probs = {qid: 0.9 for qid in predictions}
    ours = squad_v2_evaluate(dataset, predictions, probs, no_answer_threshold=0.5)
    assert ours == dict(squad_official.evaluate_v2(dataset["data"], predictions, probs, 0.5))
    assert ours["NoAns_exact"] == 100.0


def test_v2_missing_predictions_are_named():
    dataset = to_json(mini_squad(3), "2.0")
    with pytest.raises(ValueError, match="no prediction for 1 of 27 questions"):
        squad_v2_evaluate(dataset, {qid: "" for qid in list(noisy_predictions(dataset, 0, missing=False))[1:]})


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="no questions"):
        squad_evaluate({"data": []}, {})
    with pytest.raises(ValueError, match="'data'"):
        squad_evaluate({"version": "1.1"}, {})


def test_json_roundtrip(tmp_path):
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(to_json(mini_squad(5), "2.0")))
    assert load_squad(path, verbose=False) == mini_squad(5)
