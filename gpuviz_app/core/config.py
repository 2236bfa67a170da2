"""Training hyper-parameters; torch-free so the window can read and show them before torch loads."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

MODELS = ("auto", "mlp", "cnn")
OPTIMIZERS = ("sgd", "adam", "adamw")
AUGMENTATIONS = ("off", "shift", "shift+flip")  # light, on-device, images only


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

    @classmethod
    def from_dict(cls, values: dict) -> "TrainConfig":
        """Known, well-typed keys only: stale or hand-edited settings never break a launch."""
        defaults = cls()
        ok = {}
        for f in fields(cls):
            if f.name in values:
                v = values[f.name]
                want = type(getattr(defaults, f.name))
                if want is float and isinstance(v, int) and not isinstance(v, bool):
                    v = float(v)
                if isinstance(v, want) and not isinstance(v, bool):
                    ok[f.name] = v
        config = replace(defaults, **ok)
        if config.model not in MODELS or config.optimizer not in OPTIMIZERS:
            return defaults
        if config.augment not in AUGMENTATIONS:
            config = replace(config, augment=defaults.augment)
        return config
