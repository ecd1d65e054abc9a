"""Graded checks for the question-answering exercises: the SQuAD metric and the two halves
of extractive QA (labels from character offsets, the best span from logits)."""

import functools
import gzip
import json
import warnings

import numpy as np
from flax import nnx

from minitrans.datasets import shared
from minitrans.exercises import Check, CheckFailed, exercise, expect_close, expect_equal
from minitrans.exercises.t5 import compiled
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration

TOPIC = "question answering"

# Text and what the official SQuAD scripts' normalisation makes of it (facts: their outputs,
# recorded in tests/fixtures/squad_official_scores.json.gz by reference/squad_metric_fixture.py).
NORMALISED = [("The Denver Broncos", "denver broncos"), ("an apple,  a pear!", "apple pear"),
              ("Theatre of the Absurd", "theatre of absurd"), ("  Santa   Clara ", "santa clara"),
              ("1,000 km", "1000 km"), ("A-B test", "ab test"), ("the the", ""), ("Élan vital", "élan vital"),
              ("Theatre another thesis", "theatre another thesis"), ("U.S.A.'s", "usas"), ("the-end", "theend")]
UNICODE = [("snake_case_word", "snakecaseword"), ("“quoted” – dash", "“quoted” – dash"),
           ("«guillemets» ¿qué?", "«guillemets» ¿qué")]
# (prediction, gold, F1 as the official v1.1 script computes it)
F1 = [("Denver Broncos team", "the Denver Broncos", 0.8), ("a b c d", "c d e", 2 / 3),
      ("The Denver Broncos", "Denver Broncos", 1.0), ("an apple,  a pear!", "apple pear", 1.0),
      ("1,000 km", "1000 km", 1.0), ("red", "blue", 0.0), ("", "blue", 0.0)]
REPEATED = [("to to", "to to", 1.0), ("b b c", "a b b", 0.8), ("to to be", "to be be", 2 / 3)]


@exercise("normalize_answer", "minitrans.qa.metrics", topic=TOPIC, hint="""
    In this order: lower case; remove every character of string.punctuation (ASCII punctuation
    only: "_" goes, "–" and "“" stay); replace the whole words a, an, the by a space (the regular
    expression \\b(a|an|the)\\b); squeeze runs of white space into one space and strip the ends
    (" ".join(text.split())).
    """)
def normalize_checks():
    def each(f):
        for text, want in NORMALISED:
            expect_equal(f"normalize_answer({text!r})", f(text), want)

    def ascii_punctuation_only(f):
        for text, want in UNICODE:
            expect_equal(f"normalize_answer({text!r}) (string.punctuation is ASCII: '_' goes, '–' '“' '«' stay)",
                         f(text), want)

    def order(f):
        expect_equal("normalize_answer('the-end') (punctuation goes before the articles are looked for)",
                     f("the-end"), "theend")

    return [Check("the official normalisation on varied answers", each),
            Check("only ASCII punctuation is removed", ascii_punctuation_only),
            Check("punctuation first, then articles", order)]


@exercise("f1_score", "minitrans.qa.metrics", topic=TOPIC, hint="""
    Normalise both answers (normalize_answer) and split them into words. The overlap is the
    size of the multiset intersection (collections.Counter(a) & collections.Counter(b)). No
    overlap: 0. Otherwise precision = overlap / predicted words, recall = overlap / gold
    words, F1 = 2 * precision * recall / (precision + recall).
    """)
def f1_checks():
    def values(f):
        expect_close("f1_score over varied pairs", [f(p, g) for p, g, _ in F1], [want for _, _, want in F1])

    def repeated_words(f):
        expect_close("f1_score of pairs with repeated words (a word counts as often as it is in both)",
                     [f(p, g) for p, g, _ in REPEATED], [want for _, _, want in REPEATED])

    def nothing_in_common(f):
        expect_close("f1_score with no common word, and with an empty prediction",
                     [f("red", "blue"), f("", "blue")], [0.0, 0.0])

    return [Check("precision and recall of the word overlap", values),
            Check("repeated words (a multiset overlap)", repeated_words),
            Check("no overlap gives 0", nothing_in_common)]


def tiny_tokenizer():
    from minitrans.tokenizers import WordPieceTokenizer
    words = ("[PAD] [UNK] [CLS] [SEP] [MASK] who what where wrote built the it a poem in paris ada lovelace "
             "river city was by and of ##s . ? , 1843 tower eiffel gustave").split()
    return WordPieceTokenizer({w: i for i, w in enumerate(words)})


CONTEXT = "The poem was wrote by Ada Lovelace in 1843. The tower in Paris was built by Gustave Eiffel."


@exercise("prepare_train_features", "minitrans.qa.extractive", topic=TOPIC, hint="""
    `offsets[i]` is the (start, end) character span of token i in the context, or None outside
    it. Among the context tokens, if the first starts after start_char or the last ends before
    end_char, the window does not hold the answer: leave (0, 0). Otherwise the start is the
    first context token whose end is after start_char, the end the last context token whose
    start is before end_char.
    """)
def features_checks():
    from minitrans.datasets.squad import SquadExample

    tokenizer = tiny_tokenizer()

    def example(answer, question="Who wrote it?"):
        return SquadExample("x", question, CONTEXT, ({"text": answer, "answer_start": CONTEXT.index(answer)},))

    def positions(f, ex, **kw):
        return [(int(x["start_positions"]), int(x["end_positions"])) for x in f([ex], tokenizer, **kw)]

    def one_window(f):
        # [CLS] who wrote it ? [SEP] the poem was wrote by ada lovelace ...: "Ada Lovelace" = tokens 11, 12
        expect_equal("(start, end) for 'Ada Lovelace'", positions(f, example("Ada Lovelace")), [(11, 12)])
        expect_equal("(start, end) for '1843'", positions(f, example("1843")), [(14, 14)])

    def windows(f):
        got = positions(f, example("Gustave Eiffel"), max_length=16, stride=4)
        expect_equal("labels of the four 16-token windows for 'Gustave Eiffel' (the last two hold it)",
                     got, [(0, 0), (0, 0), (13, 14), (8, 9)])

    def unanswerable(f):
        ex = SquadExample("y", "Where?", CONTEXT, (), is_impossible=True)
        expect_equal("labels of an unanswerable question", positions(f, ex), [(0, 0)])
        got = positions(f, example("Ada Lovelace"), max_length=14, stride=4)
        expect_equal("labels of the 14-token windows for 'Ada Lovelace' (the third cuts it in two: [CLS])",
                     got, [(11, 12), (8, 9), (0, 0), (0, 0), (0, 0), (0, 0)])

    return [Check("an answer inside one window", one_window),
            Check("several windows: only the one with the answer points at it", windows),
            Check("no answer, or half an answer: [CLS]", unanswerable)]


@exercise("postprocess_qa_predictions", "minitrans.qa.extractive", topic=TOPIC, hint="""
    For each window take the n_best highest start logits and the n_best highest end logits
    (np.argsort(...)[::-1][:n_best]). Every pair (a, b) with both offsets not None, b >= a and
    b - a + 1 <= max_answer_length is a span: append (s[a] + e[b], offsets[a][0], offsets[b][1]).
    """)
def postprocess_checks():
    from minitrans.datasets.squad import SquadExample
    from minitrans.qa.extractive import prepare_validation_features

    tokenizer = tiny_tokenizer()
    examples = [SquadExample("a", "Who wrote the poem?", CONTEXT), SquadExample("b", "Who built it?", CONTEXT)]

    def setup(max_length=64, stride=8):
        features = prepare_validation_features(examples, tokenizer, max_length=max_length, stride=stride)
        rng = np.random.default_rng(0)
        starts = [rng.normal(size=len(x["input_ids"])) for x in features]
        ends = [rng.normal(size=len(x["input_ids"])) for x in features]
        return features, starts, ends

    def brute(features, starts, ends, index, longest):
        best = (-np.inf, "")
        for x, s, e in zip(features, starts, ends):
            if x["example_index"] != index:
                continue
            for a in range(len(s)):
                for b in range(a, min(len(s), a + longest)):
                    if x["offsets"][a] is not None and x["offsets"][b] is not None and s[a] + e[b] > best[0]:
                        best = (s[a] + e[b], CONTEXT[x["offsets"][a][0]:x["offsets"][b][1]])
        return best[1]

    def best_span(f):
        features, starts, ends = setup()
        got, _, _ = f(examples, features, starts, ends, n_best=100)
        expect_equal("answers (the best start+end score over all valid spans)",
                     [got["a"], got["b"]], [brute(features, starts, ends, i, 30) for i in range(2)])

    def longest(f):
        features, starts, ends = setup()
        got, _, _ = f(examples, features, starts, ends, n_best=100, max_answer_length=2)
        expect_equal("answers with max_answer_length=2", [got["a"], got["b"]],
                     [brute(features, starts, ends, i, 2) for i in range(2)])

    def across_windows(f):
        features, starts, ends = setup(max_length=16, stride=4)
        got, _, _ = f(examples, features, starts, ends, n_best=100)
        expect_equal("answers when the context is split in windows", [got["a"], got["b"]],
                     [brute(features, starts, ends, i, 30) for i in range(2)])

    return [Check("the best valid span", best_span), Check("max_answer_length is respected", longest),
            Check("the best over several windows", across_windows)]


# --------------------------------------------------------------------------- the 2023 course: T5, text to text

SQUAD2 = [{"title": "Normans", "paragraphs": [
    {"context": "The Normans gave their name to Normandy, a region in France.",
     "qas": [{"id": "q1", "question": "In what country is Normandy located?", "is_impossible": False,
              "answers": [{"text": "France", "answer_start": 53}, {"text": "in France", "answer_start": 50}]},
             {"id": "q2", "question": "Who gave their name to Paris?", "is_impossible": True, "answers": [],
              "plausible_answers": [{"text": "The Normans", "answer_start": 0}]}]},
    {"context": "Rollo was the first ruler of Normandy.",
     "qas": [{"id": "q3", "question": "Who was the first ruler of Normandy?",
              "answers": [{"text": "Rollo", "answer_start": 0}]}]}]}]


@exercise("parse_squad", "minitrans.qa.text_to_text", topic=TOPIC, hint="""
    For every article, paragraph and question: skip it when qa["is_impossible"] is true
    (qa.get: SQuAD 1.1 records have no such key) or why_unusable(qa, context) gives a reason
    (count it in counts); otherwise append "question: " + question + " context: " + context to
    the inputs and "answer: " + the first answer's text to the targets.
    """)
def parse_squad_checks():
    def small(f):
        skipped = {}
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # unanswerable questions are left out without a word, as in the course
            inputs, targets = f(SQUAD2, skipped)
        expect_equal("skipped", skipped, {"unanswerable": 1, "no answer given": 0,
                                          "answer_start does not point at the answer": 0})
        expect_equal("inputs", list(inputs), [
            "question: In what country is Normandy located? context: The Normans gave their name to Normandy, "
            "a region in France.",
            "question: Who was the first ruler of Normandy? context: Rollo was the first ruler of Normandy."])
        expect_equal("targets (the first answer of each)", list(targets), ["answer: France", "answer: Rollo"])

    def unusable(f):
        broken = [{"paragraphs": [{"context": "Rollo ruled Normandy.", "qas": [
            {"id": "a", "question": "Who ruled?", "answers": []},
            {"id": "b", "question": "Who ruled Normandy?", "answers": [{"text": "Rollo", "answer_start": 3}]},
            {"id": "c", "question": "What did Rollo rule?", "answers": [{"text": "Normandy", "answer_start": 12}]}]}]}]
        skipped = {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            inputs, targets = f(broken, skipped)
        expect_equal("targets (a question without answers and one whose answer_start misses its text left out)",
                     list(targets), ["answer: Normandy"])
        expect_equal("skipped", skipped, {"unanswerable": 0, "no answer given": 1,
                                          "answer_start does not point at the answer": 1})

    def dev_set(f):
        path = shared("squad/dev-v2.0.reconstructed.json.gz")
        if path is None:
            raise CheckFailed("this check reads SQuAD 2.0's dev set: put dev-v2.0.reconstructed.json.gz in "
                              "../shared/data/squad/ beside the project or in $MINITRANS_DATA/squad/")
        with gzip.open(path, "rt", encoding="utf-8") as file:
            inputs, targets = f(json.load(file)["data"])
        expect_equal("pairs from SQuAD 2.0's dev set (its answerable questions)", len(inputs), 5928)
        expect_equal("the first target", targets[0], "answer: France")

    return [Check("answerable questions become (question: Q context: C, answer: A) pairs", small),
            Check("questions without a usable answer are skipped and counted", unusable),
            Check("SQuAD 2.0's dev set: 5,928 answerable of 11,873 questions", dev_set)]


class WordTokenizer:
    """A few words, each one id, for the answer_question checks: <pad> 0, </s> 1, <unk> 2."""

    words = ("<pad> </s> <unk> answer: question: context: the who what where when rollo normandy france paris "
             "ruled was first of in a river city king duke count year long ago named after").split()

    def __init__(self):
        self.ids = {w: i for i, w in enumerate(self.words)}
        self.eos_id = 1

    def encode(self, text: str, add_eos: bool = True) -> list[int]:
        return [self.ids.get(w, 2) for w in text.lower().split()] + ([1] if add_eos else [])

    def decode(self, ids) -> str:
        return " ".join(self.words[i] for i in ids)


@functools.cache
def answering_t5():
    """A tiny random T5 (sharpened weights) that answers the checks' first question with three
    tokens then EOS (id 39), and the second with no EOS in eight."""
    model = T5ForConditionalGeneration(T5Config.tiny(vocab_size=40, eos_token_id=39), rngs=nnx.Rngs(11))
    for _, param in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        param[...] = param[...] * 3.0
    return model


@exercise("answer_question", "minitrans.qa.text_to_text", topic=TOPIC, hint="""
    ids = tokenizer.encode(question), cut to encoder_maxlen and padded to it with 0
    (pad_rows([ids], encoder_maxlen)); prefix = tokenizer.encode("answer: ", add_eos=False);
    generate(model, padded, decoder_prefix=prefix, max_new_tokens=decoder_maxlen)[0, 1:] drops
    the decoder start token; keep the tokens up to and including the first EOS
    (model.config.eos_token_id).
    """)
def answer_question_checks():
    tokenizer = WordTokenizer()
    reaches_eos = "question: who ruled normandy context: rollo was the first duke of normandy long ago"
    runs_on = "question: where is paris context: paris is a city in france"

    def expected(model, question, encoder_maxlen, decoder_maxlen):
        """Greedy from "answer:", the decoder re-run over all tokens so far at each step (no
        cache, no `generate`; encode and decode compiled)."""
        ids = tokenizer.encode(question)[:encoder_maxlen]
        source = np.zeros((1, encoder_maxlen), np.int32)
        source[0, :len(ids)] = ids
        model = compiled(model)
        encoded = model.encode(source, source != 0)
        out = [0, tokenizer.ids["answer:"]]
        for _ in range(decoder_maxlen):
            out.append(int(np.asarray(model.decode(np.asarray([out]), encoded, source != 0))[0, -1].argmax()))
            if out[-1] == model.config.eos_token_id:
                break
        return out[1:]

    def answer(f, question, encoder_maxlen=16, decoder_maxlen=8):
        model = answering_t5()
        got = [int(t) for t in f(question, model, tokenizer, encoder_maxlen=encoder_maxlen, decoder_maxlen=decoder_maxlen)]
        return got, expected(model, question, encoder_maxlen, decoder_maxlen)

    def prefix(f):
        got, _ = answer(f, runs_on)
        expect_equal('the first token (the decoder starts from "answer:")', got[:1], [tokenizer.ids["answer:"]])

    def until_eos(f):
        got, want = answer(f, reaches_eos)
        expect_equal("the answer's ids, greedy until EOS (39)", got, want)

    def until_maxlen(f):
        got, want = answer(f, runs_on)
        expect_equal("the answer's ids when no EOS comes: 'answer:' then decoder_maxlen=8 tokens", got, want)

    def cut(f):
        long_question = reaches_eos + " the duke who ruled was named rollo and paris was a city"
        got, want = answer(f, long_question)
        expect_equal(f"the answer's ids when the question ({len(tokenizer.encode(long_question))} tokens) is cut at "
                     "encoder_maxlen=16", got, want)

    return [Check('the decoder starts from "answer: "', prefix),
            Check("greedy tokens until EOS", until_eos),
            Check("at most decoder_maxlen new tokens", until_maxlen),
            Check("the question is cut at encoder_maxlen", cut)]
