"""The course's blocks and encoder against numpy; pre-LN and post-LN from the same code."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import rows_for_16_kb
from flax import nnx

from minitrans.exercises import numpy_reference as ref
from minitrans.kernels import compiled_call
from minitrans.masks import padding_mask
from minitrans.models.encoder import EncoderBlock, FeedForwardBlock, TransformerEncoder


def f32(x):
    return jnp.asarray(x, jnp.float32)


@pytest.mark.parametrize("norm_position,activation", [("pre", "relu"), ("post", "gelu"), ("pre", "gated-gelu")])
@pytest.mark.slow
def test_feed_forward_block_matches_numpy(rng, norm_position, activation):
    block = FeedForwardBlock(8, 16, activation=activation, norm_position=norm_position, rngs=nnx.Rngs(0))
    x = rng.normal(size=(2, 3, 8))
    np.testing.assert_allclose(block(f32(x)), ref.feed_forward_block(x, block, norm_position=norm_position,
                                                                    activation=activation), atol=1e-4)


def test_feed_forward_block_is_the_course_listing():
    block = FeedForwardBlock(8, 16, rngs=nnx.Rngs(0))
    assert str(block).splitlines() == ["FeedForwardBlock[", "  LayerNorm", "  Dense_16", "  Relu",
                                       "  Dropout", "  Dense_8", "  Dropout", "]"]


@pytest.mark.parametrize("norm_position", ["pre", "post"])
@pytest.mark.slow
def test_encoder_block_matches_numpy_with_padding(rng, norm_position):
    block = EncoderBlock(8, 16, 2, norm_position=norm_position, activation="gelu", rngs=nnx.Rngs(0))
    x = rng.normal(size=(2, 5, 8))
    mask = padding_mask(np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]))
    want = ref.encoder_block(x, block, np.asarray(mask), num_heads=2, norm_position=norm_position, activation="gelu")
    np.testing.assert_allclose(block(f32(x), mask=mask), want, atol=1e-4)


def test_pre_and_post_ln_blocks_differ_only_in_where_the_norm_sits():
    pre = EncoderBlock(8, 16, 2, rngs=nnx.Rngs(0))
    post = EncoderBlock(8, 16, 2, norm_position="post", rngs=nnx.Rngs(0))
    assert str(pre).splitlines()[1:5] == ["  Residual[", "    LayerNorm", "    MultiHeadAttention_2heads", "    Dropout"]
    assert str(post).splitlines()[1:5] == ["  Residual_then_norm[", "    MultiHeadAttention_2heads", "    Dropout",
                                           "    LayerNorm"]
    count = lambda m: sum(x.size for x in jax.tree.leaves(nnx.state(m, nnx.Param)))
    assert count(pre) == count(post)  # the same parameters, arranged differently
    with pytest.raises(ValueError, match=r"norm_position must be one of \('pre', 'post'\), got 'middle'"):
        EncoderBlock(8, 16, 2, norm_position="middle", rngs=nnx.Rngs(0))


def small_encoder(**kw):
    return TransformerEncoder(30, n_classes=4, d_model=16, d_ff=32, n_layers=2, n_heads=4,
                              rngs=nnx.Rngs(params=0, dropout=1), **kw)


@pytest.mark.slow
def test_transformer_encoder_matches_numpy_and_ignores_padding():
    model = small_encoder()
    ids = np.array([[3, 7, 9, 11, 2], [5, 6, 0, 0, 0]])
    out = compiled_call(model, ids)
    np.testing.assert_allclose(out, ref.transformer_encoder(ids, model, num_heads=4), atol=1e-4)
    np.testing.assert_allclose(out[1:], compiled_call(model, ids[1:, :2]), atol=1e-5)
    np.testing.assert_allclose(np.exp(np.asarray(out)).sum(-1), 1.0, atol=1e-5)


def test_transformer_encoder_parameter_count_matches_the_formula():
    d, ff, vocab, classes, layers = 16, 32, 30, 4, 2
    attention = 4 * (d * d + d)
    block = attention + 2 * d + (d * ff + ff + ff * d + d) + 2 * d
    expected = vocab * d + layers * block + 2 * d + d * classes + classes
    assert sum(x.size for x in jax.tree.leaves(nnx.state(small_encoder(), nnx.Param))) == expected


@pytest.mark.slow
def test_train_and_eval_switch_dropout_everywhere():
    model = small_encoder(dropout_rate=0.3)
    ids = jnp.array([[3, 7, 9, 11, 2]])
    first = model(ids)
    np.testing.assert_array_equal(first, model(ids))  # built in eval mode: deterministic
    model.train()
    assert not np.allclose(model(ids), first)
    model.eval()
    np.testing.assert_array_equal(model(ids), first)


@pytest.mark.slow
def test_encoder_trains_under_one_jitted_step_with_finite_gradients():
    model = small_encoder(dropout_rate=0.1)
    model.train()
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    tx = optax.adam(1e-2)
    opt_state = tx.init(params)
    ids = jnp.asarray(rows_for_16_kb([[3, 7, 9, 11, 2], [5, 6, 0, 0, 0], [8, 8, 1, 2, 0], [4, 0, 0, 0, 0]], 16))
    labels = jnp.tile(jnp.array([0, 1, 2, 3]), len(ids) // 4)  # 52 rows, the four examples 13 times

    @jax.jit
    def step(params, rest, opt_state):
        model = nnx.merge(graphdef, params, rest)  # dropout's RNG counter advances at this level

        def loss_fn(model):
            return -jnp.take_along_axis(model(ids), labels[:, None], 1).mean()

        loss, grads = nnx.value_and_grad(loss_fn)(model)  # grads: the state of the nnx.Params
        _, params, rest = nnx.split(model, nnx.Param, ...)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), rest, opt_state, loss, grads

    losses = []
    for _ in range(30):
        params, rest, opt_state, loss, grads = step(params, rest, opt_state)
        assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
        losses.append(float(loss))
    assert losses[-1] < 0.5 * losses[0]  # it memorises four examples


def test_encoder_rejects_bad_input():
    model = small_encoder()
    with pytest.raises(ValueError, match=r"input_ids must have shape \(batch, seq\), got \(5,\)"):
        model(jnp.array([1, 2, 3, 4, 5]))
    with pytest.raises(ValueError, match="id 30 is outside the embedding table of 30 rows"):
        model(jnp.array([[1, 30]]))
    long = TransformerEncoder(30, n_classes=2, d_model=8, d_ff=8, n_layers=1, n_heads=2, max_len=4,
                              rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="input has 5 positions, max_length is 4"):
        long(jnp.ones((1, 5), jnp.int32))


@pytest.mark.slow
def test_the_course_graders_encoder_block_512_with_6_heads():
    """The course's grader builds EncoderBlock(d_model=512, d_ff=2048, n_heads=6): 6 does not
    divide 512, so the block asks for head_dim, and takes it."""
    import jax.numpy as jnp
    from flax import nnx

    from minitrans.models.encoder import EncoderBlock
    with pytest.raises(ValueError, match="d_model=512 is not divisible by num_heads=6.*pass head_dim"):
        EncoderBlock(512, 2048, 6, rngs=nnx.Rngs(0))
    block = EncoderBlock(512, 2048, 6, head_dim=85, dropout_rate=0.1, rngs=nnx.Rngs(0))
    block.eval()
    assert (block.attention.num_heads, block.attention.head_dim) == (6, 85)
    assert block.attention.query.kernel.shape == (512, 510) and block.attention.output.kernel.shape == (510, 512)
    assert block(jnp.ones((1, 3, 512))).shape == (1, 3, 512)


@pytest.mark.slow
def test_transformer_encoder_pooling_is_a_choice():
    import jax.numpy as jnp
    import numpy as np
    from flax import nnx

    from minitrans.exercises import numpy_reference as ref
    from minitrans.models.encoder import TransformerEncoder
    ids = np.array([[5, 3, 9, 0, 0]])
    models = {p: TransformerEncoder(12, 3, 8, 16, 1, 2, pooling=p, rngs=nnx.Rngs(0)) for p in ("real", "all")}
    for pooling, model in models.items():
        np.testing.assert_allclose(model(jnp.asarray(ids)), ref.transformer_encoder(ids, model, num_heads=2, pool=pooling),
                                   atol=1e-4)
        assert f"Mean({pooling} positions)" in repr(model)
    assert not np.allclose(models["real"](jnp.asarray(ids)), models["all"](jnp.asarray(ids)))
    with pytest.raises(ValueError, match="pooling must be 'real'.*or 'all'"):
        TransformerEncoder(12, pooling="mean", rngs=nnx.Rngs(0))
