"""TensorBoard scalars during training, without TensorFlow: a minimal event-file writer (config.tensorboard).

An event file is a sequence of TFRecords (length, masked CRC-32C of the length, an `Event` protocol buffer,
masked CRC-32C of it). The few protobuf fields needed are encoded by hand here:

    Event:         1 wall_time (double)  2 step (int64)  3 file_version (string)  5 summary (Summary)
    Summary:       1 value (repeated Summary.Value)
    Summary.Value: 1 tag (string)  2 simple_value (float)

`tensorboard --logdir DIR` (TensorBoard installed on its own) reads DIR/<variant>/tensorboard/ live.
"""
from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

import numpy as np


def _crc32c_table() -> list[int]:
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1   # Castagnoli polynomial, reflected
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    c = 0xFFFFFFFF
    for b in data:
        c = _TABLE[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(crc: int) -> int:
    return ((((crc >> 15) | (crc << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    out = bytearray()
    n &= (1 << 64) - 1                     # int64 fields are encoded as their two's complement
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes_field(number: int, payload: bytes) -> bytes:
    return _field(number, 2) + _varint(len(payload)) + payload


def _event(step: int, wall_time: float, *, scalars: dict | None = None, version: str | None = None) -> bytes:
    msg = _field(1, 1) + struct.pack("<d", wall_time) + _field(2, 0) + _varint(step)
    if version is not None:
        msg += _bytes_field(3, version.encode())
    if scalars:
        values = b"".join(_bytes_field(1, _bytes_field(1, tag.encode()) + _field(2, 5) + struct.pack("<f", v))
                          for tag, v in scalars.items())
        msg += _bytes_field(5, values)
    return msg


def _record(payload: bytes) -> bytes:
    length = struct.pack("<Q", len(payload))
    return (length + struct.pack("<I", _masked(crc32c(length))) + payload
            + struct.pack("<I", _masked(crc32c(payload))))


class Writer:
    """Appends scalar events to one new event file in `logdir` (created); a record is flushed on every write."""

    def __init__(self, logdir):
        self.logdir = Path(logdir)
        self.logdir.mkdir(parents=True, exist_ok=True)
        now = time.time()
        self.path = self.logdir / f"events.out.tfevents.{int(now)}.{socket.gethostname()}.distnet"
        self._append(_record(_event(0, now, version="brain.Event:2")))

    def _append(self, record: bytes) -> None:
        """Append to the event file, never through a link planted at its name (OSError ELOOP)."""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "ab") as f:
            f.write(record)

    def scalars(self, step: int, values: dict[str, float]) -> None:
        self._append(_record(_event(int(step), time.time(), scalars={k: float(v) for k, v in values.items()})))

    def metrics(self, epoch_E, metrics: dict[str, np.ndarray]) -> None:
        """One event per epoch: each metric's seed mean ("test_acc/mean") and every seed ("test_acc/seed_03")."""
        for e, epoch in enumerate(np.asarray(epoch_E)):
            values = {}
            for name, v_SxE in metrics.items():
                v_S = np.asarray(v_SxE)[:, e]
                values[f"{name}/mean"] = float(v_S.mean())
                values.update({f"{name}/seed_{s:02d}": float(x) for s, x in enumerate(v_S)})
            self.scalars(int(epoch), values)
