"""T5 text-to-text QA data: inputs long enough for every answer, readers' extra countries."""

import numpy as np
import pytest

from minitrans.datasets import bundled
from minitrans.datasets.synthetic import make_countries
from minitrans.text_qa import encode_pairs, extra_countries, qa_pairs, source_length_for


@pytest.fixture(scope="module")
def tokenizer():
    from minitrans.tokenizers.sentencepiece import T5Tokenizer
    return T5Tokenizer.train(bundled("facts_corpus.txt").read_text().splitlines(), vocab_size=1000)


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
