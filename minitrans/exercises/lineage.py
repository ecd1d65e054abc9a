"""Graded checks for the road-to-BERT exercises: CBOW's window, an LSTM step, GPT's mask,
top-k sampling."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.exercises import Check, CheckFailed, exercise, expect_close, expect_equal
from minitrans.exercises import numpy_reference as ref

TOPIC = "the road to BERT"


@exercise("context_windows", "minitrans.models.cbow", topic=TOPIC, hint="""
    For every centre position i from C to len(words) - C - 1: the context is words[i - C:i] +
    words[i + 1:i + C + 1] and the centre is words[i]. Raise ValueError when C < 1 or the
    sentence is shorter than 2C + 1 words.
    """)
def window_checks():
    words = "i am happy because i am learning".split()

    def course_example(f):
        expect_equal("context_windows(['i', 'am', 'happy', ...], 2)[0]", list(f(words, 2)[0]),
                     [["i", "am", "because", "i"], "happy"])

    def all_windows(f):
        got = [(list(c), w) for c, w in f(words, 2)]
        want = [(["i", "am", "because", "i"], "happy"), (["am", "happy", "i", "am"], "because"),
                (["happy", "because", "am", "learning"], "i")]
        expect_equal("all windows with C=2", got, want)
        expect_equal("number of windows with C=1", len(f(words, 1)), 5)

    def too_short(f):
        try:
            f(["a", "b", "c"], 2)
        except ValueError:
            return
        raise CheckFailed("expected ValueError for a window of +-2 on a 3-word sentence")

    return [Check("the course's example: [i, am, because, i] -> happy", course_example),
            Check("every centre word with a full window", all_windows),
            Check("a window larger than the sentence is an error", too_short)]


def numpy_lstm_step(cell, h, c, x):
    z = ref.dense(np.concatenate([x, h], -1), cell.gates)
    i, f, g, o = np.split(z, 4, -1)
    sig = lambda v: 1 / (1 + np.exp(-v))
    c = sig(f) * c + sig(i) * np.tanh(g)
    return sig(o) * np.tanh(c), c


@exercise("LSTMCell", "minitrans.models.elmo", topic=TOPIC, hint="""
    h, c = carry; split self.gates(concat([x, h], -1)) into four along the last axis: i, f, g, o.
    c' = sigmoid(f) * c + sigmoid(i) * tanh(g); h' = sigmoid(o) * tanh(c'). Return (h', c').
    """)
def lstm_checks():
    rng = np.random.default_rng(0)
    x, h, c = rng.normal(size=(2, 3)), rng.normal(size=(2, 4)), rng.normal(size=(2, 4))

    def build(cls):
        cell = cls(3, 4, rngs=nnx.Rngs(0))
        cell.gates.bias[...] = jnp.asarray(rng.normal(size=16), jnp.float32)
        return cell

    def one_step(cls):
        cell = build(cls)
        got = cell((jnp.asarray(h, jnp.float32), jnp.asarray(c, jnp.float32)), jnp.asarray(x, jnp.float32))
        want_h, want_c = numpy_lstm_step(cell, h, c, x)
        if not (isinstance(got, tuple) and len(got) == 2):
            raise CheckFailed(f"expected the new (h, c), got {type(got).__name__}")
        expect_close("new cell state c", got[1], want_c, atol=1e-5)
        expect_close("new hidden state h", got[0], want_h, atol=1e-5)

    def three_steps(cls):
        cell = build(cls)
        state, want = (jnp.zeros((2, 4)), jnp.zeros((2, 4))), (np.zeros((2, 4)), np.zeros((2, 4)))
        for t in range(3):
            xt = rng.normal(size=(2, 3))
            state = cell(state, jnp.asarray(xt, jnp.float32))
            want = numpy_lstm_step(cell, want[0], want[1], xt)
        expect_close("h after three steps from zeros", state[0], want[0], atol=1e-5)

    def in_scan(cls):
        cell = build(cls)
        xs = rng.normal(size=(5, 2, 3))
        _, hs = jax.lax.scan(lambda carry, x: (cell(carry, x), cell(carry, x)[0]),
                             (jnp.zeros((2, 4)), jnp.zeros((2, 4))), jnp.asarray(xs, jnp.float32))
        want = (np.zeros((2, 4)), np.zeros((2, 4)))
        for t in range(5):
            want = numpy_lstm_step(cell, want[0], want[1], xs[t])
        expect_close("the last h of a jax.lax.scan over 5 steps", hs[-1], want[0], atol=1e-5)

    return [Check("one step matches the LSTM equations", one_step),
            Check("state carries over three steps", three_steps),
            Check("works inside jax.lax.scan", in_scan)]


@exercise("decoder_mask", "minitrans.models.gpt", topic=TOPIC, hint="""
    Use the mask functions: causal_mask(length) when causal, padding_mask(attention_mask) when an
    attention_mask is given, and combine_masks(...) to intersect them (it skips None).
    """)
def decoder_mask_checks():
    def causal(f):
        expect_equal("decoder_mask(None, 4)", np.asarray(f(None, 4)), np.tril(np.ones((4, 4), bool))[None, None])

    def with_padding(f):
        am = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
        want = np.tril(np.ones((4, 4), bool))[None, None] & am.astype(bool)[:, None, None, :]
        expect_equal("decoder_mask(attention_mask, 4)", np.asarray(f(jnp.asarray(am), 4)), want)

    def bidirectional(f):
        am = np.array([[1, 1, 0]])
        got = f(jnp.asarray(am), 3, causal=False)
        expect_equal("decoder_mask(attention_mask, 3, causal=False)",
                     np.broadcast_to(np.asarray(got), (1, 1, 3, 3)),
                     np.broadcast_to(am.astype(bool)[:, None, None, :], (1, 1, 3, 3)))

    def gpt_cannot_see_the_future(f):
        import minitrans.models.gpt as gpt
        original = gpt.decoder_mask
        gpt.decoder_mask = f
        try:
            model = gpt.GPT(gpt.GPT2Config(vocab_size=20, n_positions=8, n_embd=16, n_layer=1, n_head=2),
                            rngs=nnx.Rngs(0))
            a = np.asarray(model(jnp.array([[1, 2, 3, 4, 5]])).logits)
            b = np.asarray(model(jnp.array([[1, 2, 3, 9, 9]])).logits)
        finally:
            gpt.decoder_mask = original
        expect_close("GPT's scores at positions 0-2 when only later words change", b[0, :3], a[0, :3], atol=1e-5)

    return [Check("causal: position i sees positions <= i", causal),
            Check("causal and no padding keys", with_padding),
            Check("causal=False keeps only the padding part", bidirectional),
            Check("GPT with your mask cannot see the future", gpt_cannot_see_the_future)]


@exercise("sample_top_k", "minitrans.models.gpt", topic=TOPIC, hint="""
    Raise ValueError if temperature <= 0. Divide the logits by the temperature. With top_k, find
    the k-th largest score per row (jax.lax.top_k(logits, k)[0][..., -1:]) and set every score
    below it to -inf. Then jax.random.categorical(key, logits, axis=-1).
    """)
def top_k_checks():
    logits = jnp.asarray(np.log(np.array([[0.5, 0.3, 0.1, 0.05, 0.05]])), jnp.float32)

    def draws(f, n=4000, **kw):
        keys = jax.random.split(jax.random.key(0), n)
        return np.array([int(f(logits, k, **kw)[0]) for k in keys[:n]])

    def only_top_k(f):
        seen = set(draws(f, 400, top_k=2).tolist())
        if not seen <= {0, 1}:
            raise CheckFailed(f"with top_k=2 only tokens 0 and 1 may be drawn, got {sorted(seen)}")

    def renormalised(f):
        got = draws(f, 3000, top_k=2)
        rate = (got == 0).mean()
        if abs(rate - 0.625) > 0.04:
            raise CheckFailed(f"with top_k=2, token 0 should be drawn 0.5/0.8 = 62.5% of the time, got {rate:.1%}")

    def temperature(f):
        cold = (draws(f, 2000, temperature=0.25) == 0).mean()
        if cold < 0.85:
            raise CheckFailed(f"at temperature 0.25 the top token (p=0.5) should dominate (~88%), got {cold:.1%}")

    def bad_temperature(f):
        try:
            f(logits, jax.random.key(0), temperature=0.0)
        except ValueError:
            return
        raise CheckFailed("expected ValueError for temperature <= 0")

    return [Check("only the top k tokens can be drawn", only_top_k),
            Check("the kept tokens keep their relative probabilities", renormalised),
            Check("a low temperature sharpens the distribution", temperature),
            Check("temperature <= 0 is an error", bad_temperature)]
