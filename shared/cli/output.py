"""How the CLI talks: aligned tables and progress for people, JSON for scripts.

One ``Output`` per command run. Human output goes to stdout; progress and warnings go to stderr so a
pipe (``defender-relay tenants list | grep``) only ever sees data. Colour and progress bars appear
only when the stream is a terminal and ``NO_COLOR`` is unset (https://no-color.org), so logs and CI
never collect escape codes. ``--json`` prints exactly one JSON document on stdout.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TextIO

# Exit codes: what a script needs to tell apart.
EXIT_OK = 0
EXIT_FAILED = 1  # the command ran and something it checked or did failed (a tenant, an action)
EXIT_USAGE = 2  # bad arguments or input file (argparse uses 2 as well)
EXIT_CONFIG = 3  # the settings are incomplete or wrong: nothing was attempted
EXIT_INCOMPLETE = 4  # nothing failed, but some work was left for later (a feed held by another worker, throttled)

_GREEN, _RED, _YELLOW, _BOLD, _RESET = "\033[32m", "\033[31m", "\033[33m", "\033[1m", "\033[0m"
_GOOD_WORDS = {"ok", "succeeded", "enabled", "yes", "granted", "caught-up", "delivered"}
_BAD_WORDS = {"failed", "error", "missing", "no", "not-consented", "missing-roles", "bad-credential"}


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    align_right: bool = False
    max_width: int = 60


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


class Output:
    def __init__(self, *, stdout: TextIO | None = None, stderr: TextIO | None = None, json_mode: bool = False):
        self.stdout = stdout if stdout is not None else sys.stdout
        self.stderr = stderr if stderr is not None else sys.stderr
        self.json_mode = json_mode
        self.color = _is_tty(self.stdout) and "NO_COLOR" not in os.environ
        self.interactive = _is_tty(self.stderr) and not json_mode

    # -- data -------------------------------------------------------------------------------------
    def json(self, document: Any) -> None:
        self.stdout.write(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")

    def line(self, text: str = "") -> None:
        """A line for people; nothing in --json mode (the JSON document is the whole output)."""
        if not self.json_mode:
            self.stdout.write(text + "\n")

    def heading(self, text: str) -> None:
        self.line(self.paint(text, _BOLD))

    def table(self, rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> None:
        if self.json_mode:
            return
        if not rows:
            self.line("(none)")
            return
        cells = [[_clip(_cell(row.get(c.key)), c.max_width) for c in columns] for row in rows]
        widths = [max(len(c.title), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        titles = [c.title.rjust(w) if c.align_right else c.title.ljust(w) for c, w in zip(columns, widths, strict=True)]
        self.line(self.paint("  ".join(titles).rstrip(), _BOLD))
        for r in cells:
            parts = []
            for text, col, width in zip(r, columns, widths, strict=True):
                padded = text.rjust(width) if col.align_right else text.ljust(width)
                parts.append(self.status_color(text, padded))
            self.line("  ".join(parts).rstrip())

    # -- messages ---------------------------------------------------------------------------------
    def error(self, text: str) -> None:
        """An error for people *and* scripts: stderr is never part of the JSON document."""
        self.stderr.write(self.paint_err("error: ", _RED) + text + "\n")

    def warn(self, text: str) -> None:
        self.stderr.write(self.paint_err("warning: ", _YELLOW) + text + "\n")

    def info(self, text: str) -> None:
        """Running commentary (what is happening now) on stderr, so stdout stays pure data."""
        if not self.json_mode:
            self.stderr.write(text + "\n")

    # -- colour -----------------------------------------------------------------------------------
    def paint(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if self.color else text

    def paint_err(self, text: str, code: str) -> str:
        return f"{code}{text}{_RESET}" if _is_tty(self.stderr) and "NO_COLOR" not in os.environ else text

    def status_color(self, word: str, padded: str) -> str:
        if not self.color:
            return padded
        key = word.strip().lower()
        if key in _GOOD_WORDS:
            return self.paint(padded, _GREEN)
        if key in _BAD_WORDS:
            return self.paint(padded, _RED)
        return padded

    # -- progress ---------------------------------------------------------------------------------
    @contextmanager
    def progress(self, label: str, total: int) -> Iterator[Progress]:
        bar = Progress(self.stderr if self.interactive else None, label, total)
        try:
            yield bar
        finally:
            bar.close()


class Progress:
    """A one-line progress bar redrawn in place on a terminal; silent otherwise."""

    WIDTH = 30

    def __init__(self, stream: TextIO | None, label: str, total: int) -> None:
        self._stream = stream
        self._label = label
        self.total = max(total, 0)
        self.done = 0
        self._last_draw = 0.0

    def advance(self, n: int = 1, *, note: str = "") -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last_draw >= 0.05 or self.done >= self.total:  # redraw at most 20 times a second
            self._last_draw = now
            self._draw(note)

    def set_total(self, total: int) -> None:
        self.total = max(total, self.done)

    def _draw(self, note: str) -> None:
        if self._stream is None:
            return
        frac = self.done / self.total if self.total else 1.0
        filled = int(self.WIDTH * min(frac, 1.0))
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        self._stream.write(f"\r{self._label} [{bar}] {self.done}/{self.total} {note[:40]:<40}")
        self._stream.flush()

    def close(self) -> None:
        if self._stream is not None and self._last_draw:
            self._stream.write("\n")
            self._stream.flush()


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty else False
    except ValueError:  # closed stream
        return False
