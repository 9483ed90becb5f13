"""A small text progress bar (no tqdm): ``[#####.....] 52% 2.1/4.0 MB 1.3 MB/s ETA 0:02 loss 0.31``.

On a terminal the bar redraws in place at most ten times a second; when the stream is not a
terminal (CI logs, pipes) it stays silent until ``close()``, which prints one summary line, so logs
get one line per bar instead of hundreds of carriage returns. A ``transient`` bar (e.g. one epoch,
followed by the caller's own summary line) is erased on close and prints nothing off a terminal.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """``75.4`` -> ``"1:15"``; ``3725`` -> ``"1:02:05"``."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def format_bytes(n: float) -> str:
    """``1536`` -> ``"1.5 KB"`` (powers of 1024, one decimal)."""
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


class ProgressBar:
    """Progress over ``total`` units (batches, bytes, ...).

    ``update(n, **stats)`` advances by ``n`` and shows the latest ``stats`` (e.g. ``loss=0.31``);
    ``close()`` draws the final state and ends the line. Usable as a context manager.
    """

    def __init__(self, total: int | None, desc: str = "", *, unit: str = "it", byte_units: bool = False,
                 stream: TextIO | None = None, width: int = 24, enabled: bool = True,
                 transient: bool = False) -> None:
        self.total = total if total and total > 0 else None
        self.desc = desc
        self.unit = unit
        self.byte_units = byte_units
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.enabled = enabled
        self.transient = transient
        self.count = 0
        self.stats: dict[str, object] = {}
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._closed = False
        isatty = getattr(self.stream, "isatty", None)
        self.interactive = bool(isatty and isatty())

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1, **stats: object) -> None:
        self.count += n
        if stats:
            self.stats.update(stats)
        if self.enabled and self.interactive:
            now = time.perf_counter()
            if now - self._last_draw >= 0.1:
                self._last_draw = now
                self._draw(end="")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self.transient:
            if self.interactive:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
        else:
            self._draw(end="\n")

    def _amount(self, n: float) -> str:
        return format_bytes(n) if self.byte_units else f"{n:,.0f}"

    def render(self) -> str:
        """The bar as a string (without carriage return)."""
        elapsed = time.perf_counter() - self.start
        rate = self.count / elapsed if elapsed > 0 else 0.0
        parts = [self.desc] if self.desc else []
        if self.total:
            frac = min(1.0, self.count / self.total)
            filled = int(frac * self.width)
            parts.append("[" + "#" * filled + "." * (self.width - filled) + "]")
            parts.append(f"{frac * 100:3.0f}%")
            parts.append(f"{self._amount(self.count)}/{self._amount(self.total)}")
        else:
            parts.append(self._amount(self.count))
        rate_text = format_bytes(rate) + "/s" if self.byte_units else f"{rate:,.0f} {self.unit}/s"
        parts.append(rate_text)
        if self.total and self.count < self.total and rate > 0:
            parts.append("ETA " + format_duration((self.total - self.count) / rate))
        else:
            parts.append(format_duration(elapsed))
        for key, value in self.stats.items():
            parts.append(f"{key} {value:.4g}" if isinstance(value, float) else f"{key} {value}")
        return " ".join(parts)

    def _draw(self, end: str) -> None:
        line = self.render()
        if self.interactive:
            self.stream.write("\r" + line + "\x1b[K" + end)
        else:
            self.stream.write(line + end)
        self.stream.flush()
