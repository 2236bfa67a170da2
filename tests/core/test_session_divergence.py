"""A run whose loss or weights turn non-finite says when and why, and pauses unless told not to."""

import threading
import time

import torch

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.data.builtin import digits

DIVERGING = TrainConfig(model="mlp", optimizer="sgd", lr=1e6)  # NaN from step 3 on (digits, seed 0)


def wait_for(predicate, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return False


def start(**kwargs):
    session = TrainingSession(digits, device="cpu", **kwargs)
    thread = threading.Thread(target=session.run, daemon=True)
    thread.start()
    return session, thread


def stop(session, thread):
    session.stop()
    thread.join(10)
    assert not thread.is_alive()


def test_divergence_is_recorded_at_its_step_and_pauses_the_run():
    session, thread = start(config=DIVERGING)
    try:
        assert wait_for(lambda: (s := session.mailbox.peek()) is not None and s.diverged_step is not None
                        and s.paused)
        snap = session.mailbox.peek()
        assert snap.diverged_step == 3
        assert snap.diverged == "training diverged at step 3: the loss is NaN"
        frozen = snap.step
        time.sleep(0.3)
        assert session.trainer.step_count == frozen  # paused: no more steps
        session.set_paused(False)  # keep going anyway: it does, and does not pause again
        assert wait_for(lambda: session.mailbox.peek().step > frozen + 50)
        assert not session.mailbox.peek().paused and session.mailbox.peek().diverged_step == 3
        session.configure(lr=1e-3)
        session.reset()  # a new run starts with no divergence
        assert wait_for(lambda: session.mailbox.peek().run_id == 2)
        assert session.mailbox.peek().diverged_step is None and session.mailbox.peek().diverged == ""
    finally:
        stop(session, thread)


def test_without_pause_on_divergence_training_goes_on():
    session, thread = start(config=DIVERGING, pause_on_divergence=False, max_steps=200)
    try:
        assert wait_for(lambda: (s := session.mailbox.peek()) is not None and s.finished)
        snap = session.mailbox.peek()
        assert snap.step == 200 and snap.diverged_step == 3 and not snap.paused
    finally:
        stop(session, thread)


def test_non_finite_weights_are_caught_even_when_the_last_loss_was_finite():
    session = TrainingSession(digits, device="cpu", config=TrainConfig(model="mlp"), max_steps=50)
    session.advance(0)

    def poison(context):  # after step 5's update: its loss was finite, the weights are not
        if session.trainer.step_count == 5:
            with torch.no_grad():
                next(context.model.parameters())[0, 0] = float("inf")

    session.trainer.add_step_hook(poison)
    snap = session.advance(5)
    assert snap.diverged_step == 5 and snap.diverged == "training diverged at step 5: the weights are no longer finite"
    assert snap.paused
    assert torch.isfinite(torch.as_tensor(snap.metrics.rows("train_loss")["mean"])).all()


def test_a_healthy_run_never_reports_divergence():
    session = TrainingSession(digits, device="cpu", config=TrainConfig(model="mlp"), max_steps=60)
    snap = session.advance(60)
    assert snap.diverged_step is None and snap.diverged == "" and not snap.paused
