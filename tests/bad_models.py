"""Callables that go wrong in the ways a user's model can, for the one-line errors of
`archprof table MODULE:CALLABLE` (tests/test_import.py)."""
from __future__ import annotations

from torch import Tensor, nn


def raises(width: int = 3) -> nn.Module:
    raise ValueError(f"width must be even, got {width}")


def not_a_module() -> int:
    return 42


class Masked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        return self.fc(x) * mask


class Batched(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, batch: dict) -> Tensor:
        return self.fc(batch["image"])


class Head(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(10, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x)


def needs_mask() -> nn.Module:
    return Masked()


def takes_dict() -> nn.Module:
    return Batched()


def flat_input() -> nn.Module:
    """Expects 10 features: a 3x224x224 image makes its head.fc fail."""
    return nn.Sequential(nn.Identity(), nn.Sequential(Head()))
