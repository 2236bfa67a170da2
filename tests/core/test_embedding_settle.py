"""The embedding's last frame of a run shows the run's last step, whatever `every` says."""

from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.probes.embedding.probe import EmbeddingProbe
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset


def test_a_final_settle_projects_the_current_step():
    trainer = Trainer(DeviceDataset(digits(), "cpu"), TrainConfig(model="mlp"))
    trainer.train(2)
    probe = EmbeddingProbe(trainer.context, {"every": 10, "samples": 200})
    first = probe(trainer.context)
    trainer.train(4)
    assert probe.settle(trainer.context, 0.1) and probe(trainer.context) is first  # not final: every 10
    assert probe.settle(trainer.context, 0.1, final=True)
    last = probe(trainer.context)
    assert last.step == trainer.context.step == first.step + 4
    assert probe(trainer.context) is last  # once: then every 10 steps again
