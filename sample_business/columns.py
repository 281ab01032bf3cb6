"""Vectorised builders for Arrow columns.

Why: the generator produces millions of ids, timestamps and money values per run; formatting them row by
row in Python would dominate the run time. These helpers build whole columns from numpy arrays in C
(fixed-width ASCII buffers handed to Arrow without copies, `take` from small vocabularies).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", dtype=np.uint8)
MONEY = pa.decimal128(12, 2)


def strings_from_chars(chars: np.ndarray) -> pa.StringArray:
    """An (n, width) uint8 array of ASCII codes -> a StringArray of n strings of `width` characters."""
    n, width = chars.shape
    if n * width >= 2**31:
        raise ValueError("column too large for one Arrow string array; generate in smaller chunks")
    offsets = np.arange(n + 1, dtype=np.int32) * np.int32(width)
    data = np.ascontiguousarray(chars, dtype=np.uint8)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(data))


def format_ids(prefix: str, numbers: np.ndarray, width: int = 12) -> pa.StringArray:
    """'<prefix><number zero-padded to width>' for every number, e.g. format_ids('evt_', [7], 4) -> 'evt_0007'."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    numbers = np.asarray(numbers, dtype=np.int64)
    if len(numbers) and (numbers.min() < 0 or numbers.max() >= 10**width):
        raise ValueError(f"ids for {prefix!r} do not fit in {width} digits")
    chars = np.empty((len(numbers), len(head) + width), dtype=np.uint8)
    chars[:, : len(head)] = head
    rest = numbers.copy()
    for position in range(len(head) + width - 1, len(head) - 1, -1):
        chars[:, position] = rest % 10 + 48
        rest //= 10
    return strings_from_chars(chars)


def random_hex(rng: np.random.Generator, n: int, length: int, prefix: str = "") -> pa.StringArray:
    """n random lowercase hex strings of `length` digits after `prefix` (device ids, push tokens)."""
    head = np.frombuffer(prefix.encode("ascii"), dtype=np.uint8)
    chars = np.empty((n, len(head) + length), dtype=np.uint8)
    chars[:, : len(head)] = head
    chars[:, len(head) :] = _HEX_DIGITS[rng.integers(0, 16, size=(n, length), dtype=np.uint8)]
    return strings_from_chars(chars)


def random_uuids(rng: np.random.Generator, n: int) -> pa.StringArray:
    """n random version-4 UUID strings (the shape web trackers use for anonymous ids)."""
    digits = _HEX_DIGITS[rng.integers(0, 16, size=(n, 32), dtype=np.uint8)]
    digits[:, 12] = ord("4")
    digits[:, 16] = _HEX_DIGITS[8 + rng.integers(0, 4, size=n)]
    chars = np.full((n, 36), ord("-"), dtype=np.uint8)
    for start, stop, source in ((0, 8, 0), (9, 13, 8), (14, 18, 12), (19, 23, 16), (24, 36, 20)):
        chars[:, start:stop] = digits[:, source : source + stop - start]
    return strings_from_chars(chars)


def vocab(values: Sequence[str]) -> pa.StringArray:
    return pa.array(list(values), type=pa.string())


def take(values: pa.Array, indices: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """values[indices] with nulls where null_mask is true (or where an index is negative)."""
    indices = np.asarray(indices)
    if null_mask is None and len(indices) and indices.min() < 0:
        null_mask = indices < 0
    if null_mask is not None:
        indices = np.where(null_mask, 0, indices)
    return values.take(pa.array(indices, mask=null_mask))


def with_nulls(values: pa.Array, null_mask: np.ndarray | None) -> pa.Array:
    if null_mask is None or not null_mask.any():
        return values
    return pc.if_else(pa.array(null_mask), pa.scalar(None, type=values.type), values)


def timestamps(micros: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """int64 microseconds since the Unix epoch (UTC) -> timestamp[us] without a time zone."""
    return pa.array(np.asarray(micros, dtype=np.int64).view("datetime64[us]"), mask=null_mask)


def dates(days: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(days, dtype=np.int32), type=pa.int32()).view(pa.date32())


def money(cents: np.ndarray, null_mask: np.ndarray | None = None) -> pa.Array:
    """Integer cents -> decimal(12, 2), exact (so revenue = sum(quantity * unit_price) - discount holds)."""
    cents = np.asarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = cents >> 63  # sign extension into the high 64 bits of the 128-bit integer
    validity = None
    if null_mask is not None and null_mask.any():
        validity = pa.array(~null_mask).buffers()[1]
    return pa.Array.from_buffers(MONEY, len(cents), [validity, pa.py_buffer(words)])


def join(*parts: pa.Array | str) -> pa.Array:
    """Element-wise string concatenation; plain str parts are repeated constants."""
    return pc.binary_join_element_wise(*parts, "")


def concat(arrays: Sequence[pa.Array], type_: pa.DataType) -> pa.Array:
    arrays = [a.cast(type_) if a.type != type_ else a for a in arrays]
    if not arrays:
        return pa.array([], type=type_)
    return pa.concat_arrays(arrays)
