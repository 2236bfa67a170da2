"""Training hyper-parameters; torch-free so the window can read and show them before torch loads."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace

MODELS = ("auto", "mlp", "cnn")
OPTIMIZERS = ("sgd", "adam", "adamw")
AUGMENTATIONS = ("off", "shift", "shift+flip")  # light, on-device, images only
MAX_SEED = 2**31 - 1  # the largest seed the window's seed box can show


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _whole(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _finite(v: object) -> bool:
    return _number(v) and math.isfinite(v)


# Each setting's rule: the check a value must pass, and the sentence said when it does not.
RULES: dict[str, tuple] = {
    "model": (lambda v: v in MODELS, f"the model must be one of {', '.join(MODELS)}"),
    "optimizer": (lambda v: v in OPTIMIZERS, f"the optimiser must be one of {', '.join(OPTIMIZERS)}"),
    "lr": (lambda v: _finite(v) and v > 0, "the learning rate must be a finite number above 0"),
    "momentum": (lambda v: _finite(v) and 0 <= v < 1, "the momentum must be a number from 0 up to (not including) 1"),
    "weight_decay": (lambda v: _finite(v) and v >= 0, "the weight decay must be a finite number of 0 or more"),
    "batch_size": (lambda v: _whole(v) and v >= 1, "the batch size must be a whole number of 1 or more"),
    "seed": (lambda v: _whole(v) and 0 <= v <= MAX_SEED, f"the seed must be a whole number from 0 to {MAX_SEED}"),
    "eval_every": (lambda v: _whole(v) and v >= 1, "the evaluation interval must be a whole number of steps, 1 or more"),
    "augment": (lambda v: v in AUGMENTATIONS, f"the augmentation must be one of {', '.join(AUGMENTATIONS)}"),
}


def setting_problem(name: str, value: object) -> str | None:
    """Why `value` cannot be the setting `name` (one sentence naming it), or None when it can."""
    check, reason = RULES[name]
    return None if check(value) else reason


@dataclass(frozen=True)
class TrainConfig:
    model: str = "auto"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    seed: int = 0
    eval_every: int = 50
    augment: str = "off"

    def with_changes(self, **changes: object) -> "TrainConfig":
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    def problems(self) -> dict[str, str]:
        """One sentence per bad setting, by setting name; empty when every value can train.

        Every entry checks here: the command line, the window's controls, saved settings and
        the training session itself."""
        found = {}
        for f in fields(self):
            problem = setting_problem(f.name, getattr(self, f.name))
            if problem:
                found[f.name] = problem
        return found

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Known, valid keys only (others take the default): stale or hand-edited settings never
        break a launch."""
        defaults = cls()
        ok = {}
        for f in fields(cls):
            if f.name not in values:
                continue
            v = values[f.name]
            if isinstance(getattr(defaults, f.name), float) and _whole(v):
                v = float(v)
            if isinstance(v, type(getattr(defaults, f.name))) and setting_problem(f.name, v) is None:
                ok[f.name] = v
        return replace(defaults, **ok)
