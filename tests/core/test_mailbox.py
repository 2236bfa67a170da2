import threading

from gpuviz_app.core.mailbox import Mailbox


def test_take_returns_only_the_newest_and_only_once():
    box: Mailbox[int] = Mailbox()
    assert box.take() is None
    for i in range(5):
        box.put(i)
    assert box.take() == 4
    assert box.take() is None
    assert box.peek() == 4
    assert box.serial == 5


def test_producer_never_blocks_on_a_slow_consumer():
    box: Mailbox[int] = Mailbox()
    done = threading.Event()

    def produce():
        for i in range(100_000):
            box.put(i)
        done.set()

    t = threading.Thread(target=produce)
    t.start()
    seen = []
    while not done.is_set():
        item = box.take()
        if item is not None:
            seen.append(item)
    t.join()
    assert seen == sorted(seen)  # never goes back in time
    assert box.peek() == 99_999
