"""Graded checks for the T5 exercises: span corruption, relative position buckets, teacher
forcing, greedy decoding and the prefix-LM mask of a decoder-only T5."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.exercises import Check, CheckFailed, exercise, expect_equal
from minitrans.exercises import numpy_reference as ref
from minitrans.models.t5 import T5Config, T5ForConditionalGeneration

TOPIC = "T5"
SLIDE = "Thank you for inviting me to your party last week .".split()


@exercise("tokenize_and_mask", "minitrans.datasets.span_corruption", topic=TOPIC, hint="""
    Walk through the ids with sentinel = vocab_size. For each token draw randomizer() (or
    rng.random()); below `noise` the token is masked: if the previous token was not masked,
    sentinel -= 1 and append the sentinel to both inputs and targets; then append the token to
    targets. Otherwise append the token to inputs. At the end append sentinel - 1 to targets,
    then eos_id to both if it is given.
    """)
def tokenize_and_mask_checks():
    vocab = {w: i + 2 for i, w in enumerate(SLIDE)}
    names = {i: w for w, i in vocab.items()} | {99: "<X>", 98: "<Y>", 97: "<Z>", 1: "</s>"}
    ids = [vocab[w] for w in SLIDE]

    def show(seq):
        return " ".join(names.get(int(i), str(i)) for i in seq)

    def slide(f):
        draws = iter([0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9, 0.9, 0.1, 0.9, 0.9])
        inputs, targets = f(ids, vocab_size=100, randomizer=lambda: next(draws))
        expect_equal("inputs", show(inputs), "Thank you <X> me to your party <Y> week .")
        expect_equal("targets", show(targets), "<X> for inviting <Y> last <Z>")

    def eos(f):
        draws = iter([0.1] + [0.9] * 10)
        inputs, targets = f(ids, vocab_size=100, eos_id=1, randomizer=lambda: next(draws))
        expect_equal("inputs with eos_id=1", show(inputs), "<X> you for inviting me to your party last week . </s>")
        expect_equal("targets with eos_id=1", show(targets), "<X> Thank <Y> </s>")

    def rate(f):
        masked = sum(sum(1 for t in f(list(range(1000)), vocab_size=5000, rng=np.random.default_rng(s))[1] if t < 4000)
                     for s in range(5))
        if abs(masked / 5000 - 0.15) > 0.02:
            raise CheckFailed(f"{masked / 5000:.1%} of the tokens were masked; expected about 15% (noise=0.15)")

    return [Check("the slide: Thank you <X> me to your party <Y> week .", slide),
            Check("eos_id ends both sequences", eos),
            Check("about 15% of the tokens are masked", rate)]


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


@partial(jax.jit, static_argnums=0)
def compiled_encode(graphdef, state, input_ids, attention_mask):
    return T5ForConditionalGeneration.encode(nnx.merge(graphdef, state), input_ids, attention_mask)


@partial(jax.jit, static_argnums=0)
def compiled_decode(graphdef, state, decoder_input_ids, encoder_output, attention_mask):
    return T5ForConditionalGeneration.decode(nnx.merge(graphdef, state), decoder_input_ids, encoder_output,
                                             attention_mask)


class CompiledT5(T5ForConditionalGeneration):
    """The checks' T5: `encode` and `decode` compiled, one program per input shape kept for the
    whole run, so a greedy loop that calls them once per token runs in a fraction of the time
    it takes operation by operation. The same numbers as the plain model."""

    def encode(self, input_ids, attention_mask=None):
        input_ids = jnp.asarray(input_ids)
        attention_mask = (input_ids != self.config.pad_token_id) if attention_mask is None else attention_mask
        return compiled_encode(*nnx.split(self), input_ids, jnp.asarray(attention_mask))

    def decode(self, decoder_input_ids, encoder_output, attention_mask, decoder_attention_mask=None):
        if decoder_attention_mask is not None:
            return super().decode(decoder_input_ids, encoder_output, attention_mask, decoder_attention_mask)
        ids = jnp.asarray(decoder_input_ids)
        length = ids.shape[1]
        padded = jnp.pad(ids, ((0, 0), (0, -length % 16)))  # one program for lengths 1-16: the decoder
        logits = compiled_decode(*nnx.split(self), padded, encoder_output, jnp.asarray(attention_mask))
        return logits[:, :length]  # is causal, so the padding after the real positions changes nothing


def compiled(model: T5ForConditionalGeneration) -> CompiledT5:
    """`model` as a CompiledT5 (the same weights)."""
    fast = nnx.eval_shape(lambda: CompiledT5(model.config, rngs=nnx.Rngs(0)))
    nnx.update(fast, nnx.state(model))
    return fast


def tiny_t5() -> CompiledT5:
    """A tiny random T5 whose greedy output varies and, for one of the check's inputs, reaches
    EOS (its eos_token_id is a token that input produces at the third step)."""
    model = CompiledT5(T5Config.tiny(vocab_size=40, eos_token_id=20), rngs=nnx.Rngs(4))
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
