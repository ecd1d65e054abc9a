"""Graded checks for the BERT exercises: embeddings, masking, next-sentence pairs, WordPiece."""

from collections import Counter

import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.exercises import Check, CheckFailed, exercise, expect_close, expect_equal, next_keep
from minitrans.exercises import numpy_reference as ref

TOPIC = "BERT"


@exercise("BertEmbeddings", "minitrans.models.bert", topic=TOPIC, hint="""
    Sum three lookups: word_embeddings(input_ids) + token_type_embeddings(token_type_ids)
    + position_embeddings(positions), where positions = jnp.arange(seq)[None, :] and
    token_type_ids defaults to zeros (segment A). Then LayerNorm (self.norm), then self.dropout.
    """)
def embeddings_checks():
    from minitrans.models.bert import BertConfig

    config = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=12)
    ids = np.array([[2, 7, 9, 3, 11, 3], [2, 5, 3, 8, 3, 0]])
    types = np.array([[0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 0]])

    def numpy_embeddings(module, ids, types):
        x = (ref.p(module.word_embeddings.embedding)[ids] + ref.p(module.token_type_embeddings.embedding)[types]
             + ref.p(module.position_embeddings.embedding)[np.arange(ids.shape[1])][None])
        return ref.layer_norm(x, module.norm)

    def build(cls):
        module = cls(config, rngs=nnx.Rngs(params=0, dropout=1))
        module.token_type_embeddings.embedding[...] = jnp.asarray(
            np.random.default_rng(3).normal(size=(2, 8)), jnp.float32)  # segments A and B differ clearly
        module.eval()
        return module

    def with_segments(cls):
        module = build(cls)
        expect_close("embeddings of a sentence pair", module(jnp.asarray(ids), jnp.asarray(types)),
                     numpy_embeddings(module, ids, types), atol=1e-4)

    def default_segment(cls):
        module = build(cls)
        expect_close("embeddings without token_type_ids (all segment A)", module(jnp.asarray(ids)),
                     numpy_embeddings(module, ids, np.zeros_like(ids)), atol=1e-4)

    def positions_matter(cls):
        module = build(cls)
        out = np.asarray(module(jnp.asarray([[5, 5, 5]])))
        if np.allclose(out[0, 0], out[0, 1], atol=1e-5):
            raise CheckFailed("the same word at positions 0 and 1 got the same vector: "
                              "expected the position embeddings E_0, E_1 to be added")

    def dropout_in_train(cls):
        module = build(cls)
        module.dropout.rate = 0.5
        module.train()
        keep = next_keep(module, "dropout", (2, 6, 8), 0.5)
        expect_close("embeddings in train mode (dropout 0.5 after the LayerNorm)", module(jnp.asarray(ids)),
                     ref.dropped(numpy_embeddings(module, ids, np.zeros_like(ids)), keep), atol=1e-4)

    return [Check("word + segment + position embeddings, then LayerNorm", with_segments),
            Check("token_type_ids default to segment A (zeros)", default_segment),
            Check("the same word at two positions gets two vectors", positions_matter),
            Check("dropout is applied last (after the LayerNorm), in train mode", dropout_in_train)]


SPECIAL = [0, 1, 2, 3, 4]  # pad, unk, cls, sep, mask in the checks below


def sample_ids(rng, batch=200, length=60, vocab=100):
    ids = rng.integers(5, vocab, size=(batch, length))
    ids[:, 0], ids[:, length // 2], ids[:, -1] = 2, 3, 3  # [CLS] ... [SEP] ... [SEP]
    ids[::3, -10:] = 0  # some padding
    return ids


@exercise("mask_tokens", "minitrans.datasets.masking", topic=TOPIC, hint="""
    For each row: candidates = positions whose id is not special (np.isin); choose
    count = max(1, round(len(candidates) * mask_prob)) of them with rng.choice(..., replace=False).
    labels at the chosen positions = the original ids (-100 elsewhere). For each chosen position
    draw u = rng.random(): u < 0.8 -> mask_token_id, 0.8 <= u < 0.9 -> a random non-special id,
    else keep the token. Work on a copy; do not change input_ids.
    """)
def mask_tokens_checks():
    def run(f, seed=0):
        ids = sample_ids(np.random.default_rng(100))
        before = ids.copy()
        out = f(ids, mask_token_id=4, vocab_size=100, special_ids=SPECIAL, rng=np.random.default_rng(seed))
        if not (isinstance(out, tuple) and len(out) == 2):
            raise CheckFailed(f"expected (masked_ids, labels), got {type(out).__name__}")
        expect_equal("input_ids after the call (must not be modified)", ids, before)
        return before, np.asarray(out[0]), np.asarray(out[1])

    def labels_only_at_chosen(f):
        ids, masked, labels = run(f)
        chosen = labels != -100
        expect_equal("labels at the chosen positions (the original ids)", labels[chosen], ids[chosen])
        changed = masked != ids
        if (changed & ~chosen).any():
            index = np.argwhere(changed & ~chosen)[0].tolist()
            raise CheckFailed(f"position {index} changed but was not chosen (its label is -100)")

    def fifteen_percent(f):
        ids, _, labels = run(f)
        for row in range(ids.shape[0]):
            candidates = int((~np.isin(ids[row], SPECIAL)).sum())
            expected = max(1, round(candidates * 0.15))
            got = int((labels[row] != -100).sum())
            if got != expected:
                raise CheckFailed(f"row {row} has {candidates} non-special tokens: expected {expected} "
                                  f"chosen (15%), got {got}")

    def specials_untouched(f):
        ids, masked, labels = run(f)
        special = np.isin(ids, SPECIAL)
        expect_equal("labels at special tokens ([CLS], [SEP], [PAD])", labels[special], np.full(special.sum(), -100))
        expect_equal("special tokens after masking", masked[special], ids[special])

    def eighty_ten_ten(f):
        ids, masked, labels = run(f)
        chosen = labels != -100
        n = chosen.sum()
        rates = {"[MASK]": (masked[chosen] == 4).mean(),
                 "random": ((masked[chosen] != 4) & (masked[chosen] != ids[chosen])).mean(),
                 "kept": (masked[chosen] == ids[chosen]).mean()}
        # the kept rate includes random draws that hit the same token (1 in 95)
        for name, want in (("[MASK]", 0.8), ("random", 0.1 * 94 / 95), ("kept", 0.1 + 0.1 / 95)):
            sigma = np.sqrt(want * (1 - want) / n)
            if abs(rates[name] - want) > 5 * sigma:
                raise CheckFailed(f"of {n} chosen tokens, {rates[name]:.3f} became {name}; expected about "
                                  f"{want:.3f} (80% [MASK], 10% random, 10% kept)")
        if np.isin(masked[chosen & (masked != 4)], SPECIAL).any():
            raise CheckFailed("a random replacement was a special token; draw from the non-special ids")

    def per_token(f):
        ids, masked, labels = run(f, seed=1)
        chosen = labels != -100
        uniform = [len(set((masked[row, chosen[row]] == 4).tolist())) == 1 for row in range(len(ids))
                   if chosen[row].sum() >= 6]
        # with one draw per token, a row of 6+ chosen tokens is all [MASK] or all not with p < 0.27
        if np.mean(uniform) > 0.5:
            raise CheckFailed(f"in {np.mean(uniform):.0%} of the rows every chosen token got the same action "
                              "([MASK] or not): draw the 80/10/10 action for each chosen token, not once per row")

    def every_ordinary_id(f):
        rng = np.random.default_rng(5)
        ids = rng.integers(5, 8, size=(400, 40))  # a vocabulary of 8: specials 0-4, ordinary 5, 6, 7
        out = f(ids, mask_token_id=4, vocab_size=8, special_ids=SPECIAL, rng=np.random.default_rng(6))
        masked, labels = np.asarray(out[0]), np.asarray(out[1])
        replaced = masked[(labels != -100) & (masked != 4) & (masked != ids)]
        counts = {i: int((replaced == i).sum()) for i in range(8)}
        if any(counts[i] for i in SPECIAL) or min(counts[i] for i in (5, 6, 7)) < 0.2 * len(replaced):
            raise CheckFailed(f"random replacements by id (vocab_size=8, specials 0-4): {counts}; expected them "
                              "spread over every non-special id 5, 6 and 7 (vocab_size - 1 included)")

    def seeded(f):
        _, first, _ = run(f, seed=7)
        _, again, _ = run(f, seed=7)
        _, other, _ = run(f, seed=8)
        expect_equal("two runs with the same seed", again, first)
        if np.array_equal(first, other):
            raise CheckFailed("different seeds gave the same masking: use the rng you are given")

    return [Check("labels only at chosen positions, nothing else changes", labels_only_at_chosen),
            Check("15% of the non-special tokens of each row are chosen", fifteen_percent),
            Check("[CLS], [SEP] and [PAD] are never chosen", specials_untouched),
            Check("of the chosen: 80% [MASK], 10% random, 10% kept", eighty_ten_ten),
            Check("the action is drawn for each chosen token", per_token),
            Check("a random replacement can be any non-special id", every_ordinary_id),
            Check("the same seed gives the same masking", seeded)]


def toy_documents(n_docs=40, sentences=6):
    return [[f"doc{d} sentence{s}" for s in range(sentences)] for d in range(n_docs)]


@exercise("make_nsp_pairs", "minitrans.datasets.masking", topic=TOPIC, hint="""
    For each document d and each i < len(doc) - 1: if rng.random() < 0.5 append
    (doc[i], doc[i + 1], 0); otherwise pick another document (never d itself) and one of its
    sentences at random with rng.integers, and append (doc[i], that sentence, 1).
    Raise ValueError when there are fewer than 2 non-empty documents.
    """)
def nsp_checks():
    docs = toy_documents()

    def where(sentence):
        d, s = sentence.split()
        return int(d[3:]), int(s[8:])

    def run(f, seed=0):
        pairs = f(docs, np.random.default_rng(seed))
        if not isinstance(pairs, list) or not pairs or len(pairs[0]) != 3:
            raise CheckFailed(f"expected a list of (A, B, label) tuples, got {str(pairs)[:80]}")
        return pairs

    def one_pair_per_sentence_with_a_successor(f):
        pairs = run(f)
        expect_equal("number of pairs (one per sentence that has a next sentence)", len(pairs), 40 * 5)
        expect_equal("the A sentences, in order", [a for a, _, _ in pairs],
                     [s for doc in docs for s in doc[:-1]])

    def labels_are_right(f):
        for a, b, label in (pair for seed in range(10) for pair in run(f, seed)):
            (da, sa), (db, sb) = where(a), where(b)
            if label == 0 and (db, sb) != (da, sa + 1):
                raise CheckFailed(f"({a!r}, {b!r}) is labelled 0 (IsNext) but B is not the sentence after A")
            if label == 1 and db == da:
                raise CheckFailed(f"({a!r}, {b!r}) is labelled 1 (NotNext) but B comes from A's own document")
            if label not in (0, 1):
                raise CheckFailed(f"labels are 0 (IsNext) or 1 (NotNext), got {label!r}")

    def half_and_half(f):
        labels = [label for _, _, label in run(f, seed=3)]
        rate, n = np.mean(labels), len(labels)
        if abs(rate - 0.5) > 5 * np.sqrt(0.25 / n):
            raise CheckFailed(f"{rate:.2f} of {n} pairs are random (label 1); expected about 0.5")
        counts = Counter(where(b)[0] for _, b, label in run(f, seed=3) if label == 1)
        if len(counts) < 20:
            raise CheckFailed(f"random B sentences came from only {len(counts)} documents: draw the document at random")

    def too_few_documents(f):
        try:
            f([["only", "one", "document"]], np.random.default_rng(0))
        except ValueError:
            return
        raise CheckFailed("expected ValueError for a single document (a random B needs another document)")

    return [Check("one pair per sentence that has a successor", one_pair_per_sentence_with_a_successor),
            Check("label 0 = true next sentence, 1 = from another document", labels_are_right),
            Check("about half the pairs are random", half_and_half),
            Check("fewer than 2 documents is an error", too_few_documents)]


@exercise("tokenize_word", "minitrans.tokenizers.wordpiece", topic=TOPIC, hint="""
    Greedy longest match first: start = 0; while start < len(word): try end = len(word),
    len(word) - 1, ... and take the first piece word[start:end] (prefixed "##" when start > 0)
    that is in vocab; if none matches, return [unk_token] for the whole word.
    Words longer than max_chars are [unk_token] too.
    """)
def tokenize_word_checks():
    vocab = {"un", "##aff", "##able", "play", "##ing", "##in", "##g", "a", "##a", "aa", "##aa"}

    def split(f):
        expect_equal('tokenize_word("unaffable")', f("unaffable", vocab), ["un", "##aff", "##able"])

    def longest_first(f):
        expect_equal('tokenize_word("playing") (longest match first)', f("playing", vocab), ["play", "##ing"])
        expect_equal('tokenize_word("aaaaa")', f("aaaaa", vocab), ["aa", "##aa", "##a"])

    def unknown(f):
        expect_equal('tokenize_word("playx") (no piece for "x")', f("playx", vocab), ["[UNK]"])
        expect_equal("a custom unk_token", f("xyz", vocab, unk_token="<unk>"), ["<unk>"])

    def too_long(f):
        expect_equal("a word of 101 characters", f("a" * 101, vocab), ["[UNK]"])
        expect_equal("a word of 100 characters", f("a" * 100, vocab), ["aa"] + ["##aa"] * 49)

    return [Check("un ##aff ##able", split), Check("longest match first", longest_first),
            Check("no match: the whole word is [UNK]", unknown),
            Check("words over max_chars are [UNK]", too_long)]
