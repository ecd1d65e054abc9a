"""Byte-level BPE (GPT-2's scheme) against Hugging Face `tokenizers`' byte-level BPE trained on the
same corpus with the same settings (tests/fixtures/byte_bpe_tokenizers.json.gz, made by
reference/byte_bpe_fixture.py): the same pre-tokenization, merges, vocabulary and ids."""

import gzip
import json
from pathlib import Path

import pytest
from byte_bpe_corpus import HELD_OUT, MIN_FREQUENCY, SPECIAL_TOKENS, VOCAB_SIZE, corpus
from conftest import shared_data

from minitrans.tokenizers.byte_bpe import BYTE_TO_CHAR, ByteLevelBPE, bytes_to_unicode, pre_tokenize, to_byte_chars

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def fixture():
    with gzip.open(ROOT / "tests" / "fixtures" / "byte_bpe_tokenizers.json.gz", "rt", encoding="utf-8") as file:
        return json.load(file)


@pytest.fixture(scope="module")
def trained():
    shared_data("gutenberg/11-0.txt.gz")
    return ByteLevelBPE.train(corpus(ROOT), VOCAB_SIZE, min_frequency=MIN_FREQUENCY, special_tokens=SPECIAL_TOKENS)


def test_bytes_as_printable_characters():
    table = bytes_to_unicode()
    assert len(set(table.values())) == 256
    assert (table[ord("A")], table[ord(" ")], table[ord("\n")], table[0], table[255]) == ("A", "Ġ", "Ċ", "Ā", "ÿ")
    assert to_byte_chars(" é") == "ĠÃ©"


def test_pre_tokenizer_splits_as_the_reference(fixture):
    for text in HELD_OUT:
        assert [to_byte_chars(p) for p in pre_tokenize(text)] == fixture["pre_tokenized"][text], text
    assert pre_tokenize("I'm here  now") == ["I", "'m", " here", " ", " now"]


def test_training_learns_the_references_merges_and_ids(trained, fixture):
    assert [list(m) for m in trained.merges] == fixture["merges"]
    assert trained.vocab == fixture["vocab"]
    for text in HELD_OUT:
        assert trained.encode(text) == fixture["ids"][text], text
        assert trained.decode(trained.encode(text)) == text


def test_vocab_and_merges_files_round_trip(trained, tmp_path):
    trained.save(tmp_path)
    assert (tmp_path / "merges.txt").read_text(encoding="utf-8").splitlines()[0] == "#version: 0.2"
    again = ByteLevelBPE.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    assert (again.vocab, again.merges) == (trained.vocab, trained.merges)
    text = HELD_OUT[1]
    assert again.encode(text) == trained.encode(text)


def test_bad_files_and_ids_are_named(trained, tmp_path):
    (tmp_path / "vocab.json").write_text(json.dumps({"a": 0}))
    (tmp_path / "merges.txt").write_text("#version: 0.2\n")
    with pytest.raises(ValueError, match="must hold all 256 byte characters; 255 are missing"):
        ByteLevelBPE.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    trained.save(tmp_path)
    (tmp_path / "merges.txt").write_text("#version: 0.2\na b c\n")
    with pytest.raises(ValueError, match="line 2: expected two tokens separated by one space"):
        ByteLevelBPE.from_files(tmp_path / "vocab.json", tmp_path / "merges.txt")
    with pytest.raises(ValueError, match="id 5000 is outside the vocabulary of 800"):
        trained.decode([5000])
    with pytest.raises(ValueError, match="smaller than the 256 byte characters"):
        ByteLevelBPE.train(["some text"], 100)
    assert BYTE_TO_CHAR[32] in trained.vocab
