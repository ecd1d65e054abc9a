"""The main demo (`minitrans tour`, what `make demo` runs) end to end in its quick version: the
stages announce themselves with what they do, the untouched pre-trained encoder finds the
sentence each question is about, and the fine-tuned model is scored and asked."""

import pytest
from conftest import minilm_folder

from minitrans.tour import FRANCE, QUESTIONS, sentences_of, tour


def test_sentences_of_cuts_after_full_stops():
    assert sentences_of("One. Two three. Four.") == ["One.", "Two three.", "Four."]
    assert sentences_of(FRANCE)[1].startswith("Today, approximately five percent")


@pytest.mark.slow
def test_the_quick_tour_runs_every_stage(tmp_path, capsys):
    minilm_folder()  # the checkpoint must be installed (make setup does)
    result = tour(tmp_path, quick=True, steps=4, pretrain_steps=10)
    printed = capsys.readouterr().out
    for number, title in enumerate(["A pre-trained encoder already reads", "Pre-training", "Fine-tuning",
                                    "Evaluation", "Ask it"], start=1):
        assert f"=== {number}. {title}" in printed
    # the real checkpoint, no training: the sentence that holds each answer is the closest
    assert result["closest_sentences"][0] == sentences_of(FRANCE)[1]
    assert "Camellia sinensis, an evergreen shrub native to China" in result["closest_sentences"][2]
    assert len(result["answers"]) == len(QUESTIONS) and result["scores"]["total"] == 180
    assert "minitrans qa train" in printed and "minitrans glue train" in printed
