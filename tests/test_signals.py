"""The shared signal helper: the Trainer, compare's executor and data synth install their handlers with it."""

import signal
import threading

from signdistill.signals import handling


def test_handler_is_installed_for_the_block_and_the_previous_one_put_back():
    def mine(signum, frame):
        pass

    before = signal.getsignal(signal.SIGTERM)
    with handling(mine, signal.SIGTERM, signal.SIGINT) as installed:
        assert installed and signal.getsignal(signal.SIGTERM) is mine and signal.getsignal(signal.SIGINT) is mine
    assert signal.getsignal(signal.SIGTERM) is before and signal.getsignal(signal.SIGINT) is not mine


def test_previous_handler_is_back_after_an_exception():
    before = signal.getsignal(signal.SIGTERM)
    try:
        with handling(lambda s, f: None, signal.SIGTERM):
            raise KeyError
    except KeyError:
        pass
    assert signal.getsignal(signal.SIGTERM) is before


def test_off_the_main_thread_nothing_is_installed():
    seen = []

    def run():
        with handling(lambda s, f: None, signal.SIGTERM) as installed:
            seen.append((installed, signal.getsignal(signal.SIGTERM)))

    before = signal.getsignal(signal.SIGTERM)
    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert seen == [(False, before)]
