"""T5 text-to-text QA data: a vocabulary that spells names from syllables, inputs long enough
for every answer, readers' extra countries, fine-tuning batches that rehearse the corpus."""

import numpy as np
import pytest

from minitrans.datasets import bundled
from minitrans.datasets.corpus import read_corpus, split_documents
from minitrans.datasets.span_corruption import raw_length_for
from minitrans.datasets.synthetic import make_countries, questions
from minitrans.experiments.closed_book import (
    corpus_rows,
    encode_pairs,
    extra_countries,
    facts_tokenizer,
    qa_batch,
    qa_pairs,
    source_length_for,
    stack_batches,
)
from minitrans.losses import IGNORE


@pytest.fixture(scope="module")
def tokenizer():
    return facts_tokenizer()


def test_facts_tokenizer_spells_names_from_syllables_and_years_from_digits(tokenizer):
    countries = make_countries(120)
    pieces = lambda text: [tokenizer.sp.IdToPiece(i) for i in tokenizer.encode(text, add_eos=False)]
    for c in countries:
        for name in (c.name, c.capital, c.river):
            assert len(pieces(name)) >= 2, name
    assert pieces("1681") == ["▁", "1", "6", "8", "1"]
    assert max(len(tokenizer.sp.IdToPiece(i).lstrip("▁")) for i in range(3, tokenizer.pieces)) <= 4
    # so the answers about the held-out countries are written with pieces the reader has
    # written in fine-tuning (with a default vocabulary "▁Garfendor" is one piece, never a target)
    readers = countries[:100] + extra_countries(countries, 900, seed=1)
    written = {i for c in readers for _, answer in questions(c) for i in tokenizer.encode(answer)}
    for c in countries[100:]:
        for answer in (c.capital, c.river, c.founder, str(c.founded)):
            assert set(tokenizer.encode(answer)) <= written, answer


def test_source_length_cuts_no_context_so_every_answer_is_in_the_input(tokenizer):
    pairs = qa_pairs(make_countries(120)[100:], closed_book=False, rng=np.random.default_rng(0))
    length = source_length_for(pairs, tokenizer)
    assert length % 16 == 0
    assert length >= max(len(tokenizer.encode(s)) for _, s, _ in pairs)
    batch = encode_pairs(pairs, tokenizer, length)
    for row, (_, _, answer) in zip(batch["input_ids"], pairs):
        assert answer in tokenizer.decode([int(i) for i in row if i > 0])
    # the length the experiment used before (112) lost answers: the test can tell
    cut = encode_pairs(pairs, tokenizer, 112)
    lost = sum(answer not in tokenizer.decode([int(i) for i in row if i > 0])
               for row, (_, _, answer) in zip(cut["input_ids"], pairs))
    assert lost > 0


def test_extra_countries_are_new_names():
    known = make_countries(120, seed=0)
    extra = extra_countries(known, 900, seed=1)
    assert len(extra) == 900
    assert not {c.name for c in extra} & {c.name for c in known}
    assert len({c.name for c in extra}) == 900


def test_a_short_passage_states_the_answer_in_the_description_order():
    country = make_countries(120)[100]
    pairs = qa_pairs([country], closed_book=False, rng=np.random.default_rng(0), context_sentences=3)
    assert len(pairs) == 8
    for _, source, answer in pairs:
        passage = source.split(" context: ", 1)[1]
        assert answer in passage
        assert passage.count(". ") == 2 and passage.endswith(".")  # three sentences
    closed = qa_pairs([country], closed_book=True, rng=np.random.default_rng(0))
    assert all(" context: " not in source for _, source, _ in closed)


def test_stack_batches_pads_inputs_with_zero_and_labels_with_ignore():
    a = {"input_ids": np.array([[5, 6, 7], [8, 9, 0]]), "labels": np.array([[3, 1], [4, 1]])}
    b = {"input_ids": np.array([[11, 12, 13, 14, 15]]), "labels": np.array([[21, 22, 23, 1]])}
    out = stack_batches(a, b)
    np.testing.assert_array_equal(out["input_ids"], [[5, 6, 7, 0, 0], [8, 9, 0, 0, 0], [11, 12, 13, 14, 15]])
    np.testing.assert_array_equal(out["labels"], [[3, 1, IGNORE, IGNORE], [4, 1, IGNORE, IGNORE], [21, 22, 23, 1]])


def test_corpus_rows_are_the_pretraining_documents(tokenizer):
    rows = corpus_rows(tokenizer)
    raw = raw_length_for(64, 16)
    documents, held_out = split_documents(read_corpus(bundled("facts_corpus.txt")))
    tokens = sum(len(tokenizer.encode(" ".join(d), add_eos=False)) for d in documents)
    assert rows.shape == (tokens // raw, raw)
    first = tokenizer.encode(" ".join(documents[0]), add_eos=False)
    np.testing.assert_array_equal(rows[0], first[:raw])


def test_a_rehearsing_batch_is_half_questions_half_span_corruption(tokenizer):
    pairs = qa_pairs(make_countries(120)[:10], closed_book=True, rng=np.random.default_rng(0))
    length = source_length_for(pairs, tokenizer)
    rows = corpus_rows(tokenizer)
    batch = qa_batch(pairs, tokenizer, length, np.random.default_rng(1), batch_size=8, rehearse=rows)
    assert batch["input_ids"].shape == (8, max(length, 64)) and batch["labels"].shape == (8, 16)
    answers = {a for _, _, a in pairs}
    sentinel = lambda ids: any(i >= tokenizer.pieces for i in ids)
    for row, labels in zip(batch["input_ids"][:4], batch["labels"][:4]):  # questions: answer out
        assert not sentinel(row) and tokenizer.decode([i for i in labels if i >= 0]) in answers
    for row, labels in zip(batch["input_ids"][4:], batch["labels"][4:]):  # span corruption
        assert sentinel(row) and labels[0] == tokenizer.sentinel_id(0)
    plain = qa_batch(pairs, tokenizer, length, np.random.default_rng(1), batch_size=8)
    assert plain["input_ids"].shape == (8, length)
    assert all(tokenizer.decode([i for i in labels if i >= 0]) in answers for labels in plain["labels"])


def test_the_passage_holds_the_sentence_of_the_fact_asked_not_another_mention():
    # the capital is also named in the river's sentence ("The river Rinmont flows through
    # Garfendor."): a passage built around that sentence would not say what the capital is
    pairs = qa_pairs(make_countries(120)[100:], closed_book=False, rng=np.random.default_rng(0), context_sentences=1)
    capitals = [source.split(" context: ", 1)[1] for qid, source, _ in pairs if qid.endswith("-0")]
    assert len(capitals) == 20 and all("capital" in passage for passage in capitals)
