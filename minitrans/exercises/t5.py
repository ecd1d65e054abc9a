"""Graded checks for the T5 exercises: span corruption, relative position buckets, teacher
forcing, greedy decoding and the prefix-LM mask of a decoder-only T5."""

import functools
import inspect
import itertools

import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.datasets import shared
from minitrans.datasets.span_corruption import CONVENTIONS, pretty_decode
from minitrans.exercises import Check, CheckFailed, exercise, expect_equal
from minitrans.exercises import numpy_reference as ref
from minitrans.kernels import compiled_call
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
from minitrans.tokenizers.sentencepiece import T5Tokenizer

TOPIC = "T5"
SLIDE = "Thank you for inviting me to your party last week .".split()


# The course's example paragraphs (the first and third texts of C4's English training split),
# which its graders mask with T5's SentencePiece vocabulary.
COURSE_TEXTS = {
    "the BBQ-class paragraph": (
        "Beginners BBQ Class Taking Place in Missoula!\nDo you want to get better at making delicious BBQ? You will "
        "have the opportunity, put this on your calendar now. Thursday, September 22nd join World Class BBQ Champion, "
        "Tony Balay from Lonestar Smoke Rangers. He will be teaching a beginner level class for everyone who wants to "
        "get better with their culinary skills.\nHe will teach you everything you need to know to compete in a KCBS "
        "BBQ competition, including techniques, recipes, timelines, meat selection and trimming, plus smoker and fire "
        "information.\nThe cost to be in the class is $35 per person, and for spectators it is free. Included in the "
        "cost will be either a t-shirt or apron and you will be tasting samples of each meat that is prepared."),
    "the foil-shortall paragraph": (
        "Foil plaid lycra and spandex shortall with metallic slinky insets. Attached metallic elastic belt with "
        "O-ring. Headband included. Great hip hop or jazz dance costume. Made in the USA."),
}


class CourseTensor(np.ndarray):
    """What TensorFlow hands the 2023 course's code: an array with a .numpy() method."""

    def numpy(self):
        return np.asarray(self)


def course_tensor(values) -> CourseTensor:
    return np.asarray(values).view(CourseTensor)


class CourseTokenizer:
    """The tokenizer the 2023 course passes its tokenize_and_mask (TensorFlow Text's SentencePiece
    tokenizer), as far as that function uses it: tokenize(text).numpy(), vocab_size(),
    string_to_id("</s>")."""

    def __init__(self, encode, vocab_size: int, eos_id: int):
        self.encode, self.size, self.eos_id = encode, vocab_size, eos_id

    def tokenize(self, text):
        return course_tensor(self.encode(text.decode() if isinstance(text, bytes) else text))

    def vocab_size(self, name=None):
        return course_tensor(self.size)

    def string_to_id(self, piece):
        if piece != "</s>":
            raise ValueError(f"this stand-in only knows </s>, got {piece!r}")
        return course_tensor(self.eos_id)


def conventions_of(f) -> list[str]:
    """The conventions a solution implements, read from its signature: ours takes convention=;
    a solution pasted from the course takes tokenizer= (2023) or tokenize= (the first version)
    and is graded by that version's rules."""
    parameters = inspect.signature(f).parameters
    if "convention" in parameters:
        return list(CONVENTIONS)
    if "tokenizer" in parameters:
        return ["course-2023"]
    if "tokenize" in parameters:
        return ["course"]
    raise CheckFailed("tokenize_and_mask takes convention= (or, as the course's versions, tokenizer= or tokenize=); "
                      f"yours takes {list(parameters)}")


def mask_with(f, text, encode, vocab_size: int, eos_id: int, convention: str, noise: float, randomizer):
    """Call the solution the way its signature asks, with text and a tokenizer."""
    parameters = inspect.signature(f).parameters
    if "convention" in parameters:
        got = f(text, noise=noise, randomizer=randomizer, tokenize=encode, vocab_size=vocab_size,
                eos_id=eos_id if convention == "course-2023" else None, convention=convention)
    elif "tokenizer" in parameters:
        got = f(text, noise=noise, randomizer=randomizer, tokenizer=CourseTokenizer(encode, vocab_size, eos_id))
    else:
        got = f(text, vocab_size=vocab_size, noise=noise, randomizer=randomizer, tokenize=encode)
    if not (isinstance(got, tuple) and len(got) == 2):
        raise CheckFailed(f"expected (inputs, targets), got {type(got).__name__}")
    return [int(i) for i in got[0]], [int(i) for i in got[1]]


def cycling(values):
    """The course graders' mocked randomizer: returns the values in turn, over and over."""
    values = itertools.cycle(values)
    return lambda: next(values)


@functools.cache
def t5_tokenizer() -> T5Tokenizer:
    path = shared("t5/spiece.model")
    if path is None:
        raise CheckFailed("the course's cases use T5's SentencePiece vocabulary: put spiece.model in "
                          "../shared/data/t5/ beside the project or in $MINITRANS_DATA/t5/")
    return T5Tokenizer(path)


@exercise("tokenize_and_mask", "minitrans.datasets.span_corruption", topic=TOPIC, hint="""
    Walk through the ids with sentinel = vocab_size. For each token draw randomizer(); below
    `noise` the token is masked: if the previous token was not masked, sentinel -= 1 and append
    the sentinel to both inputs and targets; then append the token to targets. Otherwise append
    the token to inputs. At the end, by convention: "t5" appends sentinel - 1 to the targets
    (only if something was masked), then eos_id to both if it is given; "course" appends
    nothing; "course-2023" appends eos_id to the targets.
    """)
def tokenize_and_mask_checks():
    vocab = {w: i + 2 for i, w in enumerate(SLIDE)}
    names = {i: w for w, i in vocab.items()} | {99: "<X>", 98: "<Y>", 97: "<Z>", 1: "</s>"}
    slide_draws = [0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9]

    def words(text):
        return [vocab[w] for w in text.split()]

    def show(seq):
        return " ".join(names.get(int(i), str(i)) for i in seq)

    def slide(f):
        endings = {"t5": "<X> for inviting <Y> last <Z>", "course": "<X> for inviting <Y> last",
                   "course-2023": "<X> for inviting <Y> last </s>"}
        for convention in conventions_of(f):
            inputs, targets = mask_with(f, " ".join(SLIDE), words, 100, 1, convention, 0.15, cycling(slide_draws))
            expect_equal(f"inputs ({convention})", show(inputs), "Thank you <X> me to your party <Y> week .")
            expect_equal(f"targets ({convention}: {CONVENTIONS[convention]})", show(targets), endings[convention])

    def t5_eos(f):
        if "convention" not in inspect.signature(f).parameters:
            return  # the course's versions have no eos_id argument
        inputs, targets = f([vocab[w] for w in SLIDE], vocab_size=100, eos_id=1, randomizer=cycling([0.1] + [0.9] * 10))
        expect_equal("inputs with eos_id=1 (t5)", show(inputs), "<X> you for inviting me to your party last week . </s>")
        expect_equal("targets with eos_id=1 (t5)", show(targets), "<X> Thank <Y> </s>")

    def course_case(text_name, noise, draws_from):
        def run(f):
            tokenizer = t5_tokenizer()
            text = COURSE_TEXTS[text_name]
            ids = tokenizer.encode(text, add_eos=False)
            for convention in conventions_of(f):
                size = tokenizer.vocab_size if convention == "t5" else tokenizer.pieces
                got = mask_with(f, text, functools.partial(tokenizer.encode, add_eos=False), size, tokenizer.eos_id,
                                convention, noise, draws_from())
                randomizer = draws_from()
                expected = ref.span_corruption(ids, [randomizer() for _ in ids], noise, size, convention,
                                               tokenizer.eos_id if convention == "course-2023" else None)
                for part, g, e in zip(("inputs", "targets"), got, expected):
                    what = f"{part} ({convention}, noise={noise})"
                    expect_equal(what, pretty_decode(g, tokenizer, size), pretty_decode(e, tokenizer, size))
                    expect_equal(what + " as ids", g, e)
        return run

    def seeded():
        np.random.seed(12345)  # the course graders' seed, and their randomizer
        return np.random.uniform

    def linspace():
        return cycling(np.linspace(0, 1, 10))

    def fraction(f):
        for convention in conventions_of(f):
            masked = 0
            for seed in range(5):
                _, targets = mask_with(f, list(range(1000)), lambda ids: ids, 5000, 1, convention, 0.15,
                                       np.random.default_rng(seed).random)
                masked += sum(1 for t in targets if t < 4000 and t != 1)
            if abs(masked / 5000 - 0.15) > 0.02:
                raise CheckFailed(f"{masked / 5000:.1%} of the tokens were masked ({convention}); expected about 15% "
                                  "(noise=0.15)")

    bbq, foil = COURSE_TEXTS
    return [Check("the slide: Thank you <X> me to your party <Y> week .", slide),
            Check("eos_id ends both sequences (t5)", t5_eos),
            Check(f"the course's case: {bbq}, the mocked randomizer cycling through linspace(0, 1, 10)",
                  course_case(bbq, 0.15, linspace)),
            Check(f"the course's case: {bbq}, np.random.seed(12345)", course_case(bbq, 0.15, seeded)),
            *[Check(f"the course's case: {foil}, noise={noise}, np.random.seed(12345)", course_case(foil, noise, seeded))
              for noise in (0.0, 0.2, 0.5, 1.0)],
            Check("about 15% of the tokens are masked", fraction)]


@exercise("relative_position_bucket", "minitrans.models.t5", topic=TOPIC, hint="""
    Bidirectional: halve num_buckets, add num_buckets (the halved value) where the position is
    positive, and use the absolute distance. Otherwise the distance is -min(position, 0).
    max_exact = num_buckets // 2: distances below it are their own bucket; larger ones get
    max_exact + int(log(distance / max_exact) / log(max_distance / max_exact) * (num_buckets -
    max_exact)), capped at num_buckets - 1. Use jnp operations (it runs on arrays).
    """)
def bucket_checks():
    positions = np.arange(-200, 201)

    def run(f, bidirectional):
        got = np.asarray(f(jnp.asarray(positions), bidirectional, 32, 128))
        expect_equal(f"buckets (bidirectional={bidirectional}) for positions -200..200", got,
                     [ref.relative_position_bucket(int(p), bidirectional, 32, 128) for p in positions])

    return [Check("bidirectional buckets (the encoder)", lambda f: run(f, True)),
            Check("one-directional buckets (the decoder)", lambda f: run(f, False)),
            Check("small distances are exact", lambda f: expect_equal(
                "buckets of -3..3 (bidirectional)", np.asarray(f(jnp.arange(-3, 4), True, 32, 128)), [3, 2, 1, 0, 17, 18, 19]))]


@exercise("shift_right", "minitrans.models.t5", topic=TOPIC, hint="""
    Prepend decoder_start_token_id to every row and drop the last label:
    jnp.concatenate([jnp.full_like(labels[:, :1], start), labels[:, :-1]], axis=1); then replace
    any -100 by pad_token_id.
    """)
def shift_right_checks():
    def basic(f):
        expect_equal("shift_right([[11, 12, 13, 1]])", np.asarray(f(jnp.array([[11, 12, 13, 1]]))), [[0, 11, 12, 13]])

    def ignored(f):
        expect_equal("shift_right with -100 labels", np.asarray(f(jnp.array([[21, 22, 1, -100, -100]]))),
                     [[0, 21, 22, 1, 0]])

    def start_token(f):
        expect_equal("shift_right(..., decoder_start_token_id=5)",
                     np.asarray(f(jnp.array([[7, 8]]), decoder_start_token_id=5)), [[5, 7]])

    return [Check("the target moves one step right after the start token", basic),
            Check("-100 (ignored) labels become padding", ignored),
            Check("the start token is a parameter", start_token)]


class CompiledT5(T5ForConditionalGeneration):
    """The checks' T5: `encode` and `decode` compiled, one program per input shape kept for the
    whole run, so a greedy loop that calls them once per token runs in a fraction of the time
    it takes operation by operation. The same numbers as the plain model. (Each calls the plain
    model's method, which compiled_call traces: this class's own would call itself.)"""

    def encode(self, input_ids, attention_mask=None):
        input_ids = jnp.asarray(input_ids)
        attention_mask = (input_ids != self.config.pad_token_id) if attention_mask is None else attention_mask
        return compiled_call(self, input_ids, jnp.asarray(attention_mask), method=T5ForConditionalGeneration.encode)

    def decode(self, decoder_input_ids, encoder_output, attention_mask, decoder_attention_mask=None):
        if decoder_attention_mask is not None:
            return super().decode(decoder_input_ids, encoder_output, attention_mask, decoder_attention_mask)
        ids = jnp.asarray(decoder_input_ids)
        length = ids.shape[1]
        padded = jnp.pad(ids, ((0, 0), (0, -length % 16)))  # one program for lengths 1-16: the decoder
        logits = compiled_call(self, padded, encoder_output, jnp.asarray(attention_mask),
                               method=T5ForConditionalGeneration.decode)
        return logits[:, :length]  # is causal, so the padding after the real positions changes nothing


def compiled(model: T5ForConditionalGeneration) -> CompiledT5:
    """`model` as a CompiledT5 (the same weights)."""
    fast = nnx.eval_shape(lambda: CompiledT5(model.config, rngs=nnx.Rngs(0)))
    nnx.update(fast, nnx.state(model))
    return fast


def tiny_t5(cls=CompiledT5) -> T5ForConditionalGeneration:
    """A tiny random T5 whose greedy output varies and, for one of the check's inputs, reaches
    EOS (its eos_token_id is a token that input produces at the third step). `cls`: CompiledT5
    for checks that call encode and decode themselves, T5ForConditionalGeneration for `generate`
    (which compiles its own steps)."""
    model = cls(T5Config.tiny(vocab_size=40, eos_token_id=20), rngs=nnx.Rngs(4))
    for path, param in nnx.to_flat_state(nnx.state(model, nnx.Param)):  # sharper weights: varied output
        param[...] = param[...] * 2.0
    return model


def check_greedy(model, ids, generated: np.ndarray, attention_mask=None) -> None:
    """One teacher-forced pass over the generated ids: every generated token must be the argmax
    of the scores at the position before it (until the row's EOS)."""
    logits = np.asarray(model(ids, attention_mask, decoder_input_ids=jnp.asarray(generated[:, :-1])).logits)
    for row in range(generated.shape[0]):
        for t in range(1, generated.shape[1]):
            want = int(logits[row, t - 1].argmax())
            if generated[row, t] != want:
                raise CheckFailed(f"row {row}, generated token {t}: expected {want} (the argmax given the "
                                  f"tokens before it), got {int(generated[row, t])}; row = {generated[row].tolist()}")
            if want == model.config.eos_token_id:
                break


def generated_ids(f, *args, **kwargs) -> np.ndarray:
    got = np.asarray(f(*args, **kwargs))
    if got.ndim != 2 or got.shape[0] != 2 or got.shape[1] < 2:
        raise CheckFailed(f"expected ids of shape (2, 1 + generated), got shape {got.shape}")
    return got


@exercise("greedy_generate", "minitrans.models.t5", topic=TOPIC, hint="""
    encoder_output = model.encode(input_ids, attention_mask) once. Start with out = the decoder
    start token, shape (batch, 1). Each step: logits = model.decode(out, encoder_output,
    attention_mask)[:, -1]; token = argmax (pad for rows already done); append it; mark rows
    that produced EOS (model.config.eos_token_id) as done; stop when all are done.
    """)
def greedy_checks():
    ids = jnp.array([[5, 9, 13, 21, 30], [7, 7, 2, 11, 4]])  # the first reaches EOS (id 20) at step 3
    attention_mask = jnp.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])  # the first input's last two tokens hidden

    def matches(f):
        model = tiny_t5()
        check_greedy(model, ids, generated_ids(f, model, ids, 6))

    def starts_with_start_token(f):
        got = generated_ids(f, tiny_t5(), ids, 3)
        expect_equal("first column (the decoder start token)", got[:, 0].tolist(), [0, 0])
        if got.shape[1] > 4:
            raise CheckFailed(f"max_new_tokens=3 gives at most 1 + 3 columns, got {got.shape[1]}")

    def pads_after_eos(f):
        got = generated_ids(f, tiny_t5(), ids, 6)
        expect_equal("the row that produces EOS (id 20) at step 3, then padding (0)", got[0].tolist(),
                     [0, 13, 11, 20, 0, 0, 0])

    def stops_when_done(f):
        got = np.asarray(f(tiny_t5(), ids[:1], 10))
        expect_equal("one input whose output reaches EOS at step 3, max_new_tokens=10 (stop there)",
                     got.tolist(), [[0, 13, 11, 20]])

    def uses_the_attention_mask(f):
        model = tiny_t5()
        got = generated_ids(f, model, ids, 4, attention_mask=attention_mask)
        check_greedy(model, ids, got, attention_mask)

    return [Check("each token is the argmax given everything before it", matches),
            Check("starts with the decoder start token, stops at max_new_tokens", starts_with_start_token),
            Check("rows that produced EOS continue with padding", pads_after_eos),
            Check("stops as soon as every row has produced EOS", stops_when_done),
            Check("the attention mask hides the inputs' padding from the encoder", uses_the_attention_mask)]


@exercise("decoder_only_mask", "minitrans.models.t5", topic=TOPIC, hint="""
    pattern = causal_mask(length) without prefix lengths, prefix_lm_mask(prefix_lengths, length)
    with them; return combine_masks(pattern, padding_mask(attention_mask)).
    """)
def decoder_only_mask_checks():
    am = jnp.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])

    def language_model(f):
        want = np.tril(np.ones((5, 5), bool))[None, None] & np.asarray(am, bool)[:, None, None, :]
        expect_equal("decoder_only_mask(attention_mask) (a language model)", np.asarray(f(am)), want)

    def prefix(f):
        got = np.asarray(f(am, jnp.array([2, 5])))
        want = np.zeros((2, 1, 5, 5), bool)
        for b, p in enumerate([2, 5]):
            for i in range(5):
                for j in range(5):
                    want[b, 0, i, j] = (j <= i or j < p) and bool(am[b, j])
        expect_equal("decoder_only_mask(attention_mask, prefix_lengths=[2, 5])", got, want)

    def model_uses_it(f):
        import minitrans.models.t5 as t5
        original = t5.decoder_only_mask
        t5.decoder_only_mask = f
        try:
            model = t5.T5DecoderOnly(t5.T5Config.tiny(vocab_size=30), prefix_lm=True, rngs=nnx.Rngs(0))
            a, b = jnp.array([[5, 6, 7, 8, 9]]), jnp.array([[5, 6, 7, 3, 3]])
            scores = lambda ids, prefix: np.asarray(model(ids, jnp.array([prefix])).logits)[0]
            same = np.abs(scores(a, 2)[:3] - scores(b, 2)[:3]).max()
            seen = np.abs(scores(a, 4)[:2] - scores(b, 4)[:2]).max()
        finally:
            t5.decoder_only_mask = original
        if same > 1e-5:
            raise CheckFailed("with prefix length 2, positions 0-2 must not see tokens 3-4 (causal after the prefix)")
        if seen < 1e-4:
            raise CheckFailed("with prefix length 4, position 0 must see token 3 (the prefix is fully visible)")

    return [Check("no prefix: causal, padding hidden", language_model),
            Check("a prefix per example: fully visible over it, causal after", prefix),
            Check("the prefix LM built on your mask behaves", model_uses_it)]
