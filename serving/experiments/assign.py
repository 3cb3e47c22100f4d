"""Arm assignment: a keyed hash of the user id, so a user always gets the same arm without any
stored assignment, and two experiments (different keys) split users independently.

``position = HMAC-SHA256(key, user)[:8] / 2**64`` is uniform in ``[0, 1)``; the arms take
consecutive slices of that interval in proportion to the split (``50/50``, ``90/10``,
``34/33/33``). The key is the experiment's name unless a secret ``salt`` is given (then users
cannot compute their own arm).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kgrec.errors import ConfigError

ARM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
EXPERIMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def position(key: str, user: str) -> float:
    """The user's place in ``[0, 1)`` under ``key``."""
    digest = hmac.new(key.encode("utf-8"), user.encode("utf-8"), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class Assignment:
    """How an experiment splits users: its name, the arms in order, their shares (summing to 1)."""

    experiment: str
    arms: tuple[str, ...]
    shares: tuple[float, ...]
    salt: str = ""

    def __post_init__(self):
        if not EXPERIMENT_NAME.match(self.experiment):
            raise ConfigError(f"experiment name {self.experiment!r} is not allowed (letters, digits, _.-; at most 64)")
        if len(self.arms) < 2:
            raise ConfigError(f"an experiment needs at least two arms, got {list(self.arms)}")
        bad = [a for a in self.arms if not ARM_NAME.match(a)]
        if bad:
            raise ConfigError(f"arm name {bad[0]!r} is not allowed (letters, digits, _.-; at most 32)")
        if len(set(self.arms)) != len(self.arms):
            raise ConfigError(f"arm names repeat: {list(self.arms)}")
        if len(self.shares) != len(self.arms):
            raise ConfigError(f"{len(self.arms)} arms but a split of {len(self.shares)} parts")
        if any(s <= 0 for s in self.shares) or abs(sum(self.shares) - 1.0) > 1e-9:
            raise ConfigError(f"the split's shares must be positive and sum to 1, got {list(self.shares)}")

    def arm(self, user: str) -> str:
        """The arm that serves ``user``."""
        x = position(self.salt or self.experiment, user)
        edge = 0.0
        for arm, share in zip(self.arms, self.shares):
            edge += share
            if x < edge:
                return arm
        return self.arms[-1]


def parse_split(text: str | None, arms: int) -> tuple[float, ...]:
    """``"50/50"`` or ``"90/10"`` (any positive numbers, normalised) → shares; None → equal shares."""
    if text is None or not str(text).strip():
        return tuple([1.0 / arms] * arms)
    try:
        parts = [float(p) for p in str(text).split("/")]
    except ValueError:
        raise ConfigError(f"split {text!r} is not numbers separated by / (e.g. 50/50)") from None
    if len(parts) != arms:
        raise ConfigError(f"split {text!r} has {len(parts)} parts for {arms} arms")
    if any(not p > 0 for p in parts):
        raise ConfigError(f"split {text!r}: every share must be positive")
    total = sum(parts)
    return tuple(p / total for p in parts)


def parse_arms(specs: Sequence[str]) -> dict[str, str]:
    """``["A=runs/pop", "B=runs/kgrec"]`` → ``{"A": "runs/pop", "B": "runs/kgrec"}`` (order kept)."""
    arms: dict[str, str] = {}
    for spec in specs:
        name, sep, where = str(spec).partition("=")
        name, where = name.strip(), where.strip()
        if not sep or not name or not where:
            raise ConfigError(f"arm {spec!r} is not NAME=RUN_DIR (e.g. A=runs/pop)")
        if name in arms:
            raise ConfigError(f"arm {name!r} is given twice")
        arms[name] = where
    return arms


__all__ = ["Assignment", "parse_arms", "parse_split", "position"]
