"""Graded checks for BLEU's two parts: the clipped n-gram matches and the brevity penalty."""

import math

import numpy as np

from minitrans.exercises import Check, exercise, expect_close, expect_equal

TOPIC = "metrics"

# Papineni et al. (2002)'s examples: a candidate translation and its three references, whose
# modified unigram and bigram precisions the paper gives as 17/18 and 10/17; and the candidate
# of seven "the" whose modified unigram precision is 2/7.
CANDIDATE = "It is a guide to action which ensures that the military always obeys the commands of the party"
REFERENCES = ["It is a guide to action that ensures that the military will forever heed Party commands",
              "It is the guiding principle which guarantees the military forces always being under the command of "
              "the Party",
              "It is the practical guide for the army always to heed the directions of the party"]


def brute_force_matches(hypothesis, references, order):
    """For each distinct n-gram of the hypothesis: the smaller of its count there and its
    largest count in any one reference, summed; plus the number of n-gram positions."""
    grams = [tuple(hypothesis[i:i + order]) for i in range(len(hypothesis) - order + 1)]

    def count(tokens, gram):
        return sum(tuple(tokens[i:i + order]) == gram for i in range(len(tokens) - order + 1))

    return sum(min(grams.count(g), max(count(r, g) for r in references)) for g in set(grams)), len(grams)


@exercise("clipped_ngram_matches", "minitrans.metrics", topic=TOPIC, hint="""
    counts = ngrams(hypothesis, order); most = the largest count of each n-gram in any single
    reference (Counter's | operator keeps the larger count); matches = sum over the
    hypothesis's n-grams of min(its count, most[gram]); total = len(hypothesis) - order + 1
    (at least 0).
    """)
def clipped_checks():
    def paper(f):
        got = [tuple(int(v) for v in f(CANDIDATE.split(), [r.split() for r in REFERENCES], n)) for n in (1, 2)]
        expect_equal("(matches, total) for unigrams and bigrams of the paper's candidate 1", got, [(17, 18), (10, 17)])

    def repeated(f):
        got = tuple(int(v) for v in f(["the"] * 7, ["the cat is on the mat".split(), "there is a cat on the mat".split()], 1))
        expect_equal("(matches, total) for 'the the the the the the the' (clipped at the 2 of reference 1)", got, (2, 7))

    def random(f):
        rng = np.random.default_rng(0)
        for trial in range(30):
            words = [str(w) for w in rng.integers(4, size=rng.integers(1, 12))]
            refs = [[str(w) for w in rng.integers(4, size=rng.integers(1, 12))] for _ in range(rng.integers(1, 4))]
            for order in (1, 2, 3, 4):
                expect_equal(f"(matches, total) for order {order}, hypothesis {words}, references {refs}",
                             tuple(int(v) for v in f(words, refs, order)), brute_force_matches(words, refs, order))

    return [Check("the paper's candidate: 17/18 unigrams, 10/17 bigrams", paper),
            Check("a repeated word is clipped at its count in one reference", repeated),
            Check("random hypotheses and references, orders 1-4", random)]


@exercise("brevity_penalty", "minitrans.metrics", topic=TOPIC, hint="""
    1.0 when hypothesis_length >= reference_length; else exp(1 - reference_length /
    hypothesis_length); 0.0 when hypothesis_length is 0.
    """)
def brevity_checks():
    def shorter(f):
        for c, r in ((8, 10), (1, 3), (99, 100)):
            expect_close(f"brevity_penalty({c}, {r})", f(c, r), math.exp(1 - r / c), atol=1e-12)

    def not_shorter(f):
        expect_close("brevity_penalty(10, 10) and (12, 10)", [f(10, 10), f(12, 10)], [1.0, 1.0], atol=0)

    def empty(f):
        expect_close("brevity_penalty(0, 5): nothing was output", f(0, 5), 0.0, atol=0)

    return [Check("shorter output is penalised: exp(1 - r/c)", shorter),
            Check("no penalty when the output is as long or longer", not_shorter),
            Check("an empty output scores 0", empty)]
