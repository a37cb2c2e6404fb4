"""distnet.run.tensorboard: event files TensorBoard's own reader accepts, with the scalars we wrote."""
from __future__ import annotations

import numpy as np
import pytest

from distnet.run import tensorboard


def _read(path):
    """(step, {tag: value}) per event, through TensorBoard's loader (it checks both CRCs of every record)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader
    from tensorboard.compat.proto import event_pb2

    out = []
    for raw in RawEventFileLoader(str(path), detect_file_replacement=False).Load():
        ev = event_pb2.Event.FromString(raw)
        out.append((ev.step, ev.file_version, {v.tag: v.simple_value for v in ev.summary.value}))
    return out


def test_crc32c_matches_the_standard_check_value():
    assert tensorboard.crc32c(b"123456789") == 0xE3069283          # RFC 3720, appendix B.4
    assert tensorboard.crc32c(b"") == 0


def test_tensorboards_reader_reads_back_every_scalar_and_step(tmp_path):
    w = tensorboard.Writer(tmp_path / "tb")
    epoch_E = np.array([0, 5, 10])
    metrics = {"test_acc": np.array([[0.1, 0.5, 0.75], [0.2, 0.25, 1.0]], np.float32),
               "train_loss": np.array([[2.5, 1.0, -0.0], [3.0, 0.5, 1e-7]], np.float32)}
    w.metrics(epoch_E, metrics)
    events = _read(w.path)
    assert events[0][:2] == (0, "brain.Event:2")
    assert [e[0] for e in events[1:]] == [0, 5, 10]
    for e, (_, _, values) in enumerate(events[1:]):
        for name, v_SxE in metrics.items():
            assert values[f"{name}/seed_00"] == v_SxE[0, e] and values[f"{name}/seed_01"] == v_SxE[1, e]
            assert values[f"{name}/mean"] == pytest.approx(float(v_SxE[:, e].mean()), rel=1e-7)  # float32 storage


def test_large_and_negative_steps_survive_the_varint_encoding(tmp_path):
    w = tensorboard.Writer(tmp_path)
    for step in (127, 128, 300, 2 ** 40, -1):
        w.scalars(step, {"x": 1.5})
    assert [e[0] for e in _read(w.path)[1:]] == [127, 128, 300, 2 ** 40, -1]
