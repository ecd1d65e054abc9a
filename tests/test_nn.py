"""Every layer of minitrans.nn against an independent numpy re-computation; the kernels against
autodiff and numpy; the memory settings that importing minitrans makes."""

import math
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from minitrans import kernels, nn
from minitrans.exercises import numpy_reference as ref


def f32(x):
    return jnp.asarray(x, jnp.float32)


@pytest.mark.parametrize("use_bias", [True, False])
def test_dense_matches_numpy(rng, use_bias):
    layer = nn.Dense(5, 3, use_bias=use_bias, rngs=nnx.Rngs(0))
    if use_bias:
        layer.bias[...] = f32(rng.normal(size=3))
    x = rng.normal(size=(2, 4, 5))
    kernel = np.asarray(layer.kernel[...], np.float64)
    expected = x @ kernel + (np.asarray(layer.bias[...]) if use_bias else 0)
    np.testing.assert_allclose(layer(f32(x)), expected, atol=1e-5)
    assert (layer.bias is None) == (not use_bias)


def test_embedding_lookup_and_attend(rng):
    layer = nn.Embedding(7, 4, rngs=nnx.Rngs(0))
    table = np.asarray(layer.embedding[...])
    ids = np.array([[0, 6, 3], [2, 2, 1]])
    np.testing.assert_array_equal(layer(jnp.asarray(ids)), table[ids])
    h = rng.normal(size=(2, 4))
    np.testing.assert_allclose(layer.attend(f32(h)), h @ table.T, atol=1e-5)


def test_embedding_rejects_ids_outside_the_table():
    layer = nn.Embedding(7, 4, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"id 7 is outside the embedding table of 7 rows"):
        layer(jnp.array([1, 7]))
    with pytest.raises(ValueError, match=r"id -1"):
        layer(jnp.array([-1, 2]))
    with pytest.raises(TypeError, match="integer ids"):
        layer(jnp.array([1.0]))


def test_layer_norm_matches_numpy(rng):
    layer = nn.LayerNorm(6, eps=1e-5)
    layer.scale[...] = f32(rng.normal(size=6))
    layer.bias[...] = f32(rng.normal(size=6))
    x = rng.normal(size=(3, 2, 6)) * 4 + 2
    mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * np.asarray(layer.scale[...]) + np.asarray(layer.bias[...])
    np.testing.assert_allclose(layer(f32(x)), expected, atol=1e-4)


def test_rms_norm_matches_numpy_and_has_no_mean_or_bias(rng):
    layer = nn.RMSNorm(6, eps=1e-6)
    layer.scale[...] = f32(rng.normal(size=6))
    x = rng.normal(size=(3, 6)) + 3.0
    expected = x / np.sqrt((x ** 2).mean(-1, keepdims=True) + 1e-6) * np.asarray(layer.scale[...])
    np.testing.assert_allclose(layer(f32(x)), expected, atol=1e-5)
    assert set(nnx.state(layer, nnx.Param).keys()) == {"scale"}


def test_activations_match_numpy(rng):
    from scipy.special import erf
    x = rng.normal(size=(50,)) * 3
    np.testing.assert_allclose(nn.relu(f32(x)), np.maximum(x, 0), atol=1e-6)
    np.testing.assert_allclose(nn.gelu(f32(x)), 0.5 * x * (1 + erf(x / math.sqrt(2))), atol=1e-5)
    tanh_gelu = 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    np.testing.assert_allclose(nn.gelu_tanh(f32(x)), tanh_gelu, atol=1e-5)
    np.testing.assert_allclose(nn.silu(f32(x)), x / (1 + np.exp(-x)), atol=1e-5)
    # exact and tanh GELU differ, slightly: the test can tell them apart
    assert np.abs(np.asarray(nn.gelu(f32(x))) - tanh_gelu).max() > 1e-5


def test_gated_activation_splits_features(rng):
    x = rng.normal(size=(2, 8))
    a, b = x[:, :4], x[:, 4:]
    np.testing.assert_allclose(nn.Activation("gated-gelu")(f32(x)), ref.gelu_tanh(a) * b, atol=1e-5)  # T5 v1.1
    np.testing.assert_allclose(nn.Activation("gated-relu")(f32(x)), np.maximum(a, 0) * b, atol=1e-6)
    with pytest.raises(ValueError, match="unknown activation 'swishy'; expected one of"):
        nn.Activation("swishy")


def test_dropout_is_identity_in_eval_and_built_in_eval():
    layer = nn.Dropout(0.5, rngs=nnx.Rngs(0))
    x = jnp.ones((4, 100))
    np.testing.assert_array_equal(layer(x), x)  # built in eval mode
    layer.train()
    assert not np.array_equal(layer(x), x)
    layer.eval()
    np.testing.assert_array_equal(layer(x), x)


@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_dropout_keeps_the_right_fraction_and_rescales(rate):
    layer = nn.Dropout(rate, rngs=nnx.Rngs(dropout=3))
    layer.train()
    y = np.asarray(layer(jnp.ones((200, 500))))
    kept = y != 0
    assert abs(kept.mean() - (1 - rate)) < 0.01  # 100,000 draws: std ~0.0016
    np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
    # two calls draw different masks: the RNG stream advances
    assert not np.array_equal(np.asarray(layer(jnp.ones((200, 500)))) != 0, kept)


def test_dropout_shared_axes_share_one_draw():
    layer = nn.Dropout(0.5, shared_axes=(1,), rngs=nnx.Rngs(0))
    layer.train()
    y = np.asarray(layer(jnp.ones((8, 10, 16))))
    # the same features are dropped at every position of an example
    assert all(np.array_equal(y[b, 0] == 0, y[b, t] == 0) for b in range(8) for t in range(10))
    assert 0.3 < (y == 0).mean() < 0.7


@pytest.mark.parametrize("rate", [-0.1, 1.0, 1.5])
def test_dropout_rejects_rates_outside_unit_interval(rate):
    with pytest.raises(ValueError, match=r"Dropout rate must be a number in \[0, 1\)"):
        nn.Dropout(rate)


def test_dropout_without_rngs_in_train_mode_says_what_to_do():
    layer = nn.Dropout(0.5)
    layer.train()
    with pytest.raises(ValueError, match="built without rngs"):
        layer(jnp.ones(3))


def test_serial_and_residual_compose(rng):
    rngs = nnx.Rngs(0)
    first, second = nn.Dense(4, 6, rngs=rngs), nn.Dense(6, 4, rngs=rngs)
    x = rng.normal(size=(3, 4))
    serial = nn.Serial(first, nn.Activation("relu"), second)
    expected = ref.dense(np.maximum(ref.dense(x, first), 0), second)
    np.testing.assert_allclose(serial(f32(x)), expected, atol=1e-5)
    residual = nn.Residual(first, nn.Activation("relu"), second)
    np.testing.assert_allclose(residual(f32(x)), x + expected, atol=1e-5)
    norm = nn.LayerNorm(4)
    post = nn.Residual(first, nn.Activation("relu"), second, post_norm=norm)
    np.testing.assert_allclose(post(f32(x)), ref.layer_norm(x + expected, norm), atol=1e-4)


def test_serial_prints_like_the_course():
    rngs = nnx.Rngs(0)
    model = nn.Serial(nn.Dense(4, 16, rngs=rngs), nn.Activation("relu"), nn.Dense(16, 4, rngs=rngs))
    assert str(model) == "Serial[\n  Dense_16\n  Relu\n  Dense_4\n]"
    assert repr(model) == str(model)
    nested = nn.Residual(nn.LayerNorm(4), model)
    assert str(nested).splitlines() == ["Residual[", "  LayerNorm", "  Serial[", "    Dense_16",
                                        "    Relu", "    Dense_4", "  ]", "]"]


@pytest.mark.parametrize("use_bias,scaled", [(True, True), (False, False)])
def test_self_attention_matches_numpy(rng, use_bias, scaled):
    layer = nn.MultiHeadAttention(8, 2, use_bias=use_bias, scaled=scaled, rngs=nnx.Rngs(0))
    if use_bias:
        for dense in (layer.query, layer.key, layer.value, layer.output):
            dense.bias[...] = f32(rng.normal(size=dense.bias.shape))
    x = rng.normal(size=(2, 5, 8))
    mask = np.tril(np.ones((5, 5), bool))[None, None]
    out, weights = layer(f32(x), mask=jnp.asarray(mask), return_weights=True)
    want_out, want_w = ref.multi_head_attention(x, layer, mask=mask)
    np.testing.assert_allclose(out, want_out, atol=1e-4)
    np.testing.assert_allclose(weights, want_w, atol=1e-5)
    assert np.all(np.asarray(weights)[..., ~mask[0, 0]] == 0.0)


def test_cross_attention_with_head_dim_and_position_bias(rng):
    layer = nn.MultiHeadAttention(6, 3, head_dim=4, use_bias=False, scaled=False, rngs=nnx.Rngs(1))
    x, context = rng.normal(size=(2, 3, 6)), rng.normal(size=(2, 7, 6))
    bias = rng.normal(size=(1, 3, 3, 7))
    out = layer(f32(x), f32(context), position_bias=f32(bias))
    np.testing.assert_allclose(out, ref.multi_head_attention(x, layer, context=context, bias=bias)[0],
                               atol=1e-4)
    assert layer.query.kernel.shape == (6, 12)


def test_beam_search_caches_attend_along_each_beams_history(rng):
    # With init_cache(..., beams) no key or value moves when a beam continues another row's
    # beam: `ancestors` points each row at the rows that wrote its history. Every step must
    # equal full attention (numpy) over the inputs along that row's history.
    batch, beams, length, width, heads = 2, 3, 8, 3, 2
    rows = batch * beams
    layer = nn.MultiHeadAttention(8, heads, use_bias=False, scaled=False, rngs=nnx.Rngs(2))
    cross = nn.MultiHeadAttention(8, heads, use_bias=False, scaled=False, rngs=nnx.Rngs(3))
    context = rng.normal(size=(batch, 5, 8))
    layer.init_cache(batch, length, beams)
    cross.init_static_cache(f32(context), beams)  # one per example, shared by its beams
    real = np.ones((rows, length), bool)
    real[beams:2 * beams, 0] = False  # the second example's prompt is left-padded
    cross_real = np.ones((rows, 5), bool)
    cross_real[:beams, 3:] = False
    history = rng.normal(size=(rows, width, 8))  # the prompt, the same in every beam of an example
    history[:] = np.repeat(history[::beams], beams, axis=0)
    x = history
    for position in range(width, length + 1):
        if position > width:  # each row continues a beam of its own example
            origin = (rng.integers(0, beams, (batch, beams)) + beams * np.arange(batch)[:, None]).reshape(-1)
            layer.reorder_cache(jnp.asarray(origin))
            x = rng.normal(size=(rows, 1, 8))
            history = np.concatenate([history[origin], x], axis=1)
        new = x.shape[1]
        keys = np.arange(length)[None, None, None]
        mask = (keys <= np.arange(position - new, position)[None, None, :, None]) & real[:, None, None]
        bias = rng.normal(size=(rows, heads, new, length))
        out = layer(f32(x), mask=jnp.asarray(mask), position_bias=f32(bias))
        across = cross(f32(x), mask=jnp.asarray(cross_real[:, None, None]))
        for row in range(rows):
            seen = np.zeros((1, heads, position, position))
            seen[:, :, -new:] = bias[row, :, :, :position]
            full, _ = ref.multi_head_attention(history[row][None], layer, mask=mask[row:row + 1, :, :, :position]
                                               if new == 1 else np.tril(np.ones((position, position), bool))
                                               & real[row, :position], bias=seen)
            np.testing.assert_allclose(out[row], full[0, -new:], atol=1e-4)
            want, _ = ref.multi_head_attention(x[row][None], cross, context=context[row // beams][None],
                                               mask=cross_real[row][None, None, None])
            np.testing.assert_allclose(across[row], want[0], atol=1e-4)


def test_attention_rejects_bad_shapes():
    layer = nn.MultiHeadAttention(8, 2, rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match=r"expects x of shape \(batch, seq, d_model=8\), got \(2, 5, 7\)"):
        layer(jnp.ones((2, 5, 7)))
    with pytest.raises(ValueError, match=r"mask has shape \(2, 1, 5, 4\); expected \(batch, 1, query, key\) = \(2, 1, 5, 5\)"):
        layer(jnp.ones((2, 5, 8)), mask=jnp.ones((2, 1, 5, 4), bool))
    with pytest.raises(ValueError, match=r"mask has shape \(5, 5\); expected 4 axes"):
        layer(jnp.ones((2, 5, 8)), mask=jnp.ones((5, 5), bool))
    with pytest.raises(TypeError, match="mask must be boolean"):
        layer(jnp.ones((2, 5, 8)), mask=jnp.ones((2, 1, 5, 5)))
    with pytest.raises(ValueError, match="d_model=10 is not divisible by num_heads=3"):
        nn.MultiHeadAttention(10, 3, rngs=nnx.Rngs(0))


def test_dense_and_norms_reject_wrong_last_dimension():
    with pytest.raises(ValueError, match=r"Dense expects inputs whose last dimension is 5, got shape \(2, 4\)"):
        nn.Dense(5, 3, rngs=nnx.Rngs(0))(jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"LayerNorm expects inputs whose last dimension is 6"):
        nn.LayerNorm(6)(jnp.ones((2, 4)))
    with pytest.raises(ValueError, match=r"RMSNorm expects inputs whose last dimension is 6"):
        nn.RMSNorm(6)(jnp.ones((2, 4)))


def test_sinusoidal_positions_match_the_paper_formula():
    layer = nn.SinusoidalPositionalEmbedding(50, 6)
    x = np.zeros((1, 10, 6))
    got = np.asarray(layer(f32(x)))[0]
    for pos in (0, 3, 9):
        for i in range(3):
            angle = pos / 10000 ** (2 * i / 6)
            assert got[pos, 2 * i] == pytest.approx(math.sin(angle), abs=1e-6)
            assert got[pos, 2 * i + 1] == pytest.approx(math.cos(angle), abs=1e-6)
    with pytest.raises(ValueError, match="input has 51 positions, max_length is 50"):
        layer(jnp.zeros((1, 51, 6)))


def test_learned_positions_add_one_vector_per_position(rng):
    layer = nn.LearnedPositionalEmbedding(8, 4, rngs=nnx.Rngs(0))
    x = rng.normal(size=(2, 5, 4))
    table = np.asarray(layer.table.embedding[...])
    np.testing.assert_allclose(layer(f32(x)), x + table[:5][None], atol=1e-6)
    with pytest.raises(ValueError, match="input has 9 positions, max_length is 8"):
        layer(jnp.zeros((1, 9, 4)))


@pytest.mark.slow
def test_gradients_are_finite_and_jit_agrees(rng):
    layer = nn.MultiHeadAttention(8, 2, rngs=nnx.Rngs(0))
    x = f32(rng.normal(size=(2, 4, 8)))
    mask = jnp.asarray(np.array([[1, 1, 1, 0], [0, 0, 0, 0]], bool))[:, None, None, :]  # one empty row set

    def loss(module, x):
        return (module(x, mask=mask) ** 2).sum()

    grads = nnx.grad(loss)(layer, x)
    leaves = jax.tree.leaves(grads)
    assert leaves and all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert any(np.abs(np.asarray(g)).sum() > 0 for g in leaves)
    graphdef, state = nnx.split(layer)
    jitted = jax.jit(lambda s, x: nnx.merge(graphdef, s)(x, mask=mask))(state, x)
    np.testing.assert_allclose(jitted, layer(x, mask=mask), atol=1e-6)
    assert np.isfinite(np.asarray(jitted)).all()


# ----------------------------------------------------------------- hand-written backward passes


@pytest.mark.parametrize("shape", [(3, 5, 4, 9), (7, 9, 4), (2, 3, 6, 6)])
@pytest.mark.slow
def test_linear_gradients_equal_autodiff_of_the_matmul(shape):
    """nn.linear's hand-written backward (it orders x^T g for the CPU) against jax.grad of x @ w,
    for a widening, a narrowing and a square kernel, with a cotangent that is not all ones."""
    *lead, d_in, d_out = shape
    kx, kw, kg = jax.random.split(jax.random.key(0), 3)
    x = jax.random.normal(kx, (*lead, d_in))
    w = jax.random.normal(kw, (d_in, d_out))
    probe = jax.random.normal(kg, (*lead, d_out))
    ours = jax.grad(lambda x, w: (nn.linear(x, w) * probe).sum(), argnums=(0, 1))(x, w)
    theirs = jax.grad(lambda x, w: ((x @ w) * probe).sum(), argnums=(0, 1))(x, w)
    np.testing.assert_allclose(nn.linear(x, w), x @ w, rtol=1e-6)
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    # and numpy: dW = sum over positions of x_i^T g_i
    x2, g2 = np.asarray(x).reshape(-1, d_in), np.asarray(probe).reshape(-1, d_out)
    np.testing.assert_allclose(ours[1], x2.T @ g2, rtol=1e-5, atol=1e-5)


def bfloat16_rounded(x) -> np.ndarray:
    """x rounded to bfloat16 (8 bits of mantissa), then held exactly in float64."""
    return np.asarray(jnp.asarray(x, jnp.bfloat16).astype(jnp.float32), np.float64)


@pytest.mark.parametrize("shape", [(3, 5, 16, 40), (7, 40, 16)])
@pytest.mark.slow
def test_linear_under_bfloat16_precision_multiplies_rounded_operands_and_sums_in_float32(shape):
    """Inside jax.default_matmul_precision("bfloat16") nn.linear's forward product and dx take
    bfloat16 operands and sum in float32: each equals the float64 product of the operands
    rounded to bfloat16, within float32 rounding, and differs from the float32 product by the
    rounding of its operands; dW stays a float32 product. Outside the setting, the same jitted
    function is float32 again."""
    *lead, d_in, d_out = shape
    kx, kw, kg = jax.random.split(jax.random.key(1), 3)
    x = jax.random.normal(kx, (*lead, d_in))
    w = jax.random.normal(kw, (d_in, d_out))
    probe = jax.random.normal(kg, (*lead, d_out))

    @jax.jit
    def value_and_grads(x, w):
        return jax.value_and_grad(lambda x, w: (nn.linear(x, w) * probe).sum(), argnums=(0, 1))(x, w), nn.linear(x, w)

    with jax.default_matmul_precision("bfloat16"):
        (_, (dx, dw)), y = value_and_grads(x, w)
    x64, w64, g64 = (np.asarray(a, np.float64) for a in (x, w, probe))
    xb, wb, gb = bfloat16_rounded(x), bfloat16_rounded(w), bfloat16_rounded(probe)
    for ours, exact, full in ((y, xb @ wb, x64 @ w64), (dx, gb @ wb.T, g64 @ w64.T)):
        assert ours.dtype == jnp.float32
        np.testing.assert_allclose(ours, exact, rtol=1e-5, atol=1e-4)
        assert np.abs(np.asarray(ours) - full).max() > 1e-3  # the operands' rounding shows: about 2^-9 relative
    np.testing.assert_allclose(dw, x64.reshape(-1, d_in).T @ g64.reshape(-1, d_out), rtol=1e-5, atol=1e-4)
    (_, (dx32, _)), y32 = value_and_grads(x, w)  # the setting is part of jit's cache key
    np.testing.assert_allclose(y32, x64 @ w64, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dx32, g64 @ w64.T, rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_cross_entropy_gradient_is_softmax_minus_onehot_and_equals_autodiff():
    from minitrans.losses import accuracy, cross_entropy
    kl, kw = jax.random.split(jax.random.key(1))
    logits = 3 * jax.random.normal(kl, (4, 6, 11))
    labels = jax.random.randint(kw, (4, 6), 0, 11)
    weights = (jnp.arange(6) < 4)[None].repeat(4, 0)

    def autodiff(logits):
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), labels[..., None], -1)[..., 0]
        return (nll * weights).sum() / weights.sum()

    np.testing.assert_allclose(cross_entropy(logits, labels, weights), autodiff(logits), rtol=1e-6)
    ours = jax.grad(lambda z: cross_entropy(z, labels, weights))(logits)
    np.testing.assert_allclose(ours, jax.grad(autodiff)(logits), rtol=1e-5, atol=1e-7)
    z = np.asarray(logits, np.float64)
    softmax = np.exp(z - z.max(-1, keepdims=True))
    softmax /= softmax.sum(-1, keepdims=True)
    expected = (softmax - np.eye(11)[np.asarray(labels)]) * np.asarray(weights)[..., None] / 16
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-7)
    # large logits stay finite; accuracy is argmax == label
    assert np.isfinite(cross_entropy(logits * 1e4, labels))
    np.testing.assert_allclose(accuracy(logits, labels),
                               (np.asarray(logits).argmax(-1) == np.asarray(labels)).mean())


def test_keep_mask_rate_and_independence_of_the_two_halves():
    keep = np.asarray(nn.keep_mask(jax.random.key(3), (400, 501), 0.1))
    assert keep.shape == (400, 501) and keep.dtype == bool
    assert abs(keep.mean() - 0.9) < 0.003  # 200,400 draws: std 0.0007
    flat = keep.reshape(-1)[:-2]  # an even count: whole words
    low, high = flat[0::2], flat[1::2]  # the two halves of each 32-bit word
    assert abs(np.corrcoef(low, high)[0, 1]) < 0.01


def test_keep_mask_draws_look_independent_across_positions_and_keys():
    """The mask's words are a hash of their position: neighbouring words, rows, and the masks of
    neighbouring keys must be unrelated, and each 16-bit draw uniform (a plain counter, or a
    hash without the seeds, fails these)."""
    from scipy import stats
    key = jax.random.key(11)
    keep = np.asarray(nn.keep_mask(key, (512, 1000), 0.5)).astype(float)  # 512,000 draws: std of a correlation 0.0014
    for a, b in [(keep[:, :-2], keep[:, 2:]),  # the next word
                 (keep[:-1], keep[1:]),  # the next row
                 (keep[:, :-256], keep[:, 256:])]:  # 128 words on
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 0.007
    masks = [np.asarray(nn.keep_mask(k, (512, 1000), 0.5)).astype(float).ravel()
             for k in (*jax.random.split(key, 2), jax.random.fold_in(key, 7), jax.random.key(12))]
    for i in range(len(masks)):
        for j in range(i):
            assert abs(np.corrcoef(masks[i], masks[j])[0, 1]) < 0.007
        assert abs(np.corrcoef(masks[i], keep.ravel())[0, 1]) < 0.007
    # each 16-bit draw is uniform: the rates at 64 thresholds give the counts of 64 bins, 1,024 values wide
    draws = np.stack([np.asarray(nn.keep_mask(key, (200_000,), t / 65536)) for t in range(0, 65536, 1024)])
    counts = -np.diff(np.concatenate([draws.sum(1), [0]]))  # draws in each 1,024-wide bin
    assert stats.chisquare(counts).pvalue > 1e-4


@pytest.mark.parametrize("rows, n, k", [(8, 128512, 8), (32, 32128, 1), (2, 100001, 20), (3, 5000, 4)])
@pytest.mark.slow
def test_top_k_by_blocks_equals_numpy(rows, n, k):
    from minitrans.kernels import top_k
    rng = np.random.default_rng(n)
    x = rng.standard_normal((rows, n)).astype(np.float32)
    x[:, n // 3:] = np.round(x[:, n // 3:], 1)  # ties: the lower index first
    x[0, 7:] = -np.inf  # a row with fewer finite entries than k in some cases
    values, indices = top_k(jnp.asarray(x), k)
    order = np.lexsort((np.arange(n)[None].repeat(rows, 0), -x), axis=-1)[:, :k]  # by value, then index
    np.testing.assert_array_equal(np.asarray(indices), order)
    np.testing.assert_array_equal(np.asarray(values), np.take_along_axis(x, order, axis=1))


@pytest.mark.parametrize("shape", [(1, 1), (7, 3), (16, 16), (33, 17), (384, 1536), (2, 5, 7)])
def test_initialisers_are_flaxs_bit_for_bit(shape):
    """kernels.normal / lecun_normal cut a power-of-two draw to the shape: the same numbers as
    nnx.initializers' draw at the shape, eagerly, inside jit and in another dtype."""
    key = jax.random.key(11)
    for stddev in (1.0, 0.02, 0.13):
        np.testing.assert_array_equal(kernels.normal(stddev)(key, shape), nnx.initializers.normal(stddev)(key, shape))
    np.testing.assert_array_equal(kernels.lecun_normal()(key, shape), nnx.initializers.lecun_normal()(key, shape))
    traced = jax.jit(lambda k: kernels.lecun_normal()(k, shape))(key)
    np.testing.assert_array_equal(traced, nnx.initializers.lecun_normal()(key, shape))
    half = kernels.normal(0.02)(key, shape, jnp.bfloat16)
    assert half.dtype == jnp.bfloat16
    np.testing.assert_array_equal(half, nnx.initializers.normal(0.02)(key, shape, jnp.bfloat16))


def test_initialisers_compile_one_draw_for_every_size_up_to_a_power_of_two():
    compiled = []

    def count(event, seconds, **info):
        if event == "/jax/core/compile/backend_compile_duration" and "normal" in info.get("fun_name", ""):
            compiled.append(info["fun_name"])

    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        for shape in [(3, 41), (41, 3), (100, 1), (127,)]:  # 123 to 127 numbers: one draw of 128
            kernels.normal(0.5)(jax.random.key(5), shape)
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert len(compiled) <= 1, compiled



def test_compiled_call_is_the_eager_call_as_one_program_per_shape():
    from minitrans.models.t5 import T5Config, T5ForConditionalGeneration
    model = T5ForConditionalGeneration(T5Config.tiny(vocab_size=30), rngs=nnx.Rngs(3))
    ids, mask = np.array([[3, 4, 5, 1], [6, 7, 8, 1]]), np.array([[1, 1, 1, 1], [1, 1, 0, 0]])  # not ids != pad
    programs = []

    def count(event, seconds, **info):
        if event == "/jax/core/compile/backend_compile_duration":
            programs.append(info.get("fun_name"))

    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        got = kernels.compiled_call(model, ids, attention_mask=mask, method="encode")  # a method, a keyword
        kernels.compiled_call(model, ids + 1, attention_mask=mask, method="encode")  # the same shapes: no new program
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert programs == ["jit(_call)"], programs
    want = model.encode(ids, mask)  # eagerly
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert not np.allclose(want[1], model.encode(ids, mask * 0 + 1)[1], atol=1e-3)  # the mask counts


def test_compiled_call_without_library_fusions_is_another_program_with_the_same_numbers():
    from minitrans.models.bert import BertConfig, BertModel
    model = BertModel(BertConfig.tiny(vocab_size=40), rngs=nnx.Rngs(4))
    ids = np.tile(np.arange(3, 35).reshape(2, 16), (8, 1))  # (16, 16): a large enough batch to fuse
    mask = np.ones_like(ids)
    mask[::2, 12:] = 0
    fused = kernels.compiled_call(model, ids, None, mask).last_hidden_state
    plain = kernels.compiled_call(model, ids, None, mask, library_fusions=False).last_hidden_state
    np.testing.assert_allclose(plain, model(ids, None, mask).last_hidden_state, atol=1e-5)
    np.testing.assert_allclose(plain, fused, atol=1e-5)
    graphdef, state = nnx.split(model)

    def program(library_fusions):  # the optimised HLO compiled_call runs
        lowered = kernels._compiled(library_fusions).lower(graphdef, "__call__", state, (ids, None, mask), {})
        return lowered.compile().as_text()

    assert "__ynn_fusion" in program(True)  # XLA:CPU fuses products into YNNPACK subgraphs by default
    assert "__ynn_fusion" not in program(False)  # and not here: XLA's own kernels only


def test_batch_broadcast_gradient_is_the_sum_over_the_batch():
    from minitrans.kernels import batch_broadcast
    rng = np.random.default_rng(5)
    x, w = f32(rng.standard_normal((1, 3, 5, 7))), f32(rng.standard_normal((4, 3, 5, 7)))
    out = batch_broadcast(x, 4)
    np.testing.assert_array_equal(out, np.broadcast_to(np.asarray(x), (4, 3, 5, 7)))
    grad = jax.jit(jax.grad(lambda x: (jnp.sin(batch_broadcast(x, 4)) * w).sum()))(x)
    expected = (np.cos(np.asarray(x)) * np.asarray(w)).sum(axis=0, keepdims=True)  # d/dx of sum_b sin(x) w_b
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("before, after", [
    (None, "--xla_cpu_enable_concurrency_optimized_scheduler=false"),
    ("--xla_force_host_platform_device_count=2",
     "--xla_force_host_platform_device_count=2 --xla_cpu_enable_concurrency_optimized_scheduler=false"),
    ("--xla_cpu_enable_concurrency_optimized_scheduler=true", "--xla_cpu_enable_concurrency_optimized_scheduler=true"),
])
def test_importing_minitrans_chooses_the_memory_ordered_scheduler_unless_the_user_chose(before, after):
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    if before is not None:
        env["XLA_FLAGS"] = before
    out = subprocess.run([sys.executable, "-c", "import os, minitrans; print(os.environ['XLA_FLAGS'])"],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == after


def test_a_long_compilation_hands_the_compilers_memory_back(monkeypatch):
    from minitrans import kernels

    calls = []
    monkeypatch.setattr(kernels, "_malloc_trim", calls.append)
    assert kernels.release_compiler_memory("/jax/core/compile/backend_compile_duration", 2.0)
    assert not kernels.release_compiler_memory("/jax/core/compile/backend_compile_duration", 0.01)
    assert not kernels.release_compiler_memory("/jax/some/other/event", 2.0)
    assert calls == [0]
    monkeypatch.setattr(kernels, "LONG_COMPILATION_S", 0.0)  # now every compilation counts
    jax.jit(lambda x: jnp.tanh(x) * 3.25 + 0.5)(np.ones(7, np.float32)).block_until_ready()  # a new program
    assert calls == [0, 0]  # the listener is registered with jax.monitoring and ran for it
