"""bench.io: a slow step says what it does and how long it took; a fast (cached) one says nothing."""

import logging
import time

from bench.io import slow_step


def test_a_slow_step_is_announced_and_timed_a_fast_one_is_silent(caplog):
    log = logging.getLogger("bench.test")
    with caplog.at_level(logging.INFO, logger="bench.test"):
        with slow_step("fast", after_s=0.5, log=log):
            pass
        with slow_step("building the world", after_s=0.05, log=log):
            time.sleep(0.3)
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "building the world ..."
    assert messages[1].startswith("building the world: done in ") and len(messages) == 2
