"""Graded checks for the foundation exercises: attention, masks and the encoder blocks."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from minitrans.exercises import Check, CheckFailed, exercise, expect_close, expect_equal, next_keep
from minitrans.exercises import numpy_reference as ref
from minitrans.nn import Dropout


def qkv(seed: int = 0, batch: int = 2, heads: int = 2, query: int = 3, key: int = 4, d: int = 5):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(batch, heads, query, d)), rng.normal(size=(batch, heads, key, d)),
            rng.normal(size=(batch, heads, key, d)))


def as_jax(*arrays):
    return [jnp.asarray(a, jnp.float32) for a in arrays]


def pair(result, what: str):
    if not (isinstance(result, tuple) and len(result) == 2):
        raise CheckFailed(f"{what}: expected a tuple (output, weights), got {type(result).__name__}")
    return result


# --------------------------------------------------------------------------- attention


@exercise("scaled_dot_product_attention", "minitrans.nn", topic="the transformer encoder", hint="""
    scores = q k^T, over the last axis of both: jnp.einsum("bhqd,bhkd->bhqk", q, k).
    Divide by sqrt(d_head) when `scaled`; add `bias` when given.
    Where the mask is False put a huge negative number (jnp.finfo(dtype).min) before the softmax,
    and after it set those weights to exactly 0 (jnp.where) so fully masked rows give zeros.
    Apply `dropout` to the weights if given, then output = weights @ v.
    """)
def attention_checks():
    def plain(f):
        q, k, v = qkv(0)
        out, weights = pair(f(*as_jax(q, k, v)), "f(q, k, v)")
        want_out, want_w = ref.attention(q, k, v)
        expect_close("attention weights", weights, want_w)
        expect_close("output", out, want_out)

    def unscaled(f):
        q, k, v = qkv(1)
        out, _ = pair(f(*as_jax(q, k, v), scaled=False), "f(q, k, v, scaled=False)")
        expect_close("output with scaled=False", out, ref.attention(q, k, v, scaled=False)[0])

    def masked(f):
        q, k, v = qkv(2, query=4, key=4)
        mask = np.tril(np.ones((4, 4), bool))[None, None]
        out, weights = pair(f(*as_jax(q, k, v), mask=jnp.asarray(mask)), "f(q, k, v, mask=causal)")
        want_out, want_w = ref.attention(q, k, v, mask=mask)
        expect_equal("weights at masked (future) positions", np.asarray(weights)[..., ~mask[0, 0]],
                     np.zeros_like(want_w[..., ~mask[0, 0]]))
        expect_close("weights with a causal mask", weights, want_w)
        expect_close("output with a causal mask", out, want_out)

    def with_bias(f):
        q, k, v = qkv(3)
        bias = np.random.default_rng(4).normal(size=(1, 2, 3, 4))
        out, _ = pair(f(*as_jax(q, k, v, bias)[:3], bias=jnp.asarray(bias, jnp.float32)), "f(..., bias=)")
        expect_close("output with an additive bias", out, ref.attention(q, k, v, bias=bias)[0])

    def fully_masked(f):
        q, k, v = qkv(5)
        mask = np.ones((2, 1, 3, 4), bool)
        mask[1, :, 2, :] = False  # example 1, query 2 may attend to nothing
        out, weights = pair(f(*as_jax(q, k, v), mask=jnp.asarray(mask)), "f(..., mask=)")
        expect_equal("weights of a query that may attend to nothing", np.asarray(weights)[1, :, 2],
                     np.zeros((2, 4)))
        expect_close("output of that query (zeros, never NaN)", np.asarray(out)[1, :, 2], np.zeros((2, 5)))
        expect_close("output of the other queries", out, ref.attention(q, k, v, mask=mask)[0])

    def under_jit(f):
        q, k, v = qkv(6)
        out, _ = jax.jit(lambda a, b, c: f(a, b, c))(*as_jax(q, k, v))
        expect_close("output under jax.jit", out, ref.attention(q, k, v)[0])

    def with_dropout(f):
        q, k, v = qkv(7)
        keep = np.random.default_rng(8).random((2, 2, 3, 4)) > 0.3  # a fixed dropout mask of the weights

        def dropout(weights):
            return jnp.where(keep, weights / 0.7, 0.0)

        out, _ = pair(f(*as_jax(q, k, v), dropout=dropout), "f(q, k, v, dropout=...)")
        expect_close("output when `dropout` drops attention weights", out,
                     np.matmul(ref.dropped(ref.attention(q, k, v)[1], (keep, 0.7)), v))

    return [Check("softmax(q k^T / sqrt(d)) v and the weights, no mask", plain),
            Check("scaled=False skips the 1/sqrt(d) factor", unscaled),
            Check("masked keys get exactly zero weight (causal mask)", masked),
            Check("an additive bias is added to the scores", with_bias),
            Check("a fully masked row gives zero weights and no NaN", fully_masked),
            Check("works under jax.jit", under_jit),
            Check("`dropout` is applied to the attention weights", with_dropout)]


# --------------------------------------------------------------------------- masks


@exercise("causal_mask", "minitrans.masks", topic="the transformer encoder", hint="""
    Query i may see key j when j <= i: compare jnp.arange(key_length)[None, :] with
    jnp.arange(query_length)[:, None] + (key_length - query_length).
    Return booleans of shape (1, 1, query_length, key_length).
    """)
def causal_mask_checks():
    def square(f):
        m = f(5)
        expect_equal("causal_mask(5)", np.asarray(m), np.tril(np.ones((5, 5), bool))[None, None])

    def dtype(f):
        m = f(3)
        if np.asarray(m).dtype != np.bool_:
            raise CheckFailed(f"expected a boolean mask (True = may attend), got dtype {np.asarray(m).dtype}")

    def with_cache(f):
        m = f(2, 5)  # the last 2 of 5 positions are the queries
        want = np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], bool)[None, None]
        expect_equal("causal_mask(2, 5) (queries are positions 3 and 4)", np.asarray(m), want)

    def length_one(f):
        expect_equal("causal_mask(1)", np.asarray(f(1)), np.ones((1, 1, 1, 1), bool))

    return [Check("causal_mask(5) is lower triangular, shape (1, 1, 5, 5)", square),
            Check("the mask is boolean", dtype),
            Check("causal_mask(2, 5): queries are the last positions", with_cache),
            Check("causal_mask(1) lets the only position see itself", length_one)]


def prefix_lm_numpy(prefixes, length):
    mask = np.zeros((len(prefixes), 1, length, length), bool)
    for b, prefix in enumerate(prefixes):
        for i in range(length):
            for j in range(length):
                mask[b, 0, i, j] = j <= i or j < prefix
    return mask


@exercise("prefix_lm_mask", "minitrans.masks", topic="the transformer encoder", hint="""
    Key j is visible to query i when j <= i (causal) OR j < prefix_length (inside the prefix).
    Broadcast jnp.arange(length) as query (1, length, 1) and key (1, 1, length) against
    prefix_lengths[:, None, None], then add the heads axis: result[:, None].
    """)
def prefix_lm_checks():
    def mixed(f):
        prefixes = [2, 0, 5]
        expect_equal("prefix_lm_mask([2, 0, 5], 5)", np.asarray(f(jnp.array(prefixes), 5)),
                     prefix_lm_numpy(prefixes, 5))

    def zero_is_causal(f):
        expect_equal("prefix length 0 (should be causal)", np.asarray(f(jnp.array([0]), 4)),
                     np.tril(np.ones((4, 4), bool))[None, None])

    def full_is_visible(f):
        expect_equal("prefix length = length (should be fully visible)",
                     np.asarray(f(jnp.array([4]), 4)), np.ones((1, 1, 4, 4), bool))

    def under_jit(f):
        got = jax.jit(lambda p: f(p, 6))(jnp.array([3, 1]))
        expect_equal("prefix_lm_mask under jax.jit", np.asarray(got), prefix_lm_numpy([3, 1], 6))

    return [Check("each example uses its own prefix length", mixed),
            Check("prefix length 0 is the causal mask", zero_is_causal),
            Check("prefix length = length is fully visible", full_is_visible),
            Check("works under jax.jit", under_jit)]


# --------------------------------------------------------------------------- blocks


def layer_names(block) -> list[str]:
    return [str(layer).splitlines()[0] for layer in getattr(block, "layers", [])]


def block_keeps(block, prefix: str, shape: tuple, heads: int, rate: float, attention_rate: float, d_ff: int) -> dict:
    """Every dropout mask a pre-LN EncoderBlock (at `prefix` of its model) draws on its next call."""
    batch, seq, _ = shape
    keeps = {"residual": next_keep(block, prefix + "layers.0.body.layers.2", shape, rate),
             "middle": next_keep(block, prefix + "layers.1.body.layers.0.layers.3", (batch, seq, d_ff), rate),
             "output": next_keep(block, prefix + "layers.1.body.layers.0.layers.5", shape, rate)}
    if attention_rate:
        keeps["attention"] = next_keep(block, prefix + "layers.0.body.layers.1.dropout", (batch, heads, seq, seq),
                                       attention_rate)
    return keeps


@exercise("FeedForwardBlock", "minitrans.models.encoder", topic="the transformer encoder", hint="""
    Pre-LN (the course): super().__init__(LayerNorm, Dense(d_model -> d_ff), Activation(activation),
    Dropout, Dense(d_ff -> d_model), Dropout).
    Post-LN (BERT): super().__init__(Dense, Activation, Dense, Dropout), no LayerNorm and no middle
    dropout (the norm comes after the residual). Make the first Dense 2*d_ff wide when the
    activation is gated (Activation(...).is_gated). Call check_norm_position(norm_position) first.
    """)
def feed_forward_checks():
    x = np.random.default_rng(0).normal(size=(2, 3, 8))

    def build(cls, **kw):
        return cls(8, 16, dropout_rate=0.5, rngs=nnx.Rngs(params=0, dropout=1), **kw)

    def structure(cls):
        expect_equal("layers of FeedForwardBlock(8, 16) (pre-LN)", layer_names(build(cls)),
                     ["LayerNorm", "Dense_16", "Relu", "Dropout", "Dense_8", "Dropout"])

    def values(cls):
        block = build(cls)
        expect_close("output in eval mode", block(jnp.asarray(x, jnp.float32)),
                     ref.feed_forward_block(x, block, norm_position="pre", activation="relu"), atol=1e-4)

    def post(cls):
        block = build(cls, norm_position="post", activation="gelu")
        expect_equal("layers of the post-LN block", layer_names(block),
                     ["Dense_16", "Gelu", "Dense_8", "Dropout"])
        expect_close("post-LN output", block(jnp.asarray(x, jnp.float32)),
                     ref.feed_forward_block(x, block, norm_position="post", activation="gelu"), atol=1e-4)

    def gated_width(cls):
        block = build(cls, activation="gated-gelu")
        expect_close("gated-gelu output", block(jnp.asarray(x, jnp.float32)),
                     ref.feed_forward_block(x, block, norm_position="pre", activation="gated-gelu"), atol=1e-4)

    def dropout_in_train(cls):
        block = build(cls)
        block.train()
        keep = {"middle": next_keep(block, "layers.3", (2, 3, 16), 0.5),
                "output": next_keep(block, "layers.5", (2, 3, 8), 0.5)}
        expect_close("output in train mode (dropout 0.5 after the activation and at the end)",
                     block(jnp.asarray(x, jnp.float32)), ref.feed_forward_block(x, block, keep=keep), atol=1e-4)
        block.eval()
        expect_close("output after .eval()", block(jnp.asarray(x, jnp.float32)), ref.feed_forward_block(x, block),
                     atol=1e-4)

    return [Check("the course's layer list: LayerNorm, Dense, Relu, Dropout, Dense, Dropout", structure),
            Check("values match a numpy re-computation", values),
            Check("norm_position='post' gives BERT's [Dense, Gelu, Dense, Dropout]", post),
            Check("a gated activation doubles the first Dense", gated_width),
            Check("dropout is on in train mode, where the course puts it, and off in eval mode", dropout_in_train)]


@exercise("EncoderBlock", "minitrans.models.encoder", topic="the transformer encoder", hint="""
    Build attention = MultiHeadAttention(d_model, num_heads, head_dim=head_dim,
    dropout_rate=attention_dropout_rate, ...),
    a Dropout and a FeedForwardBlock (pass norm_position on).
    Pre-LN: super().__init__(Residual(LayerNorm, attention, dropout), Residual(feed_forward)).
    Post-LN: Residual(attention, dropout, post_norm=LayerNorm(...)) and
    Residual(feed_forward, post_norm=LayerNorm(...)).
    """)
def encoder_block_checks():
    x = np.random.default_rng(1).normal(size=(2, 4, 8))
    lengths = np.array([4, 2])
    key_mask = (np.arange(4)[None] < lengths[:, None])[:, None, None, :]  # (2, 1, 1, 4)

    def build(cls, **kw):
        return cls(8, 16, 2, dropout_rate=0.1, rngs=nnx.Rngs(params=0, dropout=1), **kw)

    def structure(cls):
        block = build(cls)
        names = [name.split("[")[0] for name in layer_names(block)]
        expect_equal("the two parts of EncoderBlock", names, ["Residual", "Residual"])
        expect_equal("layers inside the attention residual", layer_names(block.layers[0].body),
                     ["LayerNorm", "MultiHeadAttention_2heads", "Dropout"])
        expect_equal("layers inside the feed-forward residual", layer_names(block.layers[1].body),
                     ["FeedForwardBlock["])

    def values(cls):
        block = build(cls)
        expect_close("pre-LN output, no mask", block(jnp.asarray(x, jnp.float32)),
                     ref.encoder_block(x, block, num_heads=2), atol=1e-4)

    def masked(cls):
        block = build(cls)
        got = block(jnp.asarray(x, jnp.float32), mask=jnp.asarray(key_mask))
        expect_close("pre-LN output with a padding mask", got, ref.encoder_block(x, block, key_mask, num_heads=2),
                     atol=1e-4)

    def post(cls):
        block = build(cls, norm_position="post", activation="gelu", layer_norm_eps=1e-12)
        expect_equal("the post-LN (BERT) block's listing", str(block).splitlines(),
                     ["EncoderBlock[", "  Residual_then_norm[", "    MultiHeadAttention_2heads", "    Dropout",
                      "    LayerNorm", "  ]", "  Residual_then_norm[", "    FeedForwardBlock[", "      Dense_16",
                      "      Gelu", "      Dense_8", "      Dropout", "    ]", "    LayerNorm", "  ]", "]"])
        got = block(jnp.asarray(x, jnp.float32), mask=jnp.asarray(key_mask))
        expect_close("post-LN (BERT) output", got, ref.encoder_block(
            x, block, key_mask, num_heads=2, norm_position="post", activation="gelu", eps=1e-12), atol=1e-4)

    def head_size(cls):
        block = cls(8, 16, 3, head_dim=4, dropout_rate=0.1, rngs=nnx.Rngs(params=0, dropout=1))
        expect_equal("the query projection's shape (3 heads of 4 features from d_model 8)",
                     tuple(ref.part(block, "layers.0.body.layers.1", "MultiHeadAttention").query.kernel.shape), (8, 12))
        expect_close("output with 3 heads of 4 features", block(jnp.asarray(x, jnp.float32)),
                     ref.encoder_block(x, block, num_heads=3), atol=1e-4)

    def dropout_in_train(cls):
        block = cls(8, 16, 2, dropout_rate=0.2, attention_dropout_rate=0.3, rngs=nnx.Rngs(params=0, dropout=1))
        block.train()
        keep = block_keeps(block, "", x.shape, 2, 0.2, 0.3, 16)
        got = block(jnp.asarray(x, jnp.float32), mask=jnp.asarray(key_mask))
        expect_close("output in train mode (dropout 0.2, attention dropout 0.3)", got,
                     ref.encoder_block(x, block, key_mask, num_heads=2, keep=keep), atol=1e-4)

    return [Check("[Residual(LayerNorm, attention, Dropout), Residual(FeedForwardBlock)]", structure),
            Check("values match a numpy re-computation", values),
            Check("the mask reaches the attention", masked),
            Check("norm_position='post' gives the BERT block", post),
            Check("head_dim sets the head size when num_heads does not divide d_model (the course's 512 with 6 heads)",
                  head_size),
            Check("dropout (and attention dropout) act in train mode where the course puts them", dropout_in_train)]


@exercise("TransformerEncoder", "minitrans.models.encoder", topic="the transformer encoder", hint="""
    In __call__: default attention_mask = input_ids != 0; x = positions(dropout(embedding(ids)));
    x = blocks(x, mask=padding_mask(attention_mask)); x = norm(x); with self.pooling == "real"
    average x over the real positions only (multiply by the mask, sum over seq, divide by the
    count), with "all" over every position (x.mean(1), the course's way);
    return jax.nn.log_softmax(head(pooled), axis=-1).
    """)
def transformer_encoder_checks():
    ids = np.array([[5, 3, 9, 2, 7], [4, 8, 1, 0, 0]])

    def build(cls, dropout_rate=0.1, **options):
        return cls(12, n_classes=3, d_model=8, d_ff=16, n_layers=2, n_heads=2, dropout_rate=dropout_rate,
                   rngs=nnx.Rngs(params=0, dropout=1), **options)

    def values(cls):
        model = build(cls)
        expect_close("log-probabilities", model(jnp.asarray(ids)), ref.transformer_encoder(ids, model, num_heads=2),
                     atol=1e-4)

    def all_positions(cls):
        model = build(cls, pooling="all")
        expect_close("log-probabilities with pooling='all' (the mean over every position, pads included)",
                     model(jnp.asarray(ids)), ref.transformer_encoder(ids, model, num_heads=2, pool="all"), atol=1e-4)

    def probabilities(cls):
        out = np.asarray(build(cls)(jnp.asarray(ids)))
        expect_close("sum of exp(log-probabilities) per example", np.exp(out).sum(-1), np.ones(2))

    def padding_ignored(cls):
        model = build(cls)
        alone = model(jnp.asarray(ids[1:, :3]))
        expect_close("a padded example versus the same example without padding",
                     model(jnp.asarray(ids))[1:], alone, atol=1e-5)

    def under_jit(cls):
        model = build(cls)
        graphdef, state = nnx.split(model)
        out = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))(state, jnp.asarray(ids))
        expect_close("log-probabilities under jax.jit", out, ref.transformer_encoder(ids, model, num_heads=2),
                     atol=1e-4)

    def dropout_in_train(cls):
        model = build(cls, dropout_rate=0.3)
        for block in model.blocks.layers:  # dropout only on the embeddings: that is what is checked
            for _, module in nnx.iter_graph(block):
                if isinstance(module, Dropout):
                    module.rate = 0.0
        model.train()
        keep = next_keep(model, "dropout", (2, 5, 8), 0.3)
        expect_close("log-probabilities in train mode (dropout 0.3 on the token embeddings, before the positions)",
                     model(jnp.asarray(ids)), ref.transformer_encoder(ids, model, num_heads=2, embedding_keep=keep),
                     atol=1e-4)

    return [Check("values match a numpy re-computation", values),
            Check("outputs are log-probabilities", probabilities),
            Check("padding (id 0) does not change the result", padding_ignored),
            Check("pooling='all' averages over every position, as the course", all_positions),
            Check("works under jax.jit", under_jit),
            Check("dropout acts on the embeddings in train mode", dropout_in_train)]
