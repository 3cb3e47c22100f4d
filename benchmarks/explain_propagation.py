"""Fidelity of a kgrec run's explanations in the model's own propagation, for every kind of first hop
(issue 20).

    python benchmarks/explain_propagation.py --run RUN_DIR [--users 200] [--seed 0] [--from test|valid]
        [--scorings geometric,anchored] [--check 8] [--json OUT]

The fold-in measure (:mod:`kgrec.serving.fidelity`) can only take an *interaction* out of a user's
vector: the run's fold-in recipe is made of interactions. kgrec's propagation also carries the
user's other edges (friends, the tags the user applied) into the user's vector. This script rebuilds
the trained kgrec model from the run directory (the run's config and weights, the graph from its
dataset, the text vectors from the cache) and measures every explanation there:

- the user's raw vector is ``z_u = h0_u / (K+1) + Σ_e w_e / sqrt(d_e(u) d_e(n)) · basis(n)`` over the
  user's incoming edges ``e`` from neighbours ``n`` (``basis(n)`` = the mean's share of ``n``'s layer
  states 0..K-1, ``w_e`` the edge type's learned weight): the model is linear, so this is exact;
- taking a path out removes every edge between the user and the path's anchor (the node after the
  user) from that sum and the user's degrees, then normalises and scores as the model does; the
  other nodes' states are kept (first order: the anchor's and the item's own vectors lose a little
  of the user too, which is left out) — ``--check N`` recomputes N paths with the edges removed from
  the whole graph to show how close the first-order figure is;
- the control is a random path of the same length from the user to the item whose first hop uses the
  same relation in the same direction (a random friend for a friend path, a random listened artist
  for a listening path).

Prints the figures per kind of first hop, the agreement with the fold-in measure on listening paths,
and writes them as JSON (``--json``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections import defaultdict
from pathlib import Path

import numpy as np


def rebuild(run, kg, text):
    """The trained model of a run, rebuilt from its config and weights (eval mode) and its inputs."""
    import torch

    from kgrec.gnn.registry import model_class
    from kgrec.gnn.train import prepare

    from kgrec.gnn.data import train_graph
    from kgrec.gnn.models.base import ModelInputs

    import pandas as pd

    config = run.config
    # the run's row order (a graph read back from a store need not list nodes as the dataset does)
    nodes = {}
    for label, ids in run.id_maps.items():
        df = kg.nodes[label]
        pos = pd.Index(df["id"].astype(str)).get_indexer(list(ids.ids))
        if (pos < 0).any():
            raise SystemExit(f"the graph lacks {int((pos < 0).sum())} {label} nodes of the run")
        nodes[label] = df.iloc[pos].reset_index(drop=True)
    kg = kg.replace(nodes=nodes)
    inputs, data = prepare(kg.core(min_interactions=config.min_interactions), config, text=text, progress=False)
    # the run's own split (a split drawn again need not be the same pairs)
    inputs = ModelInputs(train_graph(data, run.split), run.split, run.split.user_items("train"), inputs.user_type,
                         inputs.item_type, inputs.interaction)
    torch.manual_seed(config.seed)
    model = model_class(config.model)(inputs, config)
    state = {k: torch.from_numpy(np.array(v)) for k, v in run.weights.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or [m for m in missing if not m.startswith("blocks")]:
        raise SystemExit(f"weights do not fit the rebuilt model: missing {missing}, unexpected {unexpected}")
    model.eval()
    return model, inputs


class UserSide:
    """The exact decomposition of users' raw vectors into their incoming edges (see the module docs)."""

    def __init__(self, model, inputs):
        import torch

        self.model, self.user = model, inputs.user_type
        self.item = inputs.item_type
        with torch.no_grad():
            states = model.propagate(model.layer0())
            self.emb = {nt: v.detach().double().numpy() for nt, v in model.compute_embeddings().items()}
        k = model.config.layers
        self.k = k
        self.h0 = states[0][self.user].detach().double().numpy() / (k + 1)
        self.basis = {nt: sum(states[i][nt] for i in range(k)).detach().double().numpy() / (k + 1) for nt in states[0]}
        self.full = sum(s[self.user] for s in states).detach().double().numpy() / (k + 1)
        weights = {g: float(v.detach()) for g, v in model.weights().items()}
        self.edges = {}  # edge type into users -> (dst sorted, src, coef without the user's degree, user degree)
        for et in model.blocks.edge_types:
            if et[2] != self.user:
                continue
            ei = inputs.graph[et].edge_index.numpy()
            d_s, d_t = (d.detach().double().numpy() for d in model.blocks.degree[et])
            order = np.argsort(ei[1], kind="stable")
            src, dst = ei[0][order], ei[1][order]
            coef = weights[model.blocks.group_of[et]] / np.sqrt(d_s[src])
            self.edges[et] = (dst, src, coef, d_t)
        self.cosine = bool(getattr(model, "_cosine", False))
        self.bias = "item_bias" in dict(model.named_parameters())

    def raw(self, u: int, drop: tuple[str, int] | None = None) -> np.ndarray:
        """``z_u``, without every edge from ``drop = (label, row)`` when given."""
        z = self.h0[u].copy()
        for et, (dst, src, coef, d_t) in self.edges.items():
            lo, hi = np.searchsorted(dst, u, "left"), np.searchsorted(dst, u, "right")
            s, c = src[lo:hi], coef[lo:hi]
            if drop is not None and et[0] == drop[0]:
                keep = s != drop[1]
                s, c = s[keep], c[keep]
            if len(s):
                z += (c[:, None] * self.basis[et[0]][s]).sum(0) / np.sqrt(len(s))
        return z

    def scores(self, z: np.ndarray, items: np.ndarray) -> np.ndarray:
        """The model's scores of ``items`` for a raw user vector."""
        v = z / np.linalg.norm(z) if self.cosine else z
        if self.bias:
            v = np.append(v, 1.0)
        return self.emb[self.item][items] @ v


def exact_scores(model, inputs, u: int, drop: tuple[str, int], items: np.ndarray) -> np.ndarray:
    """Scores with every edge between user ``u`` and ``drop`` removed from the whole graph and
    everything propagated again."""
    import torch

    from kgrec.gnn.models.propagation import BlockGraph

    g = inputs.graph
    user = inputs.user_type
    edge_index = {}
    for et in g.edge_types:
        ei = g[et].edge_index
        cut = torch.zeros(ei.shape[1], dtype=torch.bool)
        if et[0] == user and et[2] == drop[0]:
            cut |= (ei[0] == u) & (ei[1] == drop[1])
        if et[2] == user and et[0] == drop[0]:
            cut |= (ei[1] == u) & (ei[0] == drop[1])
        edge_index[tuple(et)] = ei[:, ~cut]
    num_nodes = {nt: int(g[nt].num_nodes) for nt in g.node_types}
    old = model.blocks
    model.blocks = BlockGraph(num_nodes, edge_index, norm=old.norm, group=lambda et: old.group_of.get(et, et))
    try:
        with torch.no_grad():
            emb = {nt: v.detach().double().numpy() for nt, v in model.compute_embeddings().items()}
    finally:
        model.blocks = old
    return emb[inputs.item_type][items] @ emb[user][u]


def control_anchor(index, user_label: str, u: int, item_label: str, item: int, step: int, hops: int, rng):
    """A random neighbour of the user along ``step`` that starts a path of ``hops`` hops to the item."""
    from kgrec.serving.index import MASK

    keys, steps = index.neighbourhood(user_label, u)
    cand = np.unique(keys[steps == step])
    item_key = index.key(item_label, item)
    cand = cand[cand != item_key]
    if not len(cand) or hops < 2:
        return None
    around = np.unique(index.neighbourhood(item_label, item)[0])
    if hops == 2:
        cand = cand[np.isin(cand, around)]
    else:
        label = index.unkey(int(cand[0]))[0]
        pos, nk, _, _ = index.gather(label, cand & MASK)
        ok = np.isin(nk, around) & (nk != index.key(user_label, u)) & (nk != cand[pos])
        cand = cand[np.unique(pos[ok])]
    if not len(cand):
        return None
    return index.unkey(int(cand[rng.integers(len(cand))]))


def measure(rec, side, model, inputs, args):
    """Every explanation of the drawn users' lists, taken out in the propagation, with its control."""
    from kgrec.serving.explain_report import sample_users
    from kgrec.serving.fidelity import Fidelity

    index = rec.index
    user_label, item_label = rec.user_label, rec.item_label
    fold = Fidelity(rec)
    rows = defaultdict(list)  # kind -> [(drop, control drop or nan, left top-k, control left)]
    agreement = []  # (fold-in drop, propagation drop) on training-interaction paths
    checks, margins = [], []
    for user in sample_users(rec, args.users, seed=args.seed, users_from=args.users_from):
        u = index.row(user_label, user)
        rng = np.random.default_rng([args.seed, u])
        recs = rec.recommend(user, args.k, max_paths=args.max_paths)
        seen = index.neighbours(user_label, u, index.step_index(rec.interaction, "out"))
        candidates = np.setdiff1d(rec.scorer.recommendable_rows(), seen)
        base = side.scores(side.raw(u), candidates)
        threshold = np.sort(base)[-args.k - 1] if len(base) > args.k else -np.inf
        at = {int(r): i for i, r in enumerate(candidates)}
        keys, steps = index.neighbourhood(user_label, u)
        mine = []
        for r, found in zip(recs, fold.measure(user, recs, k=args.k, controls=False)):
            item = index.row(item_label, r.item.id)
            for e, f in zip(r.explanations, found):
                node = e.path.nodes[1]
                anchor = (node.label, index.row(node.label, node.id))
                after = side.scores(side.raw(u, anchor), candidates)
                drop = base[at[item]] - after[at[item]]
                left = bool((after > after[at[item]]).sum() + 1 > args.k)
                step = int(steps[keys == index.key(*anchor)][0])
                c = control_anchor(index, user_label, u, item_label, item, step, e.path.hops, rng)
                c_drop, c_left = float("nan"), False
                if c is not None:
                    c_after = side.scores(side.raw(u, c), candidates)
                    c_drop = base[at[item]] - c_after[at[item]]
                    c_left = bool((c_after > c_after[at[item]]).sum() + 1 > args.k)
                    mine.append(drop - c_drop)
                kind = f"{e.path.relations[0].type} ({e.path.relations[0].direction})"
                rows[kind].append((drop, c_drop, left, c_left))
                if f.effect.kind == "interaction":
                    agreement.append((f.effect.drop, drop))
                if len(checks) < args.check and drop > 0 and base[at[item]] > threshold:
                    exact = exact_scores(model, inputs, u, anchor, np.array([item]))[0]
                    checks.append((kind, base[at[item]] - exact, drop))
        if mine:
            margins.append(float(np.mean(mine)))
    return rows, agreement, checks, margins


def summarise(rows, agreement, checks, margins, rec, args) -> dict:
    """Print one scoring's figures (markdown) and return them."""
    out = {"kinds": {}, "user_margin": float(np.mean(margins)) if margins else None,
           "users_path_wins": float(np.mean([m > 0 for m in margins])) if margins else None}
    print(f"\nscoring {rec.explainer.scoring}: per user, path drop − control drop = {out['user_margin']:.4f} on "
          f"average, positive for {100 * out['users_path_wins']:.1f}% of users\n")
    print("| first hop | paths | path drop | control drop | path beats control | left top-k | control left top-k |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, xs in sorted(rows.items(), key=lambda kv: -len(kv[1])) + [("all", [x for v in rows.values() for x in v])]:
        a = np.array(xs, dtype=float)
        paired = a[~np.isnan(a[:, 1])]
        beats = float((paired[:, 0] > paired[:, 1]).mean()) if len(paired) else float("nan")
        figures = {"paths": len(a), "drop": float(a[:, 0].mean()), "paired": len(paired),
                   "control_drop": float(paired[:, 1].mean()) if len(paired) else None, "beats_control": beats,
                   "left_top_k": float(a[:, 2].mean()), "control_left_top_k": float(paired[:, 3].mean())
                   if len(paired) else None}
        out["kinds"][kind] = figures
        print(f"| {kind} | {len(a)} | {figures['drop']:.4f} | "
              f"{'n/a' if figures['control_drop'] is None else format(figures['control_drop'], '.4f')} | "
              f"{100 * beats:.1f}% | {100 * figures['left_top_k']:.1f}% | "
              f"{'n/a' if figures['control_left_top_k'] is None else format(100 * figures['control_left_top_k'], '.1f') + '%'} |")
    if agreement:
        a = np.array(agreement)
        r = float(np.corrcoef(a[:, 0], a[:, 1])[0, 1])
        out["fold_in_agreement"] = {"paths": len(a), "pearson": r, "fold_in_mean": float(a[:, 0].mean()),
                                    "propagation_mean": float(a[:, 1].mean())}
        print(f"\nlistening paths: fold-in drop vs propagation drop, {len(a)} paths: Pearson r = {r:.3f}; means "
              f"{a[:, 0].mean():.4f} (fold-in) and {a[:, 1].mean():.4f} (propagation)")
    if checks:
        out["exact_checks"] = [{"kind": k, "exact_drop": float(x), "first_order_drop": float(y)} for k, x, y in checks]
        print("whole-graph recomputation vs first order: " + "; ".join(f"{k}: {x:.4f} vs {y:.4f}" for k, x, y in checks))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--users", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--max-paths", type=int, default=3)
    ap.add_argument("--from", dest="users_from", default="test")
    ap.add_argument("--scorings", default="geometric", help="path scorings, comma-separated")
    ap.add_argument("--check", type=int, default=8, help="paths recomputed over the whole graph")
    ap.add_argument("--short-items", action="store_true", help="text: short documents of the items only "
                    "(how the test fixtures train), else the default TextConfig (how `kgrec train` trains)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    import torch

    from kgrec.gnn import Run
    from kgrec.kg.sources import load_dataset
    from kgrec.serving import Recommender
    from kgrec.text import TextConfig

    torch.set_num_threads(1)
    started = time.perf_counter()
    run = Run.load(args.run)
    kg = load_dataset(run.graph)
    text = TextConfig(documents="short", labels="items") if args.short_items else TextConfig()
    model, inputs = rebuild(run, kg, text)
    side = UserSide(model, inputs)
    user_label, item_label = inputs.user_type, inputs.item_type
    check = max(float(np.abs(side.emb[user_label] - run.node_vectors[user_label]).max()),
                float(np.abs(side.emb[item_label] - run.node_vectors[item_label]).max()))
    decomposition = float(np.abs(np.stack([side.raw(u) for u in range(min(200, len(side.full)))])
                                 - side.full[:200]).max())
    print(f"rebuilt {run.model} in {time.perf_counter() - started:.0f} s: largest difference from the run's vectors "
          f"{check:.2e}; from the edge decomposition of the users' raw vectors {decomposition:.2e}", flush=True)

    out = {"run": args.run.name, "model": run.model, "graph": run.graph, "users": args.users, "seed": args.seed,
           "users_from": args.users_from, "k": args.k, "rebuild_max_diff": check, "scorings": {}}
    index = None
    for scoring in args.scorings.split(","):
        rec = Recommender(run, kg, scoring=scoring, **({"index": index} if index is not None else {}))
        index = rec.index
        rows, agreement, checks, margins = measure(rec, side, model, inputs, args)
        out["scorings"][scoring] = summarise(rows, agreement, checks, margins, rec, args)
    print(f"\n{time.perf_counter() - started:.0f} s in all")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
