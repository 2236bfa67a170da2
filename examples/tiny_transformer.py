"""A tiny transformer learning to reverse sequences of 8 tokens (synthetic task), watched by gpuviz.

The model sees a sequence and predicts, at every position, the token of the reversed sequence.
Only the encoder's layers are tracked in the weights view (`layers=`).

    gpuviz run examples/tiny_transformer.py --steps 200 --view weights --screenshot x.png
"""

import argparse

import torch
from torch import nn

import gpuviz_app as gv

VOCAB, LENGTH = 16, 8


class TinyTransformer(nn.Module):
    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.embed = nn.Embedding(VOCAB, width)
        self.position = nn.Parameter(torch.randn(LENGTH, width) * 0.1)
        layer = nn.TransformerEncoderLayer(width, nhead=4, dim_feedforward=64, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.out = nn.Linear(width, VOCAB)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.encoder(self.embed(tokens) + self.position))  # (N, LENGTH, VOCAB)


def sequence_loss(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(logits.reshape(-1, VOCAB), targets.reshape(-1))


def make_batch(n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = torch.randint(0, VOCAB, (n, LENGTH), generator=generator)
    return tokens, tokens.flip(1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = TinyTransformer().to(args.device)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    sample = make_batch(256, torch.Generator().manual_seed(1))
    with gv.attach(model, loss_fn=sequence_loss, optimizer=opt, sample=sample, name="tiny-transformer",
                   layers=["embed", "encoder.*", "out"]) as viz:
        for step in range(args.steps):
            tokens, targets = (t.to(args.device) for t in make_batch(32))
            logits = model(tokens)
            loss = sequence_loss(logits, targets)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            viz.step(loss=loss, acc=(logits.argmax(-1) == targets).float().mean())


if __name__ == "__main__":
    main()
