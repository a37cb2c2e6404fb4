"""What a study prints and times as it trains: progress lines (Progress) and the wall time per phase (Stopwatch,
summary.json's "timing")."""
from __future__ import annotations

import contextlib
import sys
import time

import numpy as np


class Stopwatch:
    """Seconds spent per phase of a variant (summary.json's "timing"): where a study's wall time goes."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, phase: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[phase] = self.seconds.get(phase, 0.0) + time.perf_counter() - t0

    def rounded(self) -> dict[str, float]:
        return {k: round(v, 3) for k, v in self.seconds.items()}


class Progress:
    """Variant, epoch, test accuracy over seeds (mean and range), the variant's time left and the whole run's;
    in place on a TTY. later_epochs: epochs still to train in the variants after this one; the run's time left
    assumes they cost what this variant's epochs have cost so far (a study's variants share data and widths)."""

    def __init__(self, variant: str, total: int, start: int, stream=sys.stdout, later_epochs: int = 0):
        self.variant, self.total, self.start, self.stream = variant, total, start, stream
        self.later_epochs = later_epochs
        self.t0 = time.perf_counter()
        self.tty = stream.isatty()

    def __call__(self, epoch: int, test_acc: np.ndarray, final: bool = False) -> None:
        elapsed = time.perf_counter() - self.t0
        done = epoch - self.start
        left = elapsed / done * (self.total - epoch) if done > 0 else float("nan")
        line = (f"{self.variant:>14}  epoch {epoch:>6}/{self.total}  test acc {100 * test_acc.mean():6.2f}% "
                f"[{100 * test_acc.min():.2f}, {100 * test_acc.max():.2f}]  "
                f"{elapsed:6.0f}s elapsed, {left:5.0f}s left")
        if self.later_epochs:
            run_left = left + (elapsed / done * self.later_epochs if done > 0 else float("nan"))
            line += f" (whole run ~{_duration(run_left)} left)"
        if self.tty:
            self.stream.write("\r" + line + ("\n" if final else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()


def _duration(seconds: float) -> str:
    """'42s', '7m05s', '1h02m': a time left as people read it."""
    if not np.isfinite(seconds):
        return "?"
    s = int(round(seconds))
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{s % 3600 // 60:02d}m"
