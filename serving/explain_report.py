"""The explanation report of a run: are its explanations why the items were recommended, and how
good are they as explanations?

:func:`explain_report` samples users (with a seed), recommends ``k`` items to each with up to
``max_paths`` explanations, and measures every explanation:

- **fidelity** (:mod:`.fidelity`): the score drop, rank drop and top-``k`` exits when the path is
  taken out of the user's vector, against an equally long random path of the same kind; PyG's
  fidelity+ / fidelity− in model mode and their characterization score
  (``torch_geometric.explain.metric.characterization_score``). PyG's ``fidelity()`` itself does
  not fit: it runs a PyG ``Explainer`` over node and edge masks of a model's input graph, while a
  kgrec explanation is a path scored through the run's fold-in, with no torch model at serving
  time; the two fidelities are computed here in PyG's definition and only the score is PyG's.
- **path quality** (:mod:`.path_quality`): LIR, SEP and ETD of the first explanation of each
  recommendation (the literature has one path per recommended item), and the share of each path
  type;
- **sentences**: each sentence names exactly its path's nodes
  (:func:`~kgrec.serving.path_quality.sentence_problems`).

The numbers depend only on the run, the graph, the options and the seed: the users are drawn with
``numpy.random.default_rng(seed)``, each user's control paths with ``default_rng([seed, row])``.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from kgrec.errors import InputError

from .fidelity import Fidelity, PathEffect, PathFidelity
from .path_quality import PathQuality, path_type, sentence_problems

if TYPE_CHECKING:
    from kgrec.kg import KnowledgeGraph

    from .recommender import Recommender

logger = logging.getLogger(__name__)

UserPool = Literal["test", "valid", "all"]
USER_POOLS: tuple[str, ...] = ("test", "valid", "all")


@dataclass(frozen=True)
class FidelitySummary:
    """Fidelity over a set of explanations (means; NaN over an empty set).

    Args:
        explanations: how many.
        mean_drop: mean score drop of the item.
        mean_rank_drop: mean number of places the item fell.
        left_top_k: share whose removal takes the item out of the top ``k`` (PyG's fidelity+).
        lead_share: mean share of the item's lead over the first item outside the top ``k`` that
            the removal costs, each capped at 1.
        kept_in_top_k: share whose item stays in the top ``k`` with only the path kept
            (1 − PyG's fidelity−).
        characterization: PyG's characterization score of fidelity+ and fidelity− (equal weights).
    """

    explanations: int
    mean_drop: float
    mean_rank_drop: float
    left_top_k: float
    lead_share: float
    kept_in_top_k: float
    characterization: float

    @classmethod
    def of(cls, effects: Sequence[PathEffect]) -> FidelitySummary:
        effects = [e for e in effects if e.measured]
        if not effects:
            nan = float("nan")
            return cls(0, nan, nan, nan, nan, nan, nan)
        left = float(np.mean([e.left_top_k for e in effects]))
        kept = float(np.mean([bool(e.kept_in_top_k) for e in effects]))
        shares = [min(e.lead_share, 1.0) for e in effects if not math.isnan(e.lead_share)]
        return cls(len(effects), float(np.mean([e.drop for e in effects])),
                   float(np.mean([e.rank_drop for e in effects])), left,
                   float(np.mean(shares)) if shares else float("nan"), kept, characterization(left, 1.0 - kept))


def characterization(pos_fidelity: float, neg_fidelity: float) -> float:
    """PyG's ``characterization_score`` (weights 0.5 / 0.5); 0 where fidelity+ is 0 or fidelity− is 1
    (the harmonic mean's limit)."""
    if not pos_fidelity > 0 or not neg_fidelity < 1:
        return 0.0
    import torch
    from torch_geometric.explain.metric import characterization_score

    return float(characterization_score(torch.tensor(pos_fidelity, dtype=torch.float64),
                                        torch.tensor(neg_fidelity, dtype=torch.float64)))


@dataclass(frozen=True)
class ExplainReport:
    """What :func:`explain_report` measured (see the module docs); :meth:`to_dict` / :meth:`save` /
    :meth:`table`.

    Fidelity figures: ``fidelity`` over every measured explanation, ``first`` over the first
    explanation of each recommendation, ``paired`` over the explanations that have a control and
    ``control`` over those controls; ``beats_control`` is the share of pairs whose path costs the
    item more than its control (``ties`` the share of equal drops), ``user_margin`` the mean over
    users of their mean (path drop − control drop), ``users_path_wins`` the share of users for whom
    it is positive. ``mean_drop_all`` counts the explanations that are not measured as 0 (exact for
    models whose user vector is a fold-in of interactions only). Quality: ``lir`` / ``sep`` means
    over the first explanations that have one (``lir_paths`` / ``sep_paths`` of them), ``etd`` the
    mean over users, ``types`` the share of each path type among the first explanations,
    ``collaborative`` the share whose hop into the item is the schema's interaction.
    """

    run: str
    model: str
    graph: str
    users_from: str
    seed: int
    users: int
    k: int
    max_paths: int
    scoring: str
    recommendations: int
    explained: int
    explanations: int
    kinds: Mapping[str, int]
    fidelity: FidelitySummary
    first: FidelitySummary
    paired: FidelitySummary
    control: FidelitySummary
    beats_control: float
    ties: float
    user_margin: float
    users_path_wins: float
    mean_drop_all: float
    lir: float
    lir_paths: int
    sep: float
    sep_paths: int
    etd: float
    types: Mapping[str, float]
    collaborative: float
    sentences: int
    sentences_ok: int
    sentence_problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def coverage(self) -> float:
        """Share of recommendations with at least one explanation."""
        return self.explained / self.recommendations if self.recommendations else float("nan")

    def to_dict(self) -> dict:
        out = asdict(self)
        out["coverage"] = self.coverage
        return _finite(out)

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON (NaN written as null)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return path

    def table(self) -> str:
        """The report as plain text."""
        def pct(x: float) -> str:
            return "n/a" if math.isnan(x) else f"{100 * x:.1f}%"

        def num(x: float, digits: int = 4) -> str:
            return "n/a" if math.isnan(x) else f"{x:.{digits}f}"

        kinds = ", ".join(f"{v} {k}" for k, v in self.kinds.items())
        lines = [
            f"explanation report: {self.graph} · {self.model} · run {self.run}",
            f"{self.users} {self.users_from} users (seed {self.seed}), top {self.k}, up to {self.max_paths} paths, "
            f"scoring {self.scoring}",
            f"coverage {pct(self.coverage)} ({self.explained} of {self.recommendations} recommendations explained); "
            f"{self.explanations} explanations: {kinds}",
            "",
            f"{'fidelity (path taken out)':<34}{'n':>7}{'score drop':>12}{'rank drop':>11}{'left top-k':>12}"
            f"{'lead spent':>12}{'kept alone':>12}{'charact.':>10}",
        ]
        for name, s in (("every measured explanation", self.fidelity), ("first explanation of each item", self.first),
                        ("explanations with a control", self.paired), ("their random controls", self.control)):
            lines.append(f"{name:<34}{s.explanations:>7}{num(s.mean_drop):>12}{num(s.mean_rank_drop, 1):>11}"
                         f"{pct(s.left_top_k):>12}{pct(s.lead_share):>12}{pct(s.kept_in_top_k):>12}"
                         f"{num(s.characterization, 3):>10}")
        lines += [
            f"path beats its control in {pct(self.beats_control)} of pairs (ties {pct(self.ties)}); per user, "
            f"path drop − control drop = {num(self.user_margin)} on average, positive for {pct(self.users_path_wins)} "
            f"of users; mean drop over all explanations, unmeasured as 0: {num(self.mean_drop_all)}",
            "",
            f"path quality (first explanation of each item): LIR {num(self.lir, 3)} ({self.lir_paths} paths with a "
            f"timestamp), SEP {num(self.sep, 3)} ({self.sep_paths} paths), ETD {num(self.etd, 3)}; "
            f"last hop is another user's interaction ('someone else also ...'): {pct(self.collaborative)}",
            "path types: " + ", ".join(f"{t} {pct(v)}" for t, v in list(self.types.items())[:8]),
            f"sentences naming exactly their path's nodes: {self.sentences_ok} of {self.sentences}",
        ]
        lines += [f"  {p}" for p in self.sentence_problems]
        return "\n".join(lines)


def _finite(obj):
    if isinstance(obj, float):
        return None if math.isnan(obj) or math.isinf(obj) else obj
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def sample_users(recommender: Recommender, n: int, *, seed: int = 0, users_from: UserPool = "test") -> list[str]:
    """``n`` user ids drawn without replacement with ``default_rng(seed)`` among the users the run
    was trained on that have a pair in ``users_from`` (``test``, ``valid``, or ``all``), in row order."""
    if users_from not in USER_POOLS:
        raise InputError(f"users_from {users_from!r} is not one of {', '.join(USER_POOLS)}")
    run = recommender.run
    label = recommender.user_label
    rows = np.arange(len(run.id_maps[label]), dtype=np.int64)
    if users_from != "all":
        rows = np.unique(run.split.positives(users_from)[0])
    rows = np.asarray([r for r in rows.tolist() if recommender.scorer.known(r)
                       and recommender.index.present(label)[r] and len(run.train_items(r))], dtype=np.int64)
    if n < 1:
        raise InputError(f"users must be at least 1, got {n}")
    chosen = np.sort(np.random.default_rng(seed).choice(rows, size=min(n, len(rows)), replace=False))
    return [recommender.index.node_id(label, int(r)) for r in chosen]


def explain_report(recommender: Recommender, *, users: int | Sequence[str] = 200, seed: int = 0, k: int = 10,
                   max_paths: int = 3, users_from: UserPool = "test", kg: KnowledgeGraph | None = None,
                   run_name: str | None = None, max_problems: int = 5) -> ExplainReport:
    """Measure the explanations a recommender gives (see the module docs).

    Args:
        recommender: a loaded recommender (its explainer's scoring is the one measured).
        users: how many users to draw, or the user ids (default: 200).
        seed: draws the users and the control paths (default: 0).
        k: items per list (default: 10).
        max_paths: explanations per item (default: 3).
        users_from: draw among users with a ``test`` pair, a ``valid`` pair, or ``all`` (default: test).
        kg: the graph, for LIR's timestamps (default: the recommender's, else no LIR).
        run_name: how the report names the run (default: the run directory's name).
        max_problems: sentence problems quoted in the report (default: 5).
    """
    if k < 1 or max_paths < 1:
        raise InputError(f"k and max_paths must be at least 1, got {k} and {max_paths}")
    ids = sample_users(recommender, users, seed=seed, users_from=users_from) if isinstance(users, int) else list(users)
    fidelity = Fidelity(recommender)
    quality = PathQuality(recommender.index, kg if kg is not None else recommender.kg)
    grammar = recommender.explainer.grammar
    interaction = recommender.schema.interaction[1]
    n_recs = explained = 0
    effects: list[PathFidelity] = []
    firsts: list[PathEffect] = []
    first_paths = []
    etds, margins = [], []
    problems: list[str] = []
    sentences = sentences_ok = 0
    for user in ids:
        recs = recommender.recommend(user, k, explain=True, max_paths=max_paths)
        row = recommender.index.row(recommender.user_label, user)
        measured = fidelity.measure(user, recs, k=k, rng=np.random.default_rng([seed, row]))
        n_recs += len(recs)
        mine = []
        for r, found in zip(recs, measured):
            explained += bool(r.explanations)
            effects += found
            mine += found
            if found:
                firsts.append(found[0].effect)
                first_paths.append(r.explanations[0].path)
            for e in r.explanations:
                sentences += 1
                wrong = sentence_problems(e.path, e.sentence, grammar)
                sentences_ok += not wrong
                if wrong and len(problems) < max_problems:
                    problems.append(f"{e.sentence!r}: {'; '.join(wrong)}")
        etd = quality.etd([r.explanations[0].path for r in recs if r.explanations])
        if etd is not None:
            etds.append(etd)
        pairs = [(f.effect.drop, f.control.drop) for f in mine if f.control is not None]
        if pairs:
            margins.append(float(np.mean([a - b for a, b in pairs])))
    pairs = [f for f in effects if f.control is not None]
    diffs = np.array([f.effect.drop - f.control.drop for f in pairs])
    lirs = [x for x in (quality.lir(p) for p in first_paths) if x is not None]
    seps = [x for x in (quality.sep(p) for p in first_paths) if x is not None]
    types = Counter(path_type(p) for p in first_paths)
    nan = float("nan")
    return ExplainReport(
        run=run_name or (recommender.run.path.name if recommender.run.path else "?"), model=recommender.run.model,
        graph=recommender.graph_name, users_from=users_from, seed=seed, users=len(ids), k=k, max_paths=max_paths,
        scoring=recommender.explainer.scoring, recommendations=n_recs, explained=explained,
        explanations=len(effects), kinds=dict(sorted(Counter(f.effect.kind for f in effects).items())),
        fidelity=FidelitySummary.of([f.effect for f in effects]), first=FidelitySummary.of(firsts),
        paired=FidelitySummary.of([f.effect for f in pairs]), control=FidelitySummary.of([f.control for f in pairs]),
        beats_control=float((diffs > 0).mean()) if len(diffs) else nan,
        ties=float((diffs == 0).mean()) if len(diffs) else nan,
        user_margin=float(np.mean(margins)) if margins else nan,
        users_path_wins=float(np.mean([m > 0 for m in margins])) if margins else nan,
        mean_drop_all=float(np.mean([f.effect.drop if f.effect.measured else 0.0 for f in effects]))
        if effects else nan,
        lir=float(np.mean(lirs)) if lirs else nan, lir_paths=len(lirs),
        sep=float(np.mean(seps)) if seps else nan, sep_paths=len(seps),
        etd=float(np.mean(etds)) if etds else nan,
        types={t: c / len(first_paths) for t, c in types.most_common()},
        collaborative=types.get(interaction, 0) / len(first_paths) if first_paths else nan,
        sentences=sentences, sentences_ok=sentences_ok, sentence_problems=tuple(problems))


__all__ = ["USER_POOLS", "ExplainReport", "FidelitySummary", "UserPool", "characterization", "explain_report",
           "sample_users"]
