"""Data pipelines that scale: streaming text larger than memory, seeded shuffling of a stream,
packing token streams into fixed-length blocks for language modelling, and bucketing by length.

    lines = stream_lines("books/")                          # lazily, file after file, .gz too
    ids = (tokenizer.encode(line) for line in shuffle_buffer(lines, 10_000, seed=0))
    for block in pack(ids, length=128, eos_id=1):           # (128,) int32 arrays, no padding
        ...

Everything here is a generator: memory stays bounded by the chunk, buffer and block sizes,
whatever the size of the files.
"""

import gzip
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np


def text_files(path: str | Path) -> list[Path]:
    """A file, or the .txt/.gz files of a folder in name order."""
    path = Path(path)
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in (".txt", ".gz"))
        if not files:
            raise FileNotFoundError(f"{path} holds no .txt or .gz files")
        return files
    if not path.is_file():
        raise FileNotFoundError(f"no text file or folder at {path}")
    return [path]


def stream_lines(path: str | Path, chunk_chars: int = 1 << 20, skip_empty: bool = True) -> Iterator[str]:
    """The lines of a text file (or .gz, or a folder of them), read `chunk_chars` at a time."""
    for file in text_files(path):
        opener = gzip.open if file.suffix == ".gz" else open
        with opener(file, "rt", encoding="utf-8", errors="replace") as f:
            tail = ""
            while chunk := f.read(chunk_chars):
                lines = (tail + chunk).split("\n")
                tail = lines.pop()  # may be the start of a line the next chunk finishes
                for line in lines:
                    if line.strip() or not skip_empty:
                        yield line
            if tail.strip() or (tail and not skip_empty):
                yield tail


def shuffle_buffer(items: Iterable, buffer_size: int, seed: int = 0) -> Iterator:
    """A seeded shuffle of a stream too large to hold: keep `buffer_size` items, emit a random
    one each time a new one arrives (the same order for the same seed)."""
    if buffer_size < 1:
        raise ValueError(f"buffer_size must be at least 1, got {buffer_size}")
    rng = np.random.default_rng(seed)
    buffer = []
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        i = int(rng.integers(buffer_size))
        yield buffer[i]
        buffer[i] = item
    rng.shuffle(buffer)
    yield from buffer


def pack(sequences: Iterable[list[int]], length: int, eos_id: int | None = None) -> Iterator[np.ndarray]:
    """Concatenate token sequences (each followed by `eos_id`) and cut the stream into blocks of
    exactly `length` tokens: no padding, no wasted compute; a sequence may continue into the
    next block. The final partial block is dropped."""
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    buffer: list[int] = []
    for sequence in sequences:
        buffer.extend(sequence)
        if eos_id is not None:
            buffer.append(eos_id)
        while len(buffer) >= length:
            yield np.array(buffer[:length], np.int32)
            del buffer[:length]


def batched(items: Iterable, batch_size: int) -> Iterator[list]:
    """Lists of `batch_size` consecutive items (the last, shorter one is dropped)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == batch_size:
            yield batch
            batch = []


def length_grouped_order(lengths, batch_size: int, rng: np.random.Generator, chunk_batches: int = 50) -> np.ndarray:
    """Bucketing by length: shuffle, cut into chunks of `chunk_batches` batches, sort each chunk
    by length (longest first), cut into batches and shuffle the batches. Batches then hold
    examples of similar length (little padding) in a random order; only whole batches are kept."""
    if batch_size < 1 or len(lengths) < batch_size:
        raise ValueError(f"need at least batch_size={batch_size} examples, got {len(lengths)}")
    lengths = np.asarray(lengths)
    order = rng.permutation(len(lengths))
    size = chunk_batches * batch_size
    order = np.concatenate([chunk[np.argsort(-lengths[chunk], kind="stable")]
                            for chunk in (order[i:i + size] for i in range(0, len(order), size))])
    whole = len(order) // batch_size
    batches = order[:whole * batch_size].reshape(whole, batch_size)
    return batches[rng.permutation(whole)].reshape(-1)


def pad_rows(rows, length: int | None = None, value: int = 0) -> np.ndarray:
    """Rows of ids (lists or 1-D arrays) as one (rows, length) int32 array: each padded with
    `value` (or cut) to `length`, by default the longest row's."""
    length = max((len(r) for r in rows), default=0) if length is None else length
    out = np.full((len(rows), length), value, np.int32)
    for i, row in enumerate(rows):
        row = np.asarray(row)[:length]
        out[i, :len(row)] = row
    return out


def pad_batch(features: list[dict], multiple: int = 64, keys=("start_positions", "end_positions")) -> dict:
    """The collate of variable-length features: input_ids/token_type_ids padded to the longest in
    the batch, rounded up to `multiple` (few distinct shapes: few compilations), with the
    attention mask; the label `keys` stacked (int32, or float32 for real-valued labels)."""
    length = max(len(f["input_ids"]) for f in features)
    length = -(-length // multiple) * multiple
    batch = {"input_ids": pad_rows([f["input_ids"] for f in features], length),
             "token_type_ids": pad_rows([f.get("token_type_ids", ()) for f in features], length),
             "attention_mask": pad_rows([np.ones(len(f["input_ids"])) for f in features], length)}
    for key in keys:
        if key in features[0]:
            values = np.array([f[key] for f in features])  # class ids stay whole, scores stay real
            batch[key] = values.astype(np.int32 if values.dtype.kind in "biu" else np.float32)
    return batch
