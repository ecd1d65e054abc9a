"""Graded checks for the SentencePiece & BPE lab: learning byte-pair merges by hand."""

from minitrans.exercises import Check, exercise, expect_equal

TOPIC = "tokenizers"

# The toy corpus of the BPE paper (Sennrich et al., 2016, Algorithm 1) and the merges it learns.
PAPER_WORDS = {("l", "o", "w", "</w>"): 5, ("l", "o", "w", "e", "r", "</w>"): 2,
               ("n", "e", "w", "e", "s", "t", "</w>"): 6, ("w", "i", "d", "e", "s", "t", "</w>"): 3}
PAPER_MERGES = [("e", "s"), ("es", "t"), ("est", "</w>"), ("l", "o"), ("lo", "w"), ("n", "e"), ("ne", "w"),
                ("new", "est</w>"), ("low", "</w>"), ("w", "i")]


@exercise("learn_bpe", "minitrans.tokenizers.bpe", topic=TOPIC, hint="""
    num_merges times: pairs = pair_counts(words); stop if it is empty; best = the most frequent
    pair, the first seen among equals (max(pairs, key=pairs.get)); append it to merges;
    words = merge_pair(best, words).
    """)
def learn_bpe_checks():
    def paper(f):
        merges, words = f(dict(PAPER_WORDS), 10)
        expect_equal("the merges learned from the paper's corpus", [tuple(m) for m in merges], PAPER_MERGES)
        expect_equal("the words after 10 merges", dict(words),
                     {("low</w>",): 5, ("low", "e", "r", "</w>"): 2, ("newest</w>",): 6, ("wi", "d", "est</w>"): 3})

    def weighted(f):
        merges, _ = f({("a", "b"): 1, ("c", "d"): 1, ("x", "y"): 5}, 1)
        expect_equal("the first merge when 'x y' occurs 5 times", [tuple(m) for m in merges], [("x", "y")])

    def ties(f):
        merges, _ = f({("b", "c"): 2, ("a", "b"): 2}, 2)
        expect_equal("merges of equally frequent pairs (the first seen first)", [tuple(m) for m in merges],
                     [("b", "c"), ("a", "b")])

    def stops(f):
        merges, words = f({("a", "b", "c"): 1}, 10)
        expect_equal("merges when only two are possible", len(merges), 2)
        expect_equal("the word, one symbol", dict(words), {("abc",): 1})

    return [Check("the paper's corpus: e s, es t, est </w>, l o, lo w, ...", paper),
            Check("pairs are counted with the words' counts", weighted),
            Check("ties go to the pair seen first", ties),
            Check("stops when every word is one symbol", stops)]
