"""Extractive QA: features against Hugging Face's (a fixture from reference/squad_features_fixture.py),
labels against the gold answer text, post-processing against brute force, bad input, and a tiny
BERT that learns the bundled mini SQuAD set end to end."""

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import minilm_folder, shared_data

from minitrans.datasets import bundled
from minitrans.datasets.squad import SquadExample, load_squad, mini_squad, to_json
from minitrans.qa.extractive import (
    FeatureReport,
    length_batches,
    postprocess_qa_predictions,
    prepare_train_features,
    prepare_validation_features,
    windows,
)
from minitrans.qa.metrics import normalize_answer
from minitrans.tokenizers import WordPieceTokenizer

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def tokenizer():
    return WordPieceTokenizer.from_pretrained(minilm_folder())


@pytest.fixture(scope="module")
def squad_train():
    return load_squad(shared_data("squad/train-v1.1.reconstructed.json.gz"), verbose=False)


def test_windows_overlap_by_the_stride():
    assert windows(10, 10, 3) == [(0, 10)]
    assert windows(700, 300, 128) == [(0, 300), (172, 472), (344, 644), (516, 700)]
    with pytest.raises(ValueError, match="stride"):
        windows(700, 100, 128)


def test_length_batches_group_similar_lengths_in_few_shapes():
    lengths = [5, 130, 70, 3, 64, 65, 200]
    features = [{"input_ids": np.arange(1, n + 1), "token_type_ids": np.zeros(n, int)} for n in lengths]
    batches = list(length_batches(features, batch_size=3))
    # shortest first; each batch padded to its longest, rounded up to 64; the last one to 3 rows
    assert [list(chosen) for chosen, _ in batches] == [[3, 0, 4], [5, 2, 1], [6]]
    assert [b["input_ids"].shape for _, b in batches] == [(3, 64), (3, 192), (3, 256)]
    for chosen, batch in batches:
        for row, i in enumerate(chosen):
            n = lengths[i]
            assert batch["attention_mask"][row].sum() == n and (batch["input_ids"][row, :n] == np.arange(1, n + 1)).all()
    assert not batches[-1][1]["attention_mask"][1:].any()  # the rows that only fill the shape are empty


@pytest.mark.slow
def test_windows_and_labels_match_hugging_face(tokenizer, squad_train):
    with gzip.open(FIXTURES / "squad_windows_hf.json.gz", "rt") as f:
        reference = json.load(f)
    by_id = {e.id: e for e in squad_train}
    examples = [by_id[qid] for qid in reference]
    same_windows = same_labels = total = 0
    for example in examples:
        features = prepare_train_features([example], tokenizer, max_query_length=1000)
        digest = hashlib.sha1()
        for f in features:
            digest.update(json.dumps([int(i) for i in f["input_ids"]]).encode())
        want = reference[example.id]
        same_windows += digest.hexdigest()[:16] == want["digest"]
        if len(features) == len(want["labels"]):
            for f, (s, e) in zip(features, want["labels"]):
                total += 1
                same_labels += (int(f["start_positions"]), int(f["end_positions"])) == (s, e)
    assert same_windows == len(examples)  # identical input ids, window by window
    assert total == sum(len(r["labels"]) for r in reference.values()) > len(examples)  # long contexts: several windows
    assert same_labels >= total - 3, f"{total - same_labels} labels differ"


def test_labels_cover_exactly_the_answer(tokenizer, squad_train):
    """Decode each labelled span back to characters: it must be the gold answer (up to white
    space and the tokenizer's lower-casing), on 3,000 real questions."""
    report = FeatureReport()
    examples = squad_train[:3000]
    features = prepare_validation_features(examples, tokenizer)
    labelled = prepare_train_features(examples, tokenizer, report=report)
    assert len(features) == len(labelled) == report.features
    wrong = 0
    for f, lab in zip(features, labelled):
        s, e = int(lab["start_positions"]), int(lab["end_positions"])
        if s == 0:
            continue
        example = examples[f["example_index"]]
        span = example.context[f["offsets"][s][0]:f["offsets"][e][1]]
        if normalize_answer(span) != normalize_answer(example.answer):
            # only answers that cut a word ("8th" of "18th", "Tibet" of "Tibetan"): the
            # span is then the whole tokens around it
            assert example.answer.lower() in span.lower(), (span, example.answer)
            wrong += 1
    assert report.answer_outside_window < 0.05 * report.features
    assert wrong <= 20, f"{wrong} labelled spans are not their answer"


def test_unanswerable_and_outside_windows_point_at_cls(tokenizer):
    context = " ".join(f"word{i}" for i in range(400)) + " the answer is here."
    example = SquadExample("x", "Where?", context, ({"text": "here", "answer_start": context.index("here")},))
    features = prepare_train_features([example], tokenizer, max_length=128, stride=32)
    assert len(features) > 3
    positions = [(int(f["start_positions"]), int(f["end_positions"])) for f in features]
    assert all(p == (0, 0) for p in positions[:-1]) and positions[-1] != (0, 0)
    impossible = SquadExample("y", "Where?", "Nowhere to be found.", (), is_impossible=True)
    assert int(prepare_train_features([impossible], tokenizer)[0]["start_positions"]) == 0


def brute_force(example, features, starts, ends, max_answer_length=30):
    best = (-np.inf, "")
    for f, s, e in zip(features, starts, ends):
        for a in range(len(s)):
            for b in range(a, min(len(s), a + max_answer_length)):
                if f["offsets"][a] is None or f["offsets"][b] is None:
                    continue
                if s[a] + e[b] > best[0]:
                    best = (s[a] + e[b], example.context[f["offsets"][a][0]:f["offsets"][b][1]])
    return best


def test_postprocessing_finds_the_best_span(tokenizer):
    rng = np.random.default_rng(0)
    examples = mini_squad(6)
    features = prepare_validation_features(examples, tokenizer, max_length=48, stride=16)
    starts = [rng.normal(size=len(f["input_ids"])) * 3 for f in features]
    ends = [rng.normal(size=len(f["input_ids"])) * 3 for f in features]
    predictions, differences, nbest = postprocess_qa_predictions(examples, features, starts, ends, n_best=1000)
    for index, example in enumerate(examples):
        mine = [i for i, f in enumerate(features) if f["example_index"] == index]
        score, text = brute_force(example, [features[i] for i in mine], [starts[i] for i in mine],
                                  [ends[i] for i in mine])
        assert predictions[example.id] == text
        assert nbest[example.id][0]["score"] == pytest.approx(score)
        null = min(starts[i][0] + ends[i][0] for i in mine)
        assert differences[example.id] == pytest.approx(null - score)
    v2, _, _ = postprocess_qa_predictions(examples, features, starts, ends, version_2=True, null_threshold=-1e9)
    assert set(v2.values()) == {""}


def test_bad_squad_records_are_reported_and_skipped(tmp_path, capsys):
    good = {"id": "ok", "question": "Who?", "answers": [{"text": "Ada", "answer_start": 0}]}
    data = {"version": "1.1", "data": [{"title": "t", "paragraphs": [
        {"context": "Ada wrote it.", "qas": [
            good,
            {"id": "shifted", "question": "Who?", "answers": [{"text": "Ada", "answer_start": 3}]},
            {"id": "empty-question", "question": " ", "answers": [{"text": "Ada", "answer_start": 0}]},
            {"id": "no-answers", "question": "Who?", "answers": []}]},
        {"context": "", "qas": [{"id": "no-context", "question": "Who?", "answers": []}]},
        "not a paragraph"]}]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    examples = load_squad(path)
    out = capsys.readouterr().out
    assert [e.id for e in examples] == ["ok"]
    assert "kept 1 questions, skipped 5" in out
    assert "answer_start 3 does not point at the answer 'Ada'" in out
    for text, message in [("{not json", "not SQuAD JSON"), ('{"version": "1.1"}', "'data' list")]:
        path.write_text(text)
        with pytest.raises(ValueError, match=message):
            load_squad(path)
    with pytest.raises(FileNotFoundError, match="no SQuAD file"):
        load_squad(tmp_path / "missing.json")


def test_the_bundled_mini_squad_is_what_the_generator_writes():
    path = bundled("mini_squad.json")
    assert json.loads(path.read_text()) == json.loads(json.dumps(to_json(mini_squad(), "2.0")))
    examples = load_squad(path, verbose=False)
    assert len(examples) == 120 * 9 and sum(e.is_impossible for e in examples) == 120
