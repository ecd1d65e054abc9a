"""T5's task formats, as the paper writes them."""

import pytest

from minitrans.datasets import text_to_text as t2t


def test_formats_match_the_paper():
    assert t2t.translate("That is good.") == "translate English to German: That is good."
    assert t2t.mnli("A man eats.", "Someone eats.") == "mnli premise: A man eats. hypothesis: Someone eats."
    assert t2t.question_answering("Who?", "Me,\n  myself.") == "question: Who? context: Me, myself."
    assert t2t.closed_book("What is the capital of France?") == "question: What is the capital of France?"
    assert t2t.summarize("Long text.") == "summarize: Long text."
    assert t2t.cola("The course is jumping well.") == "cola sentence: The course is jumping well."
    assert t2t.stsb("A cat.", "A dog.") == "stsb sentence1: A cat. sentence2: A dog."
    assert t2t.sst2("Great film.") == "sst2 sentence: Great film."


def test_targets():
    assert [t2t.mnli_target(i) for i in range(3)] == ["entailment", "neutral", "contradiction"]
    assert (t2t.cola_target(1), t2t.cola_target(0)) == ("acceptable", "unacceptable")
    assert (t2t.stsb_target(3.77), t2t.stsb_target(0.0), t2t.stsb_target(5), t2t.stsb_target(2.5)) == ("3.8", "0.0", "5.0", "2.4")
    assert t2t.sst2_target(1) == "positive"


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="question must be a non-empty string"):
        t2t.question_answering("  ", "context")
    with pytest.raises(ValueError, match="between 0 and 5, got 7"):
        t2t.stsb_target(7)
    with pytest.raises(ValueError, match="MNLI label 'maybe'"):
        t2t.mnli_target("maybe")
