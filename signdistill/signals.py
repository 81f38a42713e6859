"""Signal handlers for the length of a block; the Trainer, compare's executor and ``data synth`` stop cleanly with it.

Standard library only, on the ground floor, so the CLI can use it without torch.

Example:
    >>> import signal
    >>> with handling(lambda signum, frame: None, signal.SIGTERM):
    ...     pass  # SIGTERM is ignored here; the previous handler is back afterwards
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any]


@contextmanager
def handling(handler: Handler, *signums: signal.Signals) -> Iterator[bool]:
    """Route ``signums`` to ``handler`` while the block runs, then put the previous handlers back.

    Python handles signals on the main thread only: on any other thread nothing is installed and
    the block runs with the handlers as they are. Yields whether the handler was installed.
    """
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = {sig: signal.signal(sig, handler) for sig in signums}
    try:
        yield True
    finally:
        for sig, before in previous.items():
            if before is not None:  # None: a handler not set from Python, which cannot be put back
                signal.signal(sig, before)
