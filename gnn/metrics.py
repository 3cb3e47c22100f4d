"""Named metric values, in a module of its own that imports no torch (loading a run directory stays light)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Metrics:
    """Named metric values (``"ndcg@20"`` → 0.31) and the number of users (or pairs) behind them."""

    values: Mapping[str, float] = field(default_factory=dict)
    count: int = 0

    def __getitem__(self, key: str) -> float:
        try:
            return self.values[key]
        except KeyError:
            raise KeyError(f"no metric {key!r}; metrics: {', '.join(self.values)}") from None

    def __contains__(self, key: object) -> bool:
        return key in self.values

    def get(self, key: str, default: float | None = None) -> float | None:
        return self.values.get(key, default)

    def to_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.values.items()}

    def __str__(self) -> str:
        return " ".join(f"{k}={v:.4f}" for k, v in self.values.items())


__all__ = ["Metrics"]
