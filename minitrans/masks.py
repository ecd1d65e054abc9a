"""Attention masks: the only place in minitrans where masks are made.

The one convention: a mask is boolean, True = this query may attend to this key, with shape
`(batch, 1, query, key)`; the 1 is the heads axis, and size-1 batch or query axes broadcast.
`scaled_dot_product_attention` (minitrans.nn) is the only place a mask is applied.

The T5 paper (figure 3) draws three patterns, and they are all this file needs:
- fully visible: every position sees every (non-pad) position  -> `padding_mask`
- causal: position i sees positions <= i                        -> `causal_mask`
- causal with prefix: fully visible over the prefix, causal after -> `prefix_lm_mask`
`combine_masks` intersects them (a causal mask AND a padding mask, say) and `show_mask`
draws one as text. `cached_causal_mask` is the causal pattern for decoding with a cache.
"""

import jax.numpy as jnp
import numpy as np

from minitrans.nn import is_concrete


def padding_mask(attention_mask) -> jnp.ndarray:
    """(batch, key) with 1/True at real tokens and 0/False at padding -> (batch, 1, 1, key).

    Every query may look at every real token; the size-1 query axis broadcasts. Rows of
    padded queries are left visible (their outputs are ignored by the losses), as BERT does.
    """
    attention_mask = jnp.asarray(attention_mask)
    if attention_mask.ndim != 2:
        raise ValueError(f"attention_mask must have shape (batch, seq), got {tuple(attention_mask.shape)}")
    return attention_mask.astype(bool)[:, None, None, :]


def causal_mask(query_length: int, key_length: int | None = None) -> jnp.ndarray:
    """Lower-triangular mask of shape (1, 1, query_length, key_length): query i may attend to
    key j only when j <= i, so a decoder cannot look at the words it must predict.

    When key_length > query_length (decoding with a cache), the queries are the *last*
    query_length positions: query i sits at position key_length - query_length + i.
    """
    # BEGIN SOLUTION
    key_length = query_length if key_length is None else key_length
    if query_length < 0 or key_length < query_length:
        raise ValueError(f"causal_mask needs 0 <= query_length <= key_length, "
                         f"got query_length={query_length}, key_length={key_length}")
    offset = key_length - query_length
    query_positions = jnp.arange(query_length)[:, None] + offset  # (query, 1)
    key_positions = jnp.arange(key_length)[None, :]  # (1, key)
    return (key_positions <= query_positions)[None, None]  # (1, 1, query, key)
    # END SOLUTION


def prefix_lm_mask(prefix_lengths, length: int) -> jnp.ndarray:
    """The T5 paper's "causal with prefix" mask, shape (batch, 1, length, length).

    For example b with prefix length p: every position may attend to the whole prefix
    (keys j < p, fully visible), and to itself and earlier positions (keys j <= i, causal).
    p = 0 gives the causal mask; p = length gives the fully visible one.
    """
    # BEGIN SOLUTION
    prefix_lengths = jnp.asarray(prefix_lengths)
    if prefix_lengths.ndim != 1:
        raise ValueError(f"prefix_lengths must have shape (batch,), got {tuple(prefix_lengths.shape)}")
    if is_concrete(prefix_lengths) and prefix_lengths.size:
        values = np.asarray(prefix_lengths)
        if values.min() < 0 or values.max() > length:
            raise ValueError(f"prefix lengths must be in [0, {length}], got {values}")
    query = jnp.arange(length)[None, :, None]  # (1, query, 1)
    key = jnp.arange(length)[None, None, :]  # (1, 1, key)
    in_prefix = key < prefix_lengths[:, None, None]  # (batch, 1, key)
    return ((key <= query) | in_prefix)[:, None]  # (batch, 1, query, key)
    # END SOLUTION


def cached_causal_mask(offset, query_length: int, key_length: int, prefix_lengths=None) -> jnp.ndarray:
    """Decoding with a key/value cache of `key_length` positions: the `query_length` new queries
    sit at positions offset, offset + 1, ...; query i may attend to the keys at positions
    <= offset + i (those written so far, itself included), and with `prefix_lengths` (batch,)
    also to every key of the prefix (a prefix LM). `offset` may be traced, so one compiled step
    serves every position. Shape (1 or batch, 1, query_length, key_length)."""
    query = offset + jnp.arange(query_length)[:, None]  # (query, 1)
    key = jnp.arange(key_length)[None, :]  # (1, key)
    visible = (key <= query)[None, None]  # (1, 1, query, key)
    if prefix_lengths is not None:
        in_prefix = key[None] < jnp.asarray(prefix_lengths)[:, None, None]  # (batch, 1, key)
        visible = visible | in_prefix[:, None]
    return visible


def cross_attention_mask(encoder_attention_mask) -> jnp.ndarray:
    """Decoder queries attending to encoder keys: every decoder position may see every real
    encoder token. (batch, encoder_seq) -> (batch, 1, 1, encoder_seq)."""
    return padding_mask(encoder_attention_mask)


def combine_masks(*masks) -> jnp.ndarray | None:
    """Intersect masks (logical AND, broadcasting size-1 axes); `None` entries are skipped."""
    present = [jnp.asarray(m) for m in masks if m is not None]
    if not present:
        return None
    for m in present:
        if m.ndim != 4 or m.shape[1] != 1:
            raise ValueError(f"every mask must have shape (batch, 1, query, key), got {tuple(m.shape)}")
    result = present[0]
    for m in present[1:]:
        result = jnp.logical_and(result, m)
    return result


def show_mask(mask, tokens: list[str] | None = None, visible: str = "■", hidden: str = "·") -> str:
    """Draw one (query, key) mask as text: a row per query, `■` where it may attend.

    Accepts (query, key) or a full (batch, 1, query, key) mask (the first example is drawn).
    """
    grid = np.asarray(mask)
    while grid.ndim > 2:
        grid = grid[0]
    labels = tokens or [str(i) for i in range(grid.shape[-1])]
    width = max(len(label) for label in labels)
    rows = []
    for q in range(grid.shape[0]):
        label = labels[q] if grid.shape[0] == len(labels) else str(q)
        rows.append(f"{label:>{width}} " + " ".join(visible if v else hidden for v in grid[q]))
    return "\n".join(rows)


def show_masks_side_by_side(masks: dict[str, object], gap: int = 4) -> str:
    """Several `show_mask` drawings next to each other, each under its title."""
    blocks = []
    for title, mask in masks.items():
        lines = show_mask(mask).splitlines()
        width = max(len(title), *(len(line) for line in lines))
        blocks.append([title.ljust(width)] + [line.ljust(width) for line in lines])
    height = max(len(b) for b in blocks)
    blocks = [b + [" " * len(b[0])] * (height - len(b)) for b in blocks]
    return "\n".join((" " * gap).join(parts).rstrip() for parts in zip(*blocks))
