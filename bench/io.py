"""Small file helpers shared by every writer of the suite."""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CONF_DIR = REPO_ROOT / "conf"
PAPER_DIR = CONF_DIR / "report" / "paper"


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write via a temp file + rename, so a reader never sees half a report."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def file_mode() -> int:
    """The mode `open(path, "w")` gives a new file: 0o666 less the process umask (0o644 under umask 022).

    `tempfile.mkstemp` creates its file 0o600 whatever the umask; the rename would carry that mode over.
    The umask can only be read by setting it, so it is set back at once."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write via a temp file in the same folder + rename; the file gets `file_mode()`, as a plain `open` would."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


@contextmanager
def slow_step(what: str, after_s: float = 3.0, log: logging.Logger | None = None) -> Iterator[None]:
    """Say `what...` once the step has taken `after_s` seconds, and then how long it took: data building and
    tokenization show progress when they are slow, and stay silent when they come from a cache."""
    log = log or logging.getLogger("bench")
    t0 = time.perf_counter()
    timer = threading.Timer(after_s, lambda: log.info("%s ...", what))
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        took = time.perf_counter() - t0
        if took >= after_s:
            log.info("%s: done in %.0f s", what, took)
