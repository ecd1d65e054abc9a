"""Streaming, shuffling, packing and bucketing: every item arrives, once, in a seeded order."""

import gzip

import numpy as np
import pytest

from minitrans.datasets.streaming import batched, length_grouped_order, pack, shuffle_buffer, stream_lines


def test_stream_lines_reads_in_chunks_and_loses_nothing(tmp_path):
    rng = np.random.default_rng(0)
    lines = [" ".join(str(x) for x in rng.integers(0, 1000, size=rng.integers(1, 30))) for _ in range(3000)]
    text = "\n".join(lines) + "\n\n\nlast line without newline"
    (tmp_path / "a.txt").write_text(text)
    with gzip.open(tmp_path / "b.gz", "wt") as f:
        f.write(text)
    want = [line for line in text.split("\n") if line.strip()]
    assert list(stream_lines(tmp_path / "a.txt", chunk_chars=97)) == want  # lines cut across chunks
    assert list(stream_lines(tmp_path, chunk_chars=1000)) == want + want  # a folder: a.txt then b.gz
    with pytest.raises(FileNotFoundError, match="no text file"):
        next(stream_lines(tmp_path / "missing.txt"))


def test_stream_lines_is_lazy(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text("x\n" * 200_000)
    stream = stream_lines(path, chunk_chars=64)
    assert next(stream) == "x"  # without reading the whole file first
    assert stream.gi_frame.f_locals["f"].tell() < 1_000


def test_shuffle_buffer_is_a_seeded_permutation():
    items = list(range(1000))
    a = list(shuffle_buffer(iter(items), 100, seed=1))
    assert sorted(a) == items and a != items
    assert a == list(shuffle_buffer(iter(items), 100, seed=1))
    assert a != list(shuffle_buffer(iter(items), 100, seed=2))
    # items move at most about buffer_size earlier than their place
    assert max(items.index(x) - i for i, x in enumerate(a)) < 100 + 1
    with pytest.raises(ValueError):
        list(shuffle_buffer(items, 0))


def test_pack_cuts_the_stream_into_full_blocks():
    sequences = [[1, 2, 3], [4, 5], [6, 7, 8, 9, 10], [11]]
    blocks = list(pack(sequences, 4, eos_id=0))
    flat = [t for s in sequences for t in s + [0]]
    assert len(flat) == 15 and [b.tolist() for b in blocks] == [flat[0:4], flat[4:8], flat[8:12]]  # 3 tokens left over
    assert all(b.dtype == np.int32 for b in blocks)
    assert [b.tolist() for b in pack(sequences, 5)] == [[1, 2, 3, 4, 5], [6, 7, 8, 9, 10]]


def test_batched_and_length_grouped_order():
    assert list(batched(range(7), 3)) == [[0, 1, 2], [3, 4, 5]]
    rng = np.random.default_rng(0)
    lengths = rng.integers(10, 400, size=5000)
    order = length_grouped_order(lengths, 16, np.random.default_rng(1))
    assert len(order) == 5000 // 16 * 16 and len(set(order.tolist())) == len(order)
    batches = lengths[order].reshape(-1, 16)
    padded_grouped = (batches.max(1, keepdims=True) - batches).sum()
    random_batches = lengths[np.random.default_rng(1).permutation(5000)[:len(order)]].reshape(-1, 16)
    padded_random = (random_batches.max(1, keepdims=True) - random_batches).sum()
    assert padded_grouped < padded_random / 10  # bucketing wastes a tenth of the padding, or less
    assert not np.all(np.diff(batches[:, 0]) <= 0)  # the batches themselves come in random order
    assert np.array_equal(order, length_grouped_order(lengths, 16, np.random.default_rng(1)))
