"""Training on several processes and machines with ``torchrun``: PyTorch DDP, each rank on its own
shard of the positive pairs.

Launch on one machine (2 processes; ``gloo`` on CPU, ``nccl`` when every rank has a GPU)::

    torchrun --nproc-per-node 2 -m kgrec.gnn.distributed lastfm --out runs/lastfm-ddp --set model=lightgcn

On several machines, the same command on each, with torchrun's usual rendezvous (``--nnodes``,
``--node-rank`` or a ``c10d`` rendezvous endpoint that every node can reach)::

    # on every node (here 2 nodes × 4 GPUs)
    torchrun --nnodes 2 --nproc-per-node 4 --rdzv-backend c10d --rdzv-endpoint node0:29500 \\
        --rdzv-id kgrec-42 -m kgrec.gnn.distributed movielens-small --out /shared/runs/ml-ddp

What each rank does:

- loads the same graph (``NAME``: a dataset name or path that ``load_dataset`` accepts, or a graph
  of a store with ``--store``), makes the same split and the same initial weights (DDP also
  broadcasts rank 0's weights when it wraps the model); rank 0 computes the text vectors first
  (the cache then serves the others);
- every epoch shuffles the training pairs with the run's seed (the same shuffle on every rank) and
  takes its own equal shard (``perm[rank::world]``); a step takes ``batch_size / world`` pairs,
  so the global batch, and the number of steps per epoch, match a one-process run; negatives and
  neighbour samples come from a generator of its own (seed, epoch, rank);
- DDP averages the gradients after every backward pass, so every rank takes the same optimizer
  step and the weights stay identical (``--sync-log DIR`` writes each rank's weight digest after
  every step to check it); sparse embedding gradients (sampled steps) travel over ``gloo``, and
  are made dense on ``nccl``, which has no sparse all-reduce;
- rank 0 alone validates, decides early stopping (every rank follows), writes checkpoints and the
  run directory. ``--resume`` continues from the checkpoint in ``--out``; every rank reads it, so
  with several machines ``--out`` must be on a filesystem they share.

Each rank holds the whole graph and every embedding table. That scales the *work* (pairs per
epoch) over the ranks, not the *memory*: the graph and the tables must fit one machine. Beyond
that, existing engines partition them, and kgrec does not rebuild one (no RPC layer of its own):
PyG's ``torch_geometric.distributed`` (deprecated since PyG 2.7; partitions the graph and its
features over machines with METIS and samples neighbours over RPC) and NVIDIA cuGraph /
cuGraph-PyG (graph storage and sampling on the GPUs over NCCL / WholeGraph, the path PyG now
points to for multi-GPU graphs) would add partitioned graph storage, remote neighbour sampling and
sharded embedding tables; both would plug in under :class:`~kgrec.gnn.sampling.NeighborBatches`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch

from kgrec.errors import ConfigError, KgrecError

logger = logging.getLogger(__name__)

#: How long a rank waits at a collective (a barrier while rank 0 evaluates, say) before giving up.
COLLECTIVE_TIMEOUT_S = 4 * 3600


@dataclass(frozen=True)
class Ranks:
    """This process's place in a ``torch.distributed`` process group.

    Args:
        rank: the global rank (0 validates, checkpoints and writes the run).
        world: how many ranks.
        local_rank: the rank on this machine (its GPU).
        backend: ``gloo`` or ``nccl``.
        device: where this rank trains.
    """

    rank: int
    world: int
    local_rank: int
    backend: str
    device: torch.device

    def wrap(self, module: torch.nn.Module, *, find_unused_parameters: bool,
             apart: Sequence[torch.nn.Parameter] = ()) -> torch.nn.Module:
        """``DistributedDataParallel(module)``: gradients all-reduced (averaged) after each backward.

        ``apart``: parameters DDP leaves alone, averaged by :meth:`reduce_sparse` after the backward
        instead (the sparse embedding gradients; rank 0's values are given to every rank here). The
        module itself when no other parameter needs a gradient.
        """
        import torch.distributed as dist
        from torch.nn.parallel import DistributedDataParallel

        apart_ids = {id(p) for p in apart}
        for p in apart:
            dist.broadcast(p.data, src=0)
        if not any(p.requires_grad and id(p) not in apart_ids for p in module.parameters()):
            return module
        # DDP takes the parameters that require a gradient when it is built: the others are hidden from it
        for p in apart:
            p.requires_grad_(False)
        try:
            return DistributedDataParallel(module, device_ids=None, broadcast_buffers=False,
                                           find_unused_parameters=find_unused_parameters)
        finally:
            for p in apart:
                p.requires_grad_(True)

    def reduce_sparse(self, params: Sequence[torch.nn.Parameter]) -> None:
        """Average the sparse gradients of ``params`` over the ranks, after the backward, with dense
        collectives only: each rank's rows and values are all-gathered (padded to the longest) and
        summed in rank order, so every rank builds the same gradient. A parameter without a gradient
        on this rank takes part with no rows.

        Why not DDP: its reducer all-reduces a sparse gradient asynchronously (gloo's sparse
        all-reduce) while the backward goes on, and 2 of 6 two-rank runs on the 100 k-user graph died
        of heap corruption there (``malloc(): unaligned tcache chunk detected``, rank 1 in the backward).
        Here nothing else runs while the tensors travel, and no sparse collective is used.
        """
        import torch.distributed as dist

        for p in params:
            g = p.grad
            if g is None:
                rows = torch.empty(0, dtype=torch.long, device=p.device)
                values = torch.empty(0, *p.shape[1:], dtype=p.dtype, device=p.device)
            else:
                g = g.coalesce()
                rows, values = g.indices()[0], g.values()
            counts = [torch.zeros(1, dtype=torch.long, device=p.device) for _ in range(self.world)]
            dist.all_gather(counts, torch.tensor([len(rows)], dtype=torch.long, device=p.device))
            counts = [int(c) for c in counts]
            longest = max(counts)
            if longest == 0:
                p.grad = None
                continue
            pad = longest - len(rows)
            rows = torch.cat([rows, rows.new_zeros(pad)])
            values = torch.cat([values, values.new_zeros((pad, *values.shape[1:]))])
            all_rows = [torch.empty_like(rows) for _ in range(self.world)]
            all_values = [torch.empty_like(values) for _ in range(self.world)]
            dist.all_gather(all_rows, rows)
            dist.all_gather(all_values, values)
            rows = torch.cat([r[:n] for r, n in zip(all_rows, counts)])
            values = torch.cat([v[:n] for v, n in zip(all_values, counts)]) / self.world
            p.grad = torch.sparse_coo_tensor(rows.unsqueeze(0), values, p.shape).coalesce()

    def _tensor(self, values) -> torch.Tensor:
        device = self.device if self.backend == "nccl" else torch.device("cpu")
        return torch.tensor(values, dtype=torch.float64, device=device)

    def sum(self, *values: float) -> tuple[float, ...]:
        """Each value summed over the ranks."""
        import torch.distributed as dist

        t = self._tensor(list(values))
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
        return tuple(float(v) for v in t.cpu())

    def agree(self, flag: bool) -> bool:
        """Rank 0's ``flag``, on every rank."""
        import torch.distributed as dist

        t = self._tensor([1.0 if flag else 0.0])
        dist.broadcast(t, src=0)
        return bool(t.item() > 0.5)

    def share(self, value: Any) -> Any:
        """Rank 0's (picklable) ``value``, on every rank."""
        import torch.distributed as dist

        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def barrier(self) -> None:
        import torch.distributed as dist

        dist.barrier()


def init_ranks(*, device: str = "auto", backend: str | None = None) -> Ranks:
    """Join the process group that ``torchrun`` describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``/``MASTER_PORT``): ``nccl`` on CUDA devices, ``gloo`` on CPUs (default)."""
    import torch.distributed as dist

    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        raise ConfigError("kgrec.gnn.distributed runs under torchrun: torchrun --nproc-per-node N -m "
                          "kgrec.gnn.distributed NAME --out DIR (RANK and WORLD_SIZE are not set)")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available() and device in ("auto", "cuda")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for, but torch sees no CUDA device; devices: auto, cpu")
    backend = backend or ("nccl" if cuda else "gloo")
    if cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        # rank 0 alone validates, tests and writes the run while the others wait at a barrier: on a
        # large graph that is longer than torch's default collective timeout
        dist.init_process_group(backend, timeout=timedelta(seconds=COLLECTIVE_TIMEOUT_S))
    dev = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    return Ranks(dist.get_rank(), dist.get_world_size(), local_rank, backend, dev)


def train_distributed(kg: Any, config: Any, *, ranks: Ranks, out: str | os.PathLike | None = None,
                      vectors: Any = None, resume: bool = False, progress: bool = False,
                      sync_log: str | os.PathLike | None = None) -> Any:
    """:func:`kgrec.gnn.train` on every rank of ``ranks``: the same preparation, DDP training on
    each rank's shard of the pairs; rank 0 tests the best epoch, writes the run directory and
    returns the :class:`~kgrec.gnn.Run` (the other ranks return None)."""
    from .checkpoint import remove_checkpoint
    from .registry import model_class
    from .train import CHECKPOINT, Trainer, default_run_dir, finish, prepare

    config = config.effective()
    main = ranks.rank == 0
    run_dir = Path(out) if out is not None else (default_run_dir(kg, config) if main else None)
    run_dir = Path(ranks.share(str(run_dir)))
    if main:  # rank 0 first: it fills the text cache that the others then read
        inputs, data = prepare(kg, config, vectors=vectors, progress=progress)
    ranks.barrier()
    if not main:
        inputs, data = prepare(kg, config, vectors=vectors)
    resuming = ranks.share(bool(resume and (run_dir / CHECKPOINT).is_file()))
    if resuming and not (run_dir / CHECKPOINT).is_file():
        raise KgrecError(f"rank {ranks.rank}: resuming, but {run_dir / CHECKPOINT} is not here: with several "
                         f"machines --out must be on a filesystem that every node sees")
    torch.manual_seed(config.seed)
    model = model_class(config.model)(inputs, config)
    trainer = Trainer(config, run_dir=run_dir, resume=resuming, progress=progress and main, ranks=ranks,
                      sync_log=sync_log)
    fit = trainer.fit(model, inputs)
    run = None
    if main:
        run = finish(kg, model, inputs, data, config, fit, trainer.device, vectors=vectors)
        extra = {**run.metrics.extra, "distributed": {"world": ranks.world, "backend": ranks.backend}}
        run = replace(run, metrics=replace(run.metrics, extra=extra)).save(run_dir)
        remove_checkpoint(run_dir)
        logger.info("%s → %s", run.summary(), run_dir)
    ranks.barrier()
    return run


def _load_graph(name: str, *, store: str | None, users: Path | None, dataset_args: list[str]):
    if store:
        from kgrec.kg.stores import open_store

        with open_store(store) as s:
            kg = s.read(graph=name)
    else:
        from kgrec.kg.sources import load_dataset

        kg = load_dataset(name, **_dataset_kwargs(dataset_args))
    if users is not None:
        ids = [line.strip() for line in users.read_text(encoding="utf-8").splitlines() if line.strip()]
        kg = kg.subgraph(ids)
    return kg


def _dataset_kwargs(items: list[str]) -> dict[str, Any]:
    """``["num_users=1000", "seed=3"]`` → ``{"num_users": 1000, "seed": 3}`` (YAML scalars)."""
    import yaml

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--dataset-arg {item!r}: expected KEY=VALUE, e.g. num_users=100000")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main(argv: list[str] | None = None) -> int:
    """``torchrun … -m kgrec.gnn.distributed NAME --out DIR [--set key=value …]``."""
    parser = argparse.ArgumentParser(prog="python -m kgrec.gnn.distributed",
                                     description="Train one model with PyTorch DDP; launch with torchrun.")
    parser.add_argument("name", help="a dataset name or path (load_dataset), or a graph of --store")
    parser.add_argument("--out", type=Path, default=None, help="the run directory (rank 0 writes it)")
    parser.add_argument("--store", default=None, help="read NAME from this store URL instead of load_dataset")
    parser.add_argument("--users", type=Path, default=None, help="a file of user ids, one a line: train on "
                                                                  "their subgraph")
    parser.add_argument("--dataset-arg", dest="dataset_args", action="append", default=[],
                        help="KEY=VALUE for load_dataset, e.g. num_users=100000 for synthetic (repeatable)")
    parser.add_argument("--config", type=Path, default=None, help="a YAML config (keys at the top or under train:)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="key=value (repeatable)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", default=None, help="auto | cpu | cuda")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads per rank")
    parser.add_argument("--sync-log", type=Path, default=None, help="write each rank's weight digest per step here")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s rank" + os.environ.get("RANK", "?")
                        + " %(name)s: %(message)s", stream=sys.stderr)
    from .config import load_config

    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        config = load_config(args.config, args.overrides, model=args.model, seed=args.seed, device=args.device)
        ranks = init_ranks(device=config.device)
        try:
            kg = _load_graph(args.name, store=args.store, users=args.users, dataset_args=args.dataset_args)
            run = train_distributed(kg, config, ranks=ranks, out=args.out, resume=args.resume,
                                    progress=args.progress, sync_log=args.sync_log)
            if run is not None:
                sys.stdout.write(f"{run.summary()}\nrun directory: {run.path}\n")
        finally:
            import torch.distributed as dist

            if dist.is_initialized():
                dist.destroy_process_group()
    except KgrecError as e:
        sys.stderr.write(f"error: {e}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
