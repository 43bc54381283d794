"""Signals held off a block of work that must not be cut in the middle (starting a profiler,
starting worker processes) and delivered when it ends."""
from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def held(*signals: int) -> Iterator[None]:
    """`signals` take effect when the block ends, not inside it: each one caught meanwhile is
    recorded, and the first is raised again afterwards, to whatever handler was there before.
    They are also blocked in this thread, so that a process started inside the block starts
    with them blocked, even through exec (a spawned Python installs its own SIGINT handler
    before anything of ours runs); such a process unblocks them once it has its handlers."""
    caught: list[int] = []
    try:
        with handling(signals, lambda signum, _: caught.append(signum)), _blocked(signals):
            yield
    finally:        # also after an error in the block: the interrupt is what was asked for
        for signum in caught[:1]:
            signal.raise_signal(signum)


@contextmanager
def handling(signals: tuple[int, ...], handler: Callable[[int, Any], None]) -> Iterator[None]:
    """`handler` for `signals` within the block, then the handlers before it again (one
    installed from C reads as None: the default then). Only the main thread may set them;
    elsewhere the block runs as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in before.items():
            signal.signal(s, signal.SIG_DFL if old is None else old)


@contextmanager
def _blocked(signals: tuple[int, ...]) -> Iterator[None]:
    """`signals` pending in this thread within the block; unblocking delivers them (to the
    handler then in place). Without a signal mask (Windows) the block runs as it is."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, signals)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


def unblock(*signals: int) -> None:
    """Undo, in a process started inside `held`, the mask it inherited."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
