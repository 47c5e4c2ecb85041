"""Stop signals that leave a job resumable: SIGTERM (`kill`, SLURM's preemption and time limit),
SIGINT (Ctrl-C), SIGUSR1 and SIGUSR2 (the requeue signals of Lightning's SLURM convention and of
submitit).

While the job is inside a Lightning fit or evaluation, the first signal goes through Lightning's
own SIGTERM handling: the fit stops right after the current batch, the resume checkpoint is
written at that step (`ResumeCheckpoint` saves when `trainer.received_sigterm`) and Lightning
raises SIGTERMException. Anywhere else (data preparation, scoring) the job stops at once; the last
checkpoint stays. A second signal stops at once, too. `run_tracked` records the run as
interrupted, keeps the job dir, and the process exits 128 + the signal number (143 SIGTERM,
130 SIGINT, 138 SIGUSR1, 140 SIGUSR2), which also stops a sweep. For a requeue signal whose
handler was set before the job (submitit's, on SLURM or in `submitit_local`), that handler runs
after the checkpoint: submitit requeues the job, which resumes from it.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1, signal.SIGUSR2)
REQUEUE_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


class Interrupted(SystemExit):
    """The job was stopped by a signal: the process exits 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)

    def __reduce__(self):  # pickled back from a joblib worker: the same signal, not 128 + the code
        return (Interrupted, (self.signum,))


_active: StopSignals | None = None


class StopSignals:
    """While entered (in the main thread), the stop signals are this object's: `received` is the
    first one, `previous` the handlers it replaced, restored on exit."""

    def __init__(self) -> None:
        self.received: int | None = None
        self.previous: dict[int, object] = {}
        self._forwarding = False

    def __enter__(self) -> StopSignals:
        global _active
        if threading.current_thread() is threading.main_thread():
            for signum in STOP_SIGNALS:
                self.previous[signum] = signal.getsignal(signum)
                signal.signal(signum, self._handle)
            _active = self
        return self

    def __exit__(self, *exc) -> None:
        global _active
        for signum, handler in self.previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if _active is self:
            _active = None

    def _handle(self, signum: int, frame) -> None:
        if self._forwarding:  # Lightning's handler calling this one back: nothing more to do
            return
        if self.received is not None:
            log.warning("second stop signal (%s): stopping now", signal.Signals(signum).name)
            raise Interrupted(self.received)
        self.received = signum
        lightning = signal.getsignal(signal.SIGTERM)
        if lightning != self._handle:  # a fit or evaluation holds SIGTERM: let it stop after this batch
            log.warning("received %s: stopping after the current step (its checkpoint is written)",
                        signal.Signals(signum).name)
            if signum != signal.SIGTERM and callable(lightning):
                self._forwarding = True
                try:
                    lightning(signal.SIGTERM, frame)
                finally:
                    self._forwarding = False
            return
        log.warning("received %s: stopping", signal.Signals(signum).name)
        raise Interrupted(signum)

    def requeue_handler(self) -> Callable | None:
        """The handler a requeue signal had before the job (submitit's), to run once the job stopped."""
        handler = self.previous.get(self.received) if self.received in REQUEUE_SIGNALS else None
        return handler if callable(handler) and handler is not signal.default_int_handler else None


def stop_if_requested() -> None:
    """Stop here if a signal arrived while a fit was ending (Lightning lets the last step finish)."""
    if _active is not None and _active.received is not None:
        raise Interrupted(_active.received)


def interrupt_exit(guard: StopSignals, error: BaseException) -> tuple[int | None, int]:
    """(signal, exit code) of a job stopped by `error` (not an Exception: SystemExit,
    KeyboardInterrupt, Lightning's SIGTERMException)."""
    signum = guard.received
    if signum is None and isinstance(error, KeyboardInterrupt):
        signum = signal.SIGINT
    if signum is not None:
        return int(signum), 128 + int(signum)
    code = getattr(error, "code", None)
    return None, code if isinstance(code, int) and code != 0 else 1
