"""T5's pre-training objective: span corruption (Raffel et al., 2020, section 3.1.4).

Drop about 15% of the tokens; each run of dropped tokens is replaced in the input by one
sentinel, and the target lists every sentinel followed by the tokens it hid, ending with the
next sentinel:

    input   Thank you <X> me to your party <Y> week .
    target  <X> for inviting <Y> last <Z>

Sentinels are counted down from the end of the vocabulary (<X> = vocab_size - 1, <Y> =
vocab_size - 2, ...), as in T5's SentencePiece vocabulary whose last 100 ids are
<extra_id_0> ... <extra_id_99>.

The course's two versions end the targets differently (`CONVENTIONS`): the first appends
nothing, the 2023 one appends EOS to the targets only; both count the sentinels down from the
end of T5's 32,000 SentencePiece pieces (real pieces, which the course shows as <Z>, <Y>, ...
with `pretty_decode`; note the paper's figure names the first sentinel <X>, the course <Z>).
"""

import numpy as np

from minitrans.datasets.streaming import pack
from minitrans.losses import IGNORE

CONVENTIONS = {
    "t5": "targets close with the next sentinel; eos_id (if given) ends both (the T5 paper, Hugging Face)",
    "course": "nothing appended (the course's first version, Trax)",
    "course-2023": "EOS ends the targets only (the course's 2023 version)",
}


def span_inputs(text, tokenizer, tokenize, vocab_size, eos_id, noise, convention) -> tuple[list[int], int, int | None]:
    """Check tokenize_and_mask's arguments; return the ids to mask, the vocabulary size the
    sentinels count down from and the EOS id (None when the convention appends none).

    Text goes through `tokenizer.encode(text, add_eos=False)` or `tokenize(text)`; ids pass as
    they are. Without `vocab_size`, the T5 convention counts from the tokenizer's whole
    vocabulary (<extra_id_0> = its last id); the course's conventions count from the end of the
    SentencePiece model's own pieces, as the course does with its 32,000-piece vocabulary."""
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(map(repr, CONVENTIONS))}, got {convention!r}")
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise is the probability of masking a token: expected a number in [0, 1], got {noise}")
    if isinstance(text, str):
        if tokenizer is None and tokenize is None:
            raise ValueError("text needs a tokenizer= (with .encode) or a tokenize= function to become ids")
        ids = tokenizer.encode(text, add_eos=False) if tokenizer is not None else tokenize(text)
    else:
        ids = text
    ids = [int(i) for i in ids]
    if not ids:
        raise ValueError(f"nothing to mask: {text!r} gives no tokens")
    if vocab_size is None:
        if tokenizer is None:
            raise ValueError("vocab_size is needed (the sentinels count down from it) when no tokenizer is given")
        vocab_size = tokenizer.vocab_size if convention == "t5" else getattr(tokenizer, "pieces", tokenizer.vocab_size)
    if convention == "course" and eos_id is not None:
        raise ValueError("the course's first convention appends no EOS; use convention='t5' or 'course-2023' for eos_id")
    if convention == "course-2023" and eos_id is None:
        eos_id = getattr(tokenizer, "eos_id", None)
        if eos_id is None:
            raise ValueError("convention='course-2023' ends the targets with EOS: pass eos_id= or a tokenizer that has one")
    if convention != "course" and eos_id is not None and not 0 <= eos_id < vocab_size:
        raise ValueError(f"eos_id={eos_id} is outside the vocabulary of {vocab_size}")
    return ids, vocab_size, eos_id


def tokenize_and_mask(text, *, noise: float = 0.15, randomizer=None, tokenizer=None, tokenize=None,
                      vocab_size: int | None = None, eos_id: int | None = None, convention: str = "t5",
                      rng: np.random.Generator | None = None) -> tuple[list[int], list[int]]:
    """The course's span corruption, token by token: each token is masked when a uniform draw
    falls below `noise`; consecutive masked tokens share one sentinel, numbered down from
    `vocab_size - 1`. Returns (inputs, targets), ended as `convention` says (see CONVENTIONS);
    when nothing is masked the targets hold no sentinel. `text` is a string (with `tokenizer=`
    or `tokenize=`, as the course's two versions take it) or a list of ids. `randomizer()` (as
    in the course, e.g. np.random.uniform) or `rng` supplies the draws."""
    ids, vocab_size, eos_id = span_inputs(text, tokenizer, tokenize, vocab_size, eos_id, noise, convention)
    if randomizer is None:
        randomizer = (rng if rng is not None else np.random.default_rng()).random
    # BEGIN SOLUTION
    inputs, targets = [], []
    sentinel = vocab_size  # the next sentinel is sentinel - 1
    previous_masked = False
    for token in ids:
        if randomizer() < noise:
            if not previous_masked:
                sentinel -= 1
                inputs.append(sentinel)
                targets.append(sentinel)
            targets.append(token)
            previous_masked = True
        else:
            inputs.append(token)
            previous_masked = False
    if convention == "t5":
        if targets:
            targets.append(sentinel - 1)
        if eos_id is not None:
            inputs.append(eos_id)
            targets.append(eos_id)
    elif convention == "course-2023":
        targets.append(eos_id)
    return inputs, targets
    # END SOLUTION


LETTERS = "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba"


def get_sentinels(vocab_size: int) -> dict[int, str]:
    """The course's display names of the sentinels: vocab_size - 1 is <Z>, then <Y>, ... <A>,
    <z>, ... <a> (52 in all)."""
    return {vocab_size - 1 - i: f"<{letter}>" for i, letter in enumerate(LETTERS)}


def pretty_decode(ids, tokenizer, vocab_size: int | None = None) -> str:
    """Ids as text with the sentinels shown as <Z>, <Y>, ... (counted down from `vocab_size`,
    default the tokenizer's SentencePiece pieces as in the course), EOS as </s>."""
    names = get_sentinels(vocab_size if vocab_size is not None else getattr(tokenizer, "pieces", tokenizer.vocab_size))
    names[tokenizer.eos_id] = "</s>"
    parts, run = [], []
    for i in (int(x) for x in ids):
        if i in names:
            parts += [tokenizer.decode(run), names[i]]
            run = []
        else:
            run.append(i)
    parts.append(tokenizer.decode(run))
    return " ".join(part for part in parts if part)


def random_spans_noise_mask(length: int, noise_density: float = 0.15, mean_span_length: float = 3.0,
                            rng: np.random.Generator | None = None) -> np.ndarray:
    """The paper's version: a boolean mask with round(length * noise_density) noise tokens in
    spans of mean length `mean_span_length`, noise and non-noise spans alternating, the first
    span non-noise (as in the T5 code's random_spans_noise_mask)."""
    rng = rng if rng is not None else np.random.default_rng()
    if length < 2:
        return np.zeros(length, bool)
    num_noise = int(np.clip(round(length * noise_density), 1, length - 1))
    num_spans = max(1, int(round(num_noise / mean_span_length)))
    num_spans = min(num_spans, num_noise, length - num_noise)

    def segment_lengths(total: int, segments: int) -> np.ndarray:
        """Split `total` items into `segments` non-empty runs at random."""
        cuts = np.sort(rng.choice(np.arange(1, total), size=segments - 1, replace=False)) if segments > 1 else []
        return np.diff(np.concatenate([[0], cuts, [total]])).astype(int)

    noise_runs, clean_runs = segment_lengths(num_noise, num_spans), segment_lengths(length - num_noise, num_spans)
    mask = np.concatenate([np.concatenate([np.zeros(c, bool), np.ones(n, bool)])
                           for c, n in zip(clean_runs, noise_runs)])
    return mask


def span_corrupt(ids: list[int], mask: np.ndarray, *, vocab_size: int, eos_id: int | None = None):
    """Inputs and targets from a noise mask: the same format as `tokenize_and_mask`."""
    if len(mask) != len(ids):
        raise ValueError(f"the noise mask has {len(mask)} positions, the sequence {len(ids)}")
    draws = iter(np.where(mask, 0.0, 1.0))
    return tokenize_and_mask(ids, vocab_size=vocab_size, eos_id=eos_id, noise=0.5, randomizer=lambda: next(draws))


def check_sentinels(vocab_size: int, sentinel_count: int, needed: int) -> None:
    """A tokenizer must reserve enough sentinels at the end of its vocabulary."""
    if sentinel_count < needed:
        raise ValueError(f"span corruption needs {needed} sentinel tokens at the end of the vocabulary; "
                         f"this tokenizer has {sentinel_count} (vocab_size={vocab_size}): use a T5 vocabulary "
                         "with <extra_id_*> tokens or shorter sequences")


# --------------------------------------------------------------------------- batches


def raw_length_for(input_length: int, target_length: int, noise_density: float = 0.15,
                   mean_span_length: float = 3.0) -> int:
    """The longest stretch of text whose span corruption fits input_length and target_length
    (with EOS on both), as the T5 code computes it."""
    best = 0
    for raw in range(2, 4 * input_length):
        noise = int(np.clip(round(raw * noise_density), 1, raw - 1))
        spans = min(max(1, int(round(noise / mean_span_length))), noise, raw - noise)
        if raw - noise + spans + 1 <= input_length and noise + spans + 2 <= target_length:
            best = raw
    if best == 0:
        raise ValueError(f"input_length={input_length} and target_length={target_length} are too short for span corruption")
    return best


def pack_rows(texts: list[str], tokenizer, raw_length: int) -> np.ndarray:
    """Tokenize texts end to end (no EOS between) and cut rows of raw_length tokens."""
    rows = list(pack((tokenizer.encode(text, add_eos=False) for text in texts), raw_length))
    if not rows:
        raise ValueError(f"the text gives fewer tokens than one row of {raw_length}")
    return np.stack(rows)


def make_span_batch(rows: np.ndarray, tokenizer, rng: np.random.Generator, input_length: int,
                    target_length: int) -> dict:
    """Span-corrupt each row (the paper's noise mask) into padded inputs and labels (-100 pads);
    `word_weights` marks the target tokens that are hidden text (not sentinels or EOS)."""
    inputs = np.zeros((len(rows), input_length), np.int32)
    labels = np.full((len(rows), target_length), IGNORE, np.int32)
    for i, row in enumerate(rows):
        source, target = span_corrupt(list(row), random_spans_noise_mask(len(row), rng=rng),
                                      vocab_size=tokenizer.vocab_size, eos_id=tokenizer.eos_id)
        check_sentinels(tokenizer.vocab_size, tokenizer.extra_ids, sum(1 for t in target if t >= tokenizer.pieces))
        inputs[i, :len(source)], labels[i, :len(target)] = source[:input_length], target[:target_length]
    words = (labels >= 0) & (labels < tokenizer.pieces) & (labels != tokenizer.eos_id)
    return {"input_ids": inputs, "attention_mask": (inputs != 0).astype(np.int32), "labels": labels,
            "word_weights": words.astype(np.float32)}
