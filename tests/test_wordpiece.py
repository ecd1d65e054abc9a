"""WordPiece against the reference tokenizer (`tokenizers` on the MiniLM tokenizer.json):
fixtures made by reference/bert_fixtures.py, compared id by id and offset by offset."""

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from conftest import minilm_folder, shared_data

from minitrans.tokenizers import WordPieceTokenizer, tokenize_word
from minitrans.tokenizers.wordpiece import truncated_lengths

FIXTURES = Path(__file__).parent / "fixtures"
HARD = json.loads((FIXTURES / "wordpiece_hard_cases.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def tok():
    return WordPieceTokenizer.from_pretrained(minilm_folder())


def digest(e) -> str:
    payload = json.dumps([e.ids, e.type_ids, [list(o) for o in e.offsets]])
    return hashlib.sha1(payload.encode()).hexdigest()[:16]


@pytest.mark.parametrize("case", HARD["single"], ids=lambda c: repr(c["text"][:20]))
def test_hard_cases_match_the_reference(tok, case):
    e = tok.encode(case["text"])
    assert e.ids == case["ids"]
    assert [list(o) for o in e.offsets] == case["offsets"]


def test_a_pair_matches_the_reference(tok):
    p = HARD["pair"]
    e = tok.encode(p["a"], p["b"])
    assert (e.ids, e.type_ids, [list(o) for o in e.offsets]) == (p["ids"], p["type_ids"], p["offsets"])


@pytest.mark.parametrize("case", HARD["truncation"], ids=lambda c: f"{c['max_length']}-{c['strategy']}")
def test_truncation_matches_the_reference(tok, case):
    if "error" in case:
        with pytest.raises(ValueError, match="not one token of the second fits"):
            tok.encode(case["a"], case["b"], max_length=case["max_length"], truncation=case["strategy"])
        return
    e = tok.encode(case["a"], case["b"], max_length=case["max_length"], truncation=case["strategy"])
    assert (e.ids, e.type_ids) == (case["ids"], case["type_ids"])


@pytest.mark.filterwarnings("ignore:the text has")  # 56 pairs are longer than 512 tokens, encoded whole on purpose
@pytest.mark.slow
def test_every_squad_dev_question_and_context_matches_the_reference(tok):
    data = json.loads(gzip.open(shared_data("squad/dev-v1.1.json.gz"), "rt", encoding="utf-8").read())
    expected = json.loads(gzip.open(FIXTURES / "wordpiece_squad_dev_digests.json.gz", "rt").read())["digests"]
    questions = contexts = 0
    mismatches = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            contexts += 1
            for qa in paragraph["qas"]:
                questions += 1
                if digest(tok.encode(qa["question"], paragraph["context"])) != expected[qa["id"]]:
                    mismatches.append(qa["id"])
    assert (questions, contexts) == (10_570, 2_067)
    assert not mismatches, f"{len(mismatches)} pairs differ from the reference, e.g. {mismatches[:3]}"


@pytest.mark.slow
def test_every_code_point_of_planes_0_to_2_and_14_matches_the_reference(tok):
    fixture = json.loads(gzip.open(FIXTURES / "wordpiece_unicode_sweep_digests.json.gz", "rt").read())
    size, differing = fixture["block_size"], []
    for low, high in fixture["planes"]:
        for start in range(low, high, size):
            chars = [chr(c) for c in range(start, start + size) if not 0xD800 <= c <= 0xDFFF]
            if chars and digest(tok.encode(" ".join(f"x{c}y {c}" for c in chars))) != fixture["digests"][f"{start:X}"]:
                differing.append(hex(start))
    assert not differing, f"blocks of 64 code points that differ from the reference: {differing[:10]}"


def test_the_slide_example(tok):
    e = tok.encode("my dog is cute", "he likes playing")
    assert e.tokens == ["[CLS]", "my", "dog", "is", "cute", "[SEP]", "he", "likes", "playing", "[SEP]"]
    assert e.type_ids == [0] * 6 + [1] * 4
    assert tok.tokenize("unaffable embeddings") == ["una", "##ffa", "##ble", "em", "##bed", "##ding", "##s"]


def test_offsets_point_into_the_original_text(tok):
    text = "Héllo, WÖRLD! The café's naïve 東京."
    e = tok.encode(text)
    pieces = [text[s:t] for (s, t), special in zip(e.offsets, e.special_tokens_mask) if not special]
    assert pieces == ["Héllo", ",", "WÖRLD", "!", "The", "café", "'", "s", "naïve", "東", "京", "."]
    assert e.tokens[1:3] == ["hello", ","]


def test_tokenize_word_greedy_longest_match_first():
    vocab = {"un", "##aff", "##able", "play", "##ing", "##in", "a"}
    assert tokenize_word("unaffable", vocab) == ["un", "##aff", "##able"]
    assert tokenize_word("playing", vocab) == ["play", "##ing"]  # longest first: not ##in + g
    assert tokenize_word("playx", vocab) == ["[UNK]"]  # no piece for "x": the whole word is unknown
    assert tokenize_word("a" * 101, vocab) == ["[UNK]"]
    assert tokenize_word("", vocab) == []


def test_padding_batches_and_decode(tok):
    batch = tok(["a short one", "a slightly longer sentence than that"], ["pair one", "two"])
    assert batch["input_ids"].shape == batch["attention_mask"].shape == batch["token_type_ids"].shape
    lengths = batch["attention_mask"].sum(1)
    assert lengths[0] < lengths[1] == batch["input_ids"].shape[1]
    assert (batch["input_ids"][0, lengths[0]:] == tok.pad_id).all()
    fixed = tok(["a b c"], max_length=12, padding="max_length")
    assert fixed["input_ids"].shape == (1, 12)
    ids = tok.encode("Don't stop believing, it's playing!").ids
    assert tok.decode(ids) == "don't stop believing, it's playing!"
    assert tok.decode(ids, skip_special_tokens=False).startswith("[CLS] don't")
    with pytest.raises(ValueError, match="more than max_length=4"):
        tok(["a much longer sentence here"], max_length=4, padding="max_length")


def test_truncated_lengths_rule():
    assert truncated_lengths(3, 10, 8) == (3, 5)  # only the longer one shrinks
    assert truncated_lengths(10, 3, 8) == (5, 3)
    assert truncated_lengths(10, 10, 7) == (3, 4)  # both halve, the second gets the odd one
    assert truncated_lengths(2, 2, 10) == (2, 2)


def test_bad_vocabularies_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="vocabulary file .*vocab.txt does not exist"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhello\nhello\n")
    with pytest.raises(ValueError, match="vocab.txt:7: token 'hello' appears twice"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_text("[PAD]\n[UNK]\n\nhello\n")
    with pytest.raises(ValueError, match="vocab.txt:3: empty line"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    (tmp_path / "vocab.txt").write_bytes(b"\xff\xfe[PAD]\n")
    with pytest.raises(ValueError, match="not a UTF-8 vocab.txt"):
        WordPieceTokenizer.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"lacks the special token\(s\) \[CLS\], \[SEP\], \[MASK\]"):
        WordPieceTokenizer({"[PAD]": 0, "[UNK]": 1})


def test_saved_vocabulary_loads_back(tok, tmp_path):
    tok.save_vocabulary(tmp_path)
    again = WordPieceTokenizer.from_pretrained(tmp_path)
    assert again.vocab == tok.vocab and again.lowercase
    assert again.encode("Round trip!").ids == tok.encode("Round trip!").ids
