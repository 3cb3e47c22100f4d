"""The experiment report: per arm, users, exposures, click-through, hit rate@k and NDCG@k, each arm
against the control with confidence intervals and a plain verdict.

**Metrics.** Each exposure (a list of ``k`` items shown) is matched with the outcomes logged for it
(:mod:`.experiment`): *clicks* are distinct shown items the user then interacted with; *relevant*
are all distinct items they interacted with after it (shown or not). Per exposure:
``CTR = clicks`` (outcomes per exposure), ``hit = clicks > 0``, ``NDCG@k = Σ_clicks 1/log2(rank+1)
/ Σ_{i ≤ min(relevant, k)} 1/log2(i+1)``.

**Statistics.** Users are what the experiment randomises, so the unit is the user: each user's
mean over their exposures. An arm is compared with the control (the first arm) by Welch's t-test
on the users' values (``scipy.stats.ttest_ind(equal_var=False)``), which gives the p-value and a
confidence interval of the difference of means; the relative change and its interval are that
difference and interval over the control's mean. The verdict is read on the primary metric (CTR
unless told otherwise) at ``alpha`` (default 0.05): "B better than A on CTR: +12.3% [+4.1%,
+20.5%], p = 0.003", or "no significant difference ...".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from kgrec.errors import ConfigError, InputError

from ..events.schema import Event, ExposureEvent, OutcomeEvent

METRICS = ("ctr", "hit", "ndcg")
METRIC_NAMES = {"ctr": "CTR", "hit": "hit rate@k", "ndcg": "NDCG@k"}


@dataclass(frozen=True)
class ArmStats:
    """One arm: users exposed, exposures, clicks, and the pooled means of the metrics."""

    arm: str
    users: int
    exposures: int
    clicks: int
    ctr: float
    hit: float
    ndcg: float
    per_user: Mapping[str, np.ndarray] = field(repr=False, default_factory=dict)


@dataclass(frozen=True)
class Comparison:
    """One arm against the control on one metric."""

    arm: str
    control: str
    metric: str
    control_mean: float
    arm_mean: float
    diff: float
    low: float
    high: float
    p: float

    @property
    def relative(self) -> float:
        return self.diff / self.control_mean if self.control_mean else math.nan

    @property
    def relative_low(self) -> float:
        return self.low / self.control_mean if self.control_mean else math.nan

    @property
    def relative_high(self) -> float:
        return self.high / self.control_mean if self.control_mean else math.nan

    def significant(self, alpha: float) -> bool:
        return bool(self.p < alpha)

    def sentence(self, alpha: float) -> str:
        name = METRIC_NAMES[self.metric]
        change = (f"{_pct(self.relative)} [{_pct(self.relative_low)}, {_pct(self.relative_high)}], p = {_p(self.p)}"
                  if self.control_mean else f"{self.diff:+.4f} [{self.low:+.4f}, {self.high:+.4f}], p = {_p(self.p)}")
        if self.significant(alpha):
            word = "better" if self.diff > 0 else "worse"
            return f"{self.arm} {word} than {self.control} on {name}: {change}"
        return f"no significant difference between {self.arm} and {self.control} on {name} ({change})"


@dataclass(frozen=True)
class ExperimentReport:
    """What :func:`report` found."""

    experiment: str
    k: int
    arms: tuple[ArmStats, ...]
    comparisons: tuple[Comparison, ...]
    primary: str
    alpha: float

    @property
    def verdicts(self) -> list[str]:
        return [c.sentence(self.alpha) for c in self.comparisons if c.metric == self.primary]

    @property
    def significant(self) -> bool:
        return any(c.significant(self.alpha) for c in self.comparisons if c.metric == self.primary)

    def to_dict(self) -> dict:
        return {"experiment": self.experiment, "k": self.k, "primary": self.primary, "alpha": self.alpha,
                "arms": [{"arm": a.arm, "users": a.users, "exposures": a.exposures, "clicks": a.clicks,
                          "ctr": a.ctr, "hit": a.hit, "ndcg": a.ndcg} for a in self.arms],
                "comparisons": [{"arm": c.arm, "control": c.control, "metric": c.metric, "diff": c.diff,
                                 "low": c.low, "high": c.high, "relative": c.relative, "p": c.p}
                                for c in self.comparisons],
                "verdicts": self.verdicts}

    def text(self) -> str:
        """The report as plain text: a table per arm, the comparisons, the verdict."""
        lines = [f"experiment {self.experiment} (k = {self.k}; unit: users; Welch's t-test, "
                 f"{100 * (1 - self.alpha):.0f}% intervals)", ""]
        lines.append(f"{'arm':<10} {'users':>7} {'exposures':>10} {'clicks':>8} {'CTR':>8} {'hit@k':>8} "
                     f"{'NDCG@k':>8}")
        for a in self.arms:
            lines.append(f"{a.arm:<10} {a.users:>7} {a.exposures:>10} {a.clicks:>8} {a.ctr:>8.4f} {a.hit:>8.4f} "
                         f"{a.ndcg:>8.4f}")
        lines.append("")
        for c in self.comparisons:
            lines.append(f"  {c.arm} vs {c.control}, {METRIC_NAMES[c.metric]}: {c.arm_mean:.4f} vs {c.control_mean:.4f}, "
                         f"difference {c.diff:+.4f} [{c.low:+.4f}, {c.high:+.4f}] ({_pct(c.relative)}), p = {_p(c.p)}")
        lines.append("")
        lines += [f"verdict: {v}" for v in self.verdicts]
        return "\n".join(lines)


def _pct(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{100 * x:+.1f}%"


def _p(p: float) -> str:
    return "n/a" if not math.isfinite(p) else (f"{p:.2g}" if p >= 1e-4 else "< 0.0001")


def _per_exposure(exposures: Sequence[ExposureEvent], outcomes: Iterable[OutcomeEvent]) -> dict[str, tuple]:
    """exposure id → (clicks, hit, ndcg), each (exposure, item) counted once."""
    clicks: dict[str, dict[str, int]] = {}
    relevant: dict[str, set[str]] = {}
    for o in outcomes:
        relevant.setdefault(o.exposure, set()).add(o.item)
        if o.rank is not None:
            clicks.setdefault(o.exposure, {})[o.item] = o.rank
    out = {}
    for e in exposures:
        ranks = [r for r in clicks.get(e.id, {}).values() if r <= e.k]
        n_rel = max(len(relevant.get(e.id, ())), len(ranks))
        dcg = sum(1.0 / math.log2(r + 1) for r in ranks)
        idcg = sum(1.0 / math.log2(i + 1) for i in range(1, min(n_rel, e.k) + 1))
        out[e.id] = (len(ranks), float(bool(ranks)), dcg / idcg if idcg else 0.0)
    return out


def report(events: Iterable[Event], *, experiment: str | None = None, control: str | None = None,
           primary: str = "ctr", alpha: float = 0.05) -> ExperimentReport:
    """The report of an experiment from its exposure and outcome events.

    Args:
        events: the experiment's events (:meth:`ExperimentLog.events`).
        experiment: its name (default: the events').
        control: the arm the others are compared with (default: the first arm to appear).
        primary: the metric the verdict reads: ``ctr``, ``hit`` or ``ndcg`` (default: ``ctr``).
        alpha: the significance level (default: 0.05).
    """
    from scipy import stats

    if primary not in METRICS:
        raise ConfigError(f"primary metric {primary!r} is not one of {', '.join(METRICS)}")
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    exposures: list[ExposureEvent] = []
    outcomes: dict[str, OutcomeEvent] = {}
    seen: set[str] = set()
    for e in events:
        if isinstance(e, ExposureEvent) and e.id not in seen:
            seen.add(e.id)
            exposures.append(e)
        elif isinstance(e, OutcomeEvent):
            outcomes[e.id] = e
    if not exposures:
        raise InputError(f"experiment {experiment or '?'} has no exposures yet")
    name = experiment or exposures[0].experiment
    arms = list(dict.fromkeys(e.arm for e in exposures))
    control = control or arms[0]
    if control not in arms:
        raise ConfigError(f"control arm {control!r} has no exposures; arms: {', '.join(arms)}")
    arms.remove(control)
    arms.insert(0, control)
    per_exposure = _per_exposure(exposures, outcomes.values())
    k = max(e.k for e in exposures)
    table = []
    for arm in arms:
        mine = [e for e in exposures if e.arm == arm]
        users: dict[str, list[tuple]] = {}
        for e in mine:
            users.setdefault(e.user, []).append(per_exposure[e.id])
        values = {m: np.array([np.mean([x[i] for x in rows]) for rows in users.values()])
                  for i, m in enumerate(METRICS)}
        total = [per_exposure[e.id] for e in mine]
        table.append(ArmStats(arm, len(users), len(mine), int(sum(x[0] for x in total)),
                              float(np.mean([x[0] for x in total])), float(np.mean([x[1] for x in total])),
                              float(np.mean([x[2] for x in total])), values))
    comparisons = []
    base = table[0]
    for other in table[1:]:
        for m in METRICS:
            a, b = base.per_user[m], other.per_user[m]
            if len(a) < 2 or len(b) < 2 or (a.var() == 0 and b.var() == 0):
                diff = float(b.mean() - a.mean()) if len(a) and len(b) else math.nan
                comparisons.append(Comparison(other.arm, base.arm, m, float(a.mean()), float(b.mean()), diff,
                                              diff, diff, 1.0 if diff == 0 else math.nan))
                continue
            res = stats.ttest_ind(b, a, equal_var=False)
            ci = res.confidence_interval(1 - alpha)
            comparisons.append(Comparison(other.arm, base.arm, m, float(a.mean()), float(b.mean()),
                                          float(b.mean() - a.mean()), float(ci.low), float(ci.high),
                                          float(res.pvalue)))
    return ExperimentReport(name, k, tuple(table), tuple(comparisons), primary, alpha)


__all__ = ["METRICS", "ArmStats", "Comparison", "ExperimentReport", "report"]
