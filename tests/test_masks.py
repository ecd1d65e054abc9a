"""The three attention patterns of the T5 paper, padding, and their use in attention."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from minitrans.exercises import numpy_reference as ref
from minitrans.masks import (
    causal_mask,
    combine_masks,
    cross_attention_mask,
    padding_mask,
    prefix_lm_mask,
    show_mask,
    show_masks_side_by_side,
)
from minitrans.nn import scaled_dot_product_attention


def loops_prefix_lm(prefixes, length):
    return np.array([[[[j <= i or j < p for j in range(length)] for i in range(length)]]
                     for p in prefixes])


def test_causal_mask_is_lower_triangular():
    for n in (1, 2, 7):
        m = np.asarray(causal_mask(n))
        assert m.shape == (1, 1, n, n) and m.dtype == bool
        np.testing.assert_array_equal(m[0, 0], np.tril(np.ones((n, n), bool)))


def test_causal_mask_for_cached_decoding_offsets_the_queries():
    m = np.asarray(causal_mask(1, 4))[0, 0]
    np.testing.assert_array_equal(m, [[True, True, True, True]])
    np.testing.assert_array_equal(np.asarray(causal_mask(3, 5))[0, 0], np.tril(np.ones((5, 5), bool))[2:])
    with pytest.raises(ValueError, match="query_length <= key_length"):
        causal_mask(5, 3)


@pytest.mark.parametrize("prefixes", [[0], [6], [0, 3, 6], [1, 5]])
def test_prefix_lm_mask_matches_the_definition(prefixes):
    m = np.asarray(prefix_lm_mask(jnp.array(prefixes), 6))
    assert m.shape == (len(prefixes), 1, 6, 6)
    np.testing.assert_array_equal(m, loops_prefix_lm(prefixes, 6))


def test_prefix_lm_mask_extremes_are_causal_and_fully_visible():
    np.testing.assert_array_equal(prefix_lm_mask(jnp.array([0]), 5), causal_mask(5))
    assert np.asarray(prefix_lm_mask(jnp.array([5]), 5)).all()
    # inside the prefix everything is visible, after it the future stays hidden
    m = np.asarray(prefix_lm_mask(jnp.array([2]), 5))[0, 0]
    assert m[0, 1] and not m[2, 3] and m[4, :].all()


def test_prefix_lm_mask_rejects_bad_prefixes():
    with pytest.raises(ValueError, match=r"prefix lengths must be in \[0, 4\]"):
        prefix_lm_mask(jnp.array([5]), 4)
    with pytest.raises(ValueError, match=r"prefix_lengths must have shape \(batch,\)"):
        prefix_lm_mask(jnp.array(2), 4)


def test_padding_and_cross_attention_masks_hide_pad_keys():
    am = np.array([[1, 1, 1, 0], [1, 0, 0, 0]])
    m = np.asarray(padding_mask(am))
    assert m.shape == (2, 1, 1, 4)
    np.testing.assert_array_equal(m[:, 0, 0], am.astype(bool))
    np.testing.assert_array_equal(cross_attention_mask(am), m)
    with pytest.raises(ValueError, match=r"attention_mask must have shape \(batch, seq\)"):
        padding_mask(np.ones(3))


def test_cached_causal_mask_shows_the_tokens_produced_so_far():
    from minitrans.masks import cached_causal_mask
    np.testing.assert_array_equal(cached_causal_mask(2, 1, 5)[0, 0, 0], [True, True, True, False, False])
    traced = jax.jit(cached_causal_mask, static_argnums=(1, 2))(jnp.asarray(0), 1, 3)
    np.testing.assert_array_equal(traced[0, 0, 0], [True, False, False])
    # a block of 3 new queries at positions 1, 2, 3 of a 5-position cache
    np.testing.assert_array_equal(cached_causal_mask(1, 3, 5)[0, 0], np.tril(np.ones((5, 5), bool))[1:4])
    # with a prefix of 4 (a prefix LM's prompt), the prompt is fully visible from the start
    np.testing.assert_array_equal(cached_causal_mask(0, 4, 6, jnp.array([4]))[0, 0],
                                  [[1, 1, 1, 1, 0, 0]] * 4)


def test_combine_masks_intersects_with_broadcasting():
    combined = np.asarray(combine_masks(padding_mask(np.array([[1, 1, 0]])), causal_mask(3), None))
    assert combined.shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(combined[0, 0], [[1, 0, 0], [1, 1, 0], [1, 1, 0]])
    assert combine_masks(None) is None
    with pytest.raises(ValueError, match=r"shape \(batch, 1, query, key\)"):
        combine_masks(np.ones((3, 3), bool))


def test_masked_positions_get_exactly_zero_weight_and_padded_rows_no_nan(rng):
    q, k, v = (jnp.asarray(rng.normal(size=(2, 2, 4, 3)), jnp.float32) for _ in range(3))
    pad = padding_mask(np.array([[1, 1, 1, 0], [0, 0, 0, 0]]))  # example 1 is all padding
    for mask in (combine_masks(pad, causal_mask(4)), combine_masks(pad, prefix_lm_mask(jnp.array([2, 0]), 4))):
        out, w = jax.jit(scaled_dot_product_attention)(q, k, v, mask)
        full = np.broadcast_to(np.asarray(mask), w.shape)
        assert np.all(np.asarray(w)[~full] == 0.0)
        assert np.isfinite(np.asarray(out)).all() and np.isfinite(np.asarray(w)).all()
        np.testing.assert_array_equal(np.asarray(out)[1], 0.0)
        want_out, want_w = ref.attention(np.asarray(q), np.asarray(k), np.asarray(v), np.asarray(mask))
        np.testing.assert_allclose(w, want_w, atol=1e-5)
        np.testing.assert_allclose(out, want_out, atol=1e-5)


def test_show_mask_draws_the_three_patterns():
    assert show_mask(causal_mask(3)) == "0 ■ · ·\n1 ■ ■ ·\n2 ■ ■ ■"
    assert show_mask(prefix_lm_mask(jnp.array([2]), 3), tokens=["a", "b", "c"]) == "a ■ ■ ·\nb ■ ■ ·\nc ■ ■ ■"
    text = show_masks_side_by_side({"causal": causal_mask(2), "full": np.ones((2, 2), bool)})
    assert text.splitlines() == ["causal    full", "0 ■ ·     0 ■ ■", "1 ■ ■     1 ■ ■"]
