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
