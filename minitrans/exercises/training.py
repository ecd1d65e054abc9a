"""Graded checks for the training-toolkit exercises: mixing rates and freezing by path."""

import numpy as np
from flax import nnx

from minitrans.exercises import Check, CheckFailed, exercise, expect_close, expect_equal

TOPIC = "transfer learning"
SIZES = {"glue": 1_000, "squad": 10_000, "c4": 1_000_000}


@exercise("mixing_rates", "minitrans.training.mixing", topic=TOPIC, hint="""
    "equal": 1 / M for every task. Otherwise cap each size at `limit` (when given), divide by the
    sum: that is examples-proportional. "temperature": raise those rates to the power
    1 / temperature and divide by their sum again. Raise ValueError for an empty task, an
    unknown strategy or a temperature <= 0.
    """)
def mixing_checks():
    capped = np.array([1_000, 10_000, 50_000.0])

    def proportional(f):
        got = f(SIZES, "proportional", limit=50_000)
        expect_close("examples-proportional rates with K = 50,000", list(got.values()), capped / capped.sum())

    def temperature(f):
        want = (capped / capped.sum()) ** 0.5
        got = f(SIZES, "temperature", limit=50_000, temperature=2.0)
        expect_close("temperature-scaled rates (T = 2)", list(got.values()), want / want.sum())

    def equal(f):
        expect_close("equal rates", list(f(SIZES, "equal").values()), [1 / 3] * 3)

    def errors(f):
        for bad in (lambda: f({"a": 0, "b": 4}), lambda: f(SIZES, "temperature", temperature=0)):
            try:
                bad()
            except ValueError:
                continue
            raise CheckFailed("expected ValueError for an empty task and for temperature <= 0")

    return [Check("examples-proportional with the limit K", proportional),
            Check("temperature scaling", temperature), Check("equal mixing", equal),
            Check("bad input raises ValueError", errors)]


@exercise("trainable_mask", "minitrans.training.transfer", topic=TOPIC, hint="""
    nnx.to_flat_state(params) gives (path, variable) pairs; join each path with "/" and mark it
    True when fnmatch.fnmatchcase(path, pattern) holds for any pattern. Rebuild a State of the
    same shape with nnx.from_flat_state([(path, variable.replace(np.asarray(flag))), ...]).
    """)
def mask_checks():
    def params():
        from minitrans.models.bert import BertConfig, BertForQuestionAnswering
        config = BertConfig(vocab_size=30, hidden_size=8, num_hidden_layers=2, num_attention_heads=2,
                            intermediate_size=16, max_position_embeddings=8)
        return nnx.state(BertForQuestionAnswering(config, rngs=nnx.Rngs(0)), nnx.Param)

    def flags(mask):
        return {"/".join(map(str, p)): bool(np.asarray(v[...])) for p, v in nnx.to_flat_state(mask)}

    def head_only(f):
        got = flags(f(params(), ["*qa_outputs*"]))
        expect_equal("trainable paths for ['*qa_outputs*']", sorted(k for k, v in got.items() if v),
                     ["qa_outputs/bias", "qa_outputs/kernel"])

    def norms(f):
        got = flags(f(params(), ["*norm*"]))
        want = sorted(k for k in got if "norm" in k)
        expect_equal("trainable paths for ['*norm*']", sorted(k for k, v in got.items() if v), want)

    def same_shape(f):
        p = params()
        mask = f(p, ["*"])
        expect_equal("number of entries in the mask", len(nnx.to_flat_state(mask)), len(nnx.to_flat_state(p)))
        if not all(flags(mask).values()):
            raise CheckFailed("the pattern '*' must make every parameter trainable")

    return [Check("the head only (feature-based transfer)", head_only),
            Check("every norm", norms), Check("the mask has the parameters' shape", same_shape)]


@exercise("warmup_schedule", "minitrans.training.step", topic=TOPIC, hint="""
    Return an optax schedule (a function step -> learning rate). Warm-up: from 0 at step 0 up
    to learning_rate at step warmup_steps, in a straight line (optax.linear_schedule). Then
    over the remaining total_steps - warmup_steps steps: "linear" goes down to 0
    (optax.linear_schedule), "cosine" follows optax.cosine_decay_schedule, "constant" stays.
    optax.join_schedules([warmup, decay], [warmup_steps]) glues the two; with no warm-up,
    return the decay alone.
    """)
def warmup_checks():
    peak, total, warmup = 1e-3, 100, 10

    def values(f, schedule, w=warmup):
        return [float(f(peak, total, w, schedule)(step)) for step in range(total + 1)]

    def expected_linear():
        return [peak * step / warmup if step < warmup else peak * (1 - (step - warmup) / (total - warmup))
                for step in range(total + 1)]

    def linear(f):
        expect_close("linear warm-up then linear decay, steps 0..100", values(f, "linear"), expected_linear(),
                     atol=1e-9)

    def cosine(f):
        want = [peak * step / warmup if step < warmup else
                peak * 0.5 * (1 + np.cos(np.pi * (step - warmup) / (total - warmup))) for step in range(total + 1)]
        expect_close("linear warm-up then cosine decay", values(f, "cosine"), want, atol=1e-9)

    def constant_and_no_warmup(f):
        want = [peak * step / warmup if step < warmup else peak for step in range(total + 1)]
        expect_close("linear warm-up then constant", values(f, "constant"), want, atol=1e-9)
        expect_close("no warm-up: linear decay from the first step", values(f, "linear", 0),
                     [peak * (1 - step / total) for step in range(total + 1)], atol=1e-9)

    return [Check("linear warm-up, linear decay to 0", linear), Check("cosine decay", cosine),
            Check("constant after warm-up, and no warm-up at all", constant_and_no_warmup)]


@exercise("Adapter", "minitrans.training.transfer", topic=TOPIC, hint="""
    __init__: self.down = Dense(d_model, size, rngs=rngs) and self.up = Dense(size, d_model,
    kernel_init=nnx.initializers.zeros, rngs=rngs). __call__: the residual bottleneck
    h + up(relu(down(h))). With `up` starting at zero, the adapter is the identity at first,
    so adding it does not disturb the pre-trained network.
    """)
def adapter_checks():
    from minitrans.exercises import numpy_reference as ref

    def build(cls):
        return cls(12, 4, rngs=nnx.Rngs(0))

    def randomised(cls):
        adapter = build(cls)
        rng = np.random.default_rng(1)
        for layer in (adapter.down, adapter.up):
            layer.kernel[...] = rng.normal(size=layer.kernel.shape).astype(np.float32)
            layer.bias[...] = rng.normal(size=layer.bias.shape).astype(np.float32)
        return adapter

    def output(cls):
        adapter = randomised(cls)
        h = np.random.default_rng(2).normal(size=(2, 5, 12)).astype(np.float32)
        want = h + ref.dense(np.maximum(ref.dense(h.astype(np.float64), adapter.down), 0), adapter.up)
        expect_close("h + up(relu(down(h))) against numpy", adapter(h), want, atol=1e-4)

    def identity_at_first(cls):
        h = np.random.default_rng(3).normal(size=(2, 5, 12)).astype(np.float32)
        expect_close("a new adapter's output (it must start as the identity)", build(cls)(h), h)

    def sizes(cls):
        adapter = build(cls)
        expect_equal("down kernel shape (d_model, size)", adapter.down.kernel.shape, (12, 4))
        expect_equal("up kernel shape (size, d_model)", adapter.up.kernel.shape, (4, 12))
        count = sum(np.size(v) for v in jax_leaves(nnx.state(adapter, nnx.Param)))
        expect_equal("parameters: 2 * d_model * size + size + d_model", count, 2 * 12 * 4 + 4 + 12)

    return [Check("the bottleneck with its residual", output), Check("starts as the identity", identity_at_first),
            Check("shapes and parameter count", sizes)]


def jax_leaves(tree):
    import jax
    return jax.tree.leaves(tree)
