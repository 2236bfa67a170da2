"""Every bad training setting is refused with a sentence that names it; saved settings fall back."""

import json
import math

import pytest

from gpuviz_app.core.config import TrainConfig, setting_problem
from gpuviz_app.core.session import TrainingSession
from gpuviz_app.data.builtin import digits

BAD = [
    ("lr", math.nan, "learning rate"),
    ("lr", math.inf, "learning rate"),
    ("lr", -1.0, "learning rate"),
    ("lr", 0.0, "learning rate"),
    ("batch_size", 0, "batch size"),
    ("momentum", 1.0, "momentum"),
    ("momentum", -0.1, "momentum"),
    ("weight_decay", -1e-4, "weight decay"),
    ("weight_decay", math.nan, "weight decay"),
    ("seed", -1, "seed"),
    ("eval_every", 0, "evaluation interval"),
]


@pytest.mark.parametrize("name, value, words", BAD)
def test_each_bad_setting_gets_one_sentence_naming_it(name, value, words):
    problems = TrainConfig().with_changes(**{name: value}).problems()
    assert list(problems) == [name]
    assert words in problems[name] and problems[name] == setting_problem(name, value)


def test_the_defaults_and_sensible_values_pass():
    assert TrainConfig().problems() == {}
    good = TrainConfig(lr=10.0, batch_size=1, momentum=0.0, weight_decay=0.0, seed=0, eval_every=1)
    assert good.problems() == {}


def test_saved_settings_drop_each_invalid_value_to_its_default():
    saved = json.loads('{"lr": NaN, "batch_size": 0, "seed": -3, "momentum": 0.5, "optimizer": "sgd",'
                       ' "model": "transformer", "eval_every": 10}')
    config = TrainConfig.from_dict(saved)
    defaults = TrainConfig()
    assert config.lr == defaults.lr and config.batch_size == defaults.batch_size and config.seed == 0
    assert config.model == defaults.model
    assert (config.momentum, config.optimizer, config.eval_every) == (0.5, "sgd", 10)  # the good ones kept
    assert config.problems() == {}


def test_a_session_refuses_a_bad_config_and_a_bad_change():
    with pytest.raises(ValueError, match="learning rate"):
        TrainingSession(digits, config=TrainConfig(lr=math.nan), device="cpu")
    session = TrainingSession(digits, config=TrainConfig(model="mlp"), device="cpu", max_steps=4)
    session.advance(1)
    session.configure(lr=-1.0, batch_size=8)  # refused whole: nothing of it applies
    with pytest.raises(ValueError, match=r"lr -1.0: the learning rate must be a finite number above 0"):
        session.advance(1)
    assert session.trainer.config.lr == TrainConfig().lr and session.trainer.config.batch_size == 64
    assert session.trainer.optimizer.lr == TrainConfig().lr
