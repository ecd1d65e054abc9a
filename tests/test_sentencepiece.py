"""T5's SentencePiece tokenizer: the real spiece.model and one trained here, T5's conventions."""

import sys
from pathlib import Path

import pytest

from minitrans.datasets import bundled
from minitrans.datasets.span_corruption import check_sentinels
from minitrans.tokenizers.sentencepiece import T5Tokenizer

sys.path.insert(0, str(Path(__file__).parent))
from conftest import shared_data  # noqa: E402


def test_the_real_t5_vocabulary():
    tok = T5Tokenizer.from_file(shared_data("t5/spiece.model"))
    assert (tok.pieces, tok.vocab_size) == (32_000, 32_100)
    ids = tok.encode("Thank you for inviting me to your party last week.")
    assert ids == [1562, 25, 21, 14256, 140, 12, 39, 1088, 336, 471, 5, 1]  # the data README's ids + </s>
    assert tok.sentinel_id(0) == 32099 and tok.sentinel_id(99) == 32000
    with_sentinels = tok.encode("Thank you <extra_id_0> me to your party <extra_id_1> week.")
    assert 32099 in with_sentinels and 32098 in with_sentinels
    assert tok.decode(with_sentinels) == "Thank you <extra_id_0> me to your party <extra_id_1> week."
    assert tok.decode(ids) == "Thank you for inviting me to your party last week."


def test_training_a_model_with_t5_conventions(tmp_path):
    lines = bundled("facts_corpus.txt").read_text().splitlines()
    tok = T5Tokenizer.train(lines, vocab_size=600, model_prefix=tmp_path / "facts")
    assert (tok.pad_id, tok.eos_id, tok.unk_id) == (0, 1, 2)
    assert tok.vocab_size == 600 and tok.sentinel_id(0) == 599
    text = "The capital of Lodorwen is Torkaom."
    assert tok.decode(tok.encode(text)) == text
    again = T5Tokenizer.from_file(tmp_path / "facts.model")
    assert again.encode(text) == tok.encode(text)


def test_bad_models_and_missing_sentinels(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        T5Tokenizer.from_file(tmp_path / "nope.model")
    (tmp_path / "bad.model").write_bytes(b"not a model")
    with pytest.raises(ValueError, match="is not a SentencePiece model"):
        T5Tokenizer.from_file(tmp_path / "bad.model")
    with pytest.raises(ValueError, match="holds no text"):
        T5Tokenizer.train(["", " "], 200)
    with pytest.raises(ValueError, match=r"span corruption needs 5 sentinel tokens .* this tokenizer has 0"):
        check_sentinels(32000, 0, 5)


def test_bpe_conventions_and_merges():
    """NFKC and the visible space round-trip; the merges of the BPE paper's toy corpus."""
    from minitrans.exercises.tokenizers import PAPER_MERGES, PAPER_WORDS
    from minitrans.tokenizers.bpe import apply_bpe, from_pieces, learn_bpe, normalize, to_pieces_text, word_counts
    assert [normalize(t) for t in ("ﬁne", "Ｔ５", "x²", "cafe\u0301")] == ["fine", "T5", "x2", "café"]
    text = "Beginners BBQ  class, in Missoula!"
    assert to_pieces_text(text) == "▁Beginners▁BBQ▁▁class,▁in▁Missoula!"
    assert from_pieces(list(to_pieces_text(text))) == text
    merges, _ = learn_bpe(dict(PAPER_WORDS), 10)
    assert merges == PAPER_MERGES
    assert apply_bpe(("l", "o", "w", "e", "s", "t", "</w>"), merges) == ["low", "est</w>"]
    assert word_counts("low low lower", end_of_word="</w>") == {("l", "o", "w", "</w>"): 2,
                                                                 ("l", "o", "w", "e", "r", "</w>"): 1}
