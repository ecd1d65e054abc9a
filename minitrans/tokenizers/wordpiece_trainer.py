"""Learning a WordPiece vocabulary from a corpus, from scratch: where "##ing" comes from.

Start from single characters (a word's first character as is, the others as "##c"), then
repeatedly merge the adjacent pair with the highest score

    score(a, b) = freq(ab) / (freq(a) * freq(b)),

the WordPiece criterion (Schuster & Nakajima, 2012; as the Hugging Face course presents it):
unlike BPE's raw pair frequency, it prefers pairs whose parts rarely occur apart. The merged
symbol keeps the "##" of its first part: "##i" + "##ng" -> "##ing".

Counts are updated incrementally and a heap holds the scores, so a vocabulary of a few thousand
pieces over a few megabytes of text takes seconds, not hours.
"""

import heapq
from collections import Counter, defaultdict

from minitrans.tokenizers.wordpiece import SPECIAL_TOKENS, normalize, pre_tokenize


def count_words(texts, lowercase: bool = True) -> Counter:
    """Words as BERT's normaliser and pre-tokenizer split them, with their frequencies."""
    counts: Counter = Counter()
    for text in texts:
        for word in pre_tokenize(normalize(text, lowercase)):
            counts["".join(c for c, _ in word)] += 1
    return counts


def merge_symbols(a: str, b: str) -> str:
    return a + b[2:] if b.startswith("##") else a + b


def learn_wordpiece_vocab(texts, vocab_size: int, *, lowercase: bool = True,
                          min_frequency: int | None = None, verbose: bool = False) -> dict[str, int]:
    """Return a vocabulary {token: id}: the special tokens, every character, then merges.

    Only pairs seen at least `min_frequency` times may merge: the score alone favours pairs
    that are rare but always together ("juxtapos" + "##e"). The default grows with the square
    root of the corpus's word count (sqrt(words) / 15, at least 2): 9 for the 20,000 words of
    data/facts_corpus.txt, 30 for the 200,000 of WikiText-2's validation set, which gives
    "the", "play", "##ing".
    """
    counts = count_words(texts, lowercase)
    if not counts:
        raise ValueError("the corpus holds no words: cannot learn a vocabulary from it")
    if min_frequency is None:
        min_frequency = max(2, round(sum(counts.values()) ** 0.5 / 15))
    words = {w: [w[0]] + ["##" + c for c in w[1:]] for w in counts}
    vocab = list(SPECIAL_TOKENS) + sorted({s for symbols in words.values() for s in symbols})
    if vocab_size < len(vocab):
        raise ValueError(f"vocab_size={vocab_size} is smaller than the {len(vocab)} special tokens "
                         "and characters of this corpus")

    symbol_freq: Counter = Counter()
    pair_freq: Counter = Counter()
    words_with_pair: dict[tuple[str, str], set[str]] = defaultdict(set)
    pairs_with_symbol: dict[str, set[tuple[str, str]]] = defaultdict(set)

    def account(word: str, sign: int) -> None:
        symbols, n = words[word], counts[word] * sign
        for s in symbols:
            symbol_freq[s] += n
        for pair in zip(symbols, symbols[1:]):
            pair_freq[pair] += n
            if sign > 0:
                words_with_pair[pair].add(word)
                pairs_with_symbol[pair[0]].add(pair)
                pairs_with_symbol[pair[1]].add(pair)

    for word in words:
        account(word, +1)

    def score(pair) -> float:
        return pair_freq[pair] / (symbol_freq[pair[0]] * symbol_freq[pair[1]])

    heap = [(-score(p), p) for p in pair_freq if pair_freq[p] >= min_frequency]
    heapq.heapify(heap)
    while len(vocab) < vocab_size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_freq[pair] < min_frequency or -neg != score(pair):
            continue  # stale entry: a fresher one is in the heap (or the pair is gone)
        a, b = pair
        merged = merge_symbols(a, b)
        vocab.append(merged)
        if verbose and len(vocab) % 500 == 0:
            print(f"  {len(vocab)} tokens, latest merge {a} + {b} -> {merged}")
        for word in list(words_with_pair[pair]):
            account(word, -1)
            symbols, out, i = words[word], [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and symbols[i] == a and symbols[i + 1] == b:
                    out.append(merged)
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            words[word] = out
            account(word, +1)
        # every pair whose score may have changed gets a fresh heap entry
        for p in pairs_with_symbol[a] | pairs_with_symbol[b] | pairs_with_symbol[merged]:
            if pair_freq[p] >= min_frequency:
                heapq.heappush(heap, (-score(p), p))
    return {token: i for i, token in enumerate(dict.fromkeys(vocab))}
