"""minitrans.metrics against what the official SQuAD v1.1 and v2.0 evaluation scripts computed,
question by question, to the last digit (tests/fixtures/squad_official_scores.json.gz; the
scripts were run outside the repository by reference/squad_metric_fixture.py, which also writes
the prediction sets: the test writes them again with the same functions)."""

import gzip
import hashlib
import importlib.util
import json
from functools import lru_cache

import pytest
from conftest import ROOT, shared_data

from minitrans.datasets.squad import load_squad, mini_squad, read_json, to_json
from minitrans.qa.metrics import (
    exact_match,
    f1_score,
    f1_score_v2,
    normalize_answer,
    question_scores,
    squad_evaluate,
    squad_v2_evaluate,
)

FIXTURE = ROOT / "tests" / "fixtures" / "squad_official_scores.json.gz"


@lru_cache(maxsize=None)
def fixture() -> dict:
    with gzip.open(FIXTURE, "rt", encoding="utf-8") as f:
        return json.load(f)


@lru_cache(maxsize=None)
def maker():
    """reference/squad_metric_fixture.py, for its prediction-set writers (standard library only)."""
    spec = importlib.util.spec_from_file_location("squad_metric_fixture", ROOT / "reference" / "squad_metric_fixture.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def digest(value) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@lru_cache(maxsize=None)
def dev_sets() -> tuple[dict, dict]:
    return (read_json(shared_data(fixture()["v1.1"]["dataset"])),
            read_json(shared_data(fixture()["v2.0"]["dataset"])))


@lru_cache(maxsize=None)
def prediction_sets() -> dict:
    v1, v2 = dev_sets()
    sets = maker().prediction_sets(v1, v2)
    for version, entries in fixture().items():
        if version in ("v1.1", "v2.0") and "model" in entries["sets"]:
            ids = [qa["id"] for qa, _ in maker().questions(v1)]
            stored = entries["sets"]["model"]["predictions"]
            sets[version]["model"] = ({i: p for i, p in zip(ids, stored) if p is not None}, None)
    return sets


SETS = [(version, name) for version in ("v1.1", "v2.0") for name in fixture()[version]["sets"]]


@pytest.mark.parametrize("version,name", SETS)
def test_each_question_scores_as_the_official_script_scores_it(version, name):
    dataset = dev_sets()[0 if version == "v1.1" else 1]
    expected = fixture()[version]
    ids = [qa["id"] for qa, _ in maker().questions(dataset)]
    assert digest(ids) == expected["ids_sha256"], "the dev set is not the one the fixture was made from"
    predictions, probs = prediction_sets()[version][name]
    assert digest([predictions, probs]) == expected["sets"][name]["predictions_sha256"], \
        "the prediction writers changed: run reference/squad_metric_fixture.py again"
    ours = question_scores(dataset, predictions, version_2=version == "v2.0")
    for qid, exact, f1 in zip(ids, expected["sets"][name]["exact"], expected["sets"][name]["f1"]):
        if exact is None:
            assert qid not in ours
            continue
        assert (ours[qid][0], ours[qid][1]) == (exact, f1), (qid, predictions[qid])  # exactly, not approximately
        assert type(ours[qid][0]) is type(exact)


@pytest.mark.parametrize("version,name", SETS)
@pytest.mark.slow
def test_totals_equal_the_official_command_lines(version, name, capsys):
    dataset = dev_sets()[0 if version == "v1.1" else 1]
    predictions, probs = prediction_sets()[version][name]
    totals = fixture()[version]["sets"][name]["totals"]
    if version == "v1.1":
        assert squad_evaluate(dataset, predictions) == totals["default"]
        assert 0 <= totals["default"]["f1"] <= 100
        return
    assert squad_v2_evaluate(dataset, predictions) == totals["default"]
    if probs is not None:
        assert squad_v2_evaluate(dataset, predictions, no_answer_probs=probs) == totals["na_probs"]
        assert squad_v2_evaluate(dataset, predictions, no_answer_probs=probs, no_answer_threshold=0.5) == \
            totals["na_probs_thresh_0.5"]
        assert totals["na_probs"]["best_f1"] >= totals["na_probs"]["f1"]


def test_the_fixture_tells_the_sets_apart():
    """The sets are not all alike: a wrong metric cannot match them all by luck."""
    v1 = fixture()["v1.1"]["sets"]
    assert v1["shifted"]["totals"]["default"]["exact_match"] < 5 < 40 < v1["shifted"]["totals"]["default"]["f1"]
    assert v1["empty"]["totals"]["default"]["f1"] == 0.0
    assert 40 < v1["noisy"]["totals"]["default"]["exact_match"] < v1["noisy"]["totals"]["default"]["f1"]
    assert fixture()["v2.0"]["sets"]["empty"]["totals"]["default"]["NoAns_exact"] == 100.0


HARD = fixture()["hard"]


@pytest.mark.parametrize("text", sorted(HARD["normalize"]))
def test_normalisation_of_hard_strings(text):
    """ASCII punctuation only: '_' goes, '–' and '“ ”' stay; articles only as whole words."""
    assert normalize_answer(text) == HARD["normalize"][text]


@pytest.mark.parametrize("pair", HARD["pairs"], ids=[repr(p["prediction"]) + "|" + repr(p["golds"]) for p in HARD["pairs"]])
def test_hard_pairs_as_both_scripts_score_them(pair):
    prediction, golds = pair["prediction"], pair["golds"]
    assert max(exact_match(prediction, g) for g in golds) == pair["v1.1"]["exact"]
    assert max(f1_score(prediction, g) for g in golds) == pair["v1.1"]["f1"]
    dataset = {"data": [{"paragraphs": [{"qas": [{"id": "q", "answers": [{"text": g} for g in golds]}]}]}]}
    assert question_scores(dataset, {"q": prediction}, version_2=True)["q"] == (pair["v2.0"]["exact"], pair["v2.0"]["f1"])


def test_the_hard_pairs_cover_what_they_claim():
    by_prediction = {(p["prediction"], tuple(p["golds"])): p for p in HARD["pairs"]}
    assert by_prediction[("to to", ("to to",))]["v1.1"]["f1"] == 1.0  # a set overlap would give 0.5
    assert HARD["normalize"]["snake_case_word"] == "snakecaseword"
    assert HARD["normalize"]["“quoted” – dash"] == "“quoted” – dash"
    assert by_prediction[("", ("",))]["v2.0"] == {"exact": 1, "f1": 1}  # v2.0: two empty answers agree
    assert by_prediction[("", ("",))]["v1.1"]["f1"] == 0  # v1.1: never


def test_normalize_answer_and_f1_by_hand():
    assert normalize_answer("The  Denver Broncos!") == "denver broncos"
    assert f1_score("Denver Broncos", "the Denver Broncos team") == pytest.approx(2 * 1 * (2 / 3) / (1 + 2 / 3))
    assert f1_score("", "anything") == 0 and f1_score_v2("", "") == 1


def test_v11_from_loaded_examples_is_the_same():
    dataset = dev_sets()[0]
    predictions = prediction_sets()["v1.1"]["noisy"][0]
    assert squad_evaluate(load_squad(shared_data("squad/dev-v1.1.json.gz"), verbose=False), predictions, quiet=True) \
        == fixture()["v1.1"]["sets"]["noisy"]["totals"]["default"] == squad_evaluate(dataset, predictions, quiet=True)


def test_v2_missing_predictions_are_named():
    dataset = to_json(mini_squad(3), "2.0")
    ids = [qa["id"] for a in dataset["data"] for p in a["paragraphs"] for qa in p["qas"]]
    with pytest.raises(ValueError, match="no prediction for 1 of 27 questions"):
        squad_v2_evaluate(dataset, {qid: "" for qid in ids[1:]})


def test_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="no questions"):
        squad_evaluate({"data": []}, {})
    with pytest.raises(ValueError, match="'data'"):
        squad_evaluate({"version": "1.1"}, {})


def test_json_roundtrip(tmp_path):
    path = tmp_path / "mini.json"
    path.write_text(json.dumps(to_json(mini_squad(5), "2.0")))
    assert load_squad(path, verbose=False) == mini_squad(5)


def test_the_exercise_graders_expect_what_the_official_scripts_compute():
    """The normalize_answer and f1_score graders carry their expected values as literals: they are
    the official scripts' outputs."""
    from minitrans.exercises.qa import F1, NORMALISED, REPEATED, UNICODE

    for text, want in NORMALISED + UNICODE:
        assert HARD["normalize"][text] == want, text
    official = {(p["prediction"], p["golds"][0]): p["v1.1"]["f1"] for p in HARD["pairs"] if len(p["golds"]) == 1}
    for prediction, gold, want in F1 + REPEATED:
        assert official[(prediction, gold)] == pytest.approx(want, abs=1e-12), (prediction, gold)
