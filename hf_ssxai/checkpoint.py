"""Checkpoint plumbing: weight fingerprints, safe file lookup (local or Hub) and atomic saves.

Only safetensors are ever read. A save is written completely into a temporary folder beside the
destination and moved into place only once it is whole, so a failure midway leaves the previous
checkpoint as it was.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import huggingface_hub
import torch
import transformers
from huggingface_hub import HfApi, hf_hub_download, try_to_load_from_cache
from huggingface_hub.errors import (
    EntryNotFoundError,
    HFValidationError,
    LocalEntryNotFoundError,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from transformers import AutoConfig, PreTrainedModel

from .errors import CheckpointError, UnsafeCheckpointError

SCORER_SUBFOLDER = "scorer"
SAFE_WEIGHTS_NAME = "model.safetensors"
PICKLE_WEIGHTS_NAMES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "model.ckpt")


def fingerprint(module: nn.Module) -> str:
    """A hash of every tensor in the module's state dict (names, dtypes, shapes and bytes).

    Two classifiers share a fingerprint only if they hold the same weights in the same dtype.
    """
    hasher = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.detach().to("cpu").contiguous()
        hasher.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()


def resolve_file(
    path_or_repo: str | os.PathLike,
    filename: str,
    *,
    revision: str | None = None,
    **hub_kwargs,
) -> str | None:
    """Local path of ``filename`` in a folder or a Hub repo (downloaded or from the cache); None if absent."""
    if os.path.isdir(path_or_repo):
        candidate = os.path.join(path_or_repo, filename)
        return candidate if os.path.isfile(candidate) else None
    try:
        return hf_hub_download(str(path_or_repo), filename, revision=revision, **hub_kwargs)
    except (EntryNotFoundError, RemoteEntryNotFoundError, LocalEntryNotFoundError):
        return None
    except (HFValidationError, RepositoryNotFoundError, RevisionNotFoundError) as error:
        at_revision = f" at revision {revision}" if revision else ""
        raise CheckpointError(
            f"No hf_ssxai checkpoint at {path_or_repo}: no such folder, and no Hub repository of that name"
            f"{at_revision} ({error}). Give the folder that save_pretrained() wrote, or a repo id such as user/model."
        ) from error


def file_present(path_or_repo: str | os.PathLike, filename: str, *, revision: str | None = None, **hub_kwargs) -> bool:
    """Whether ``filename`` exists in a folder or a Hub repo, without downloading it (offline: the cache knows)."""
    if os.path.isdir(path_or_repo):
        return os.path.isfile(os.path.join(path_or_repo, filename))
    cached = try_to_load_from_cache(
        str(path_or_repo), filename, revision=revision, cache_dir=hub_kwargs.get("cache_dir")
    )
    if isinstance(cached, str):
        return True
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        return False
    return HfApi(token=hub_kwargs.get("token")).file_exists(str(path_or_repo), filename, revision=revision)


def refuse_pickles(path_or_repo: str | os.PathLike, subfolder: str, **hub_kwargs) -> None:
    """Raise a clear error when a folder offers only pickle weights (which we never download, let alone load)."""
    for name in PICKLE_WEIGHTS_NAMES:
        if file_present(path_or_repo, f"{subfolder}/{name}" if subfolder else name, **hub_kwargs):
            raise UnsafeCheckpointError(
                f"{path_or_repo}/{subfolder} holds only pickle weights ({name}); hf_ssxai loads safetensors "
                "only, because unpickling can run arbitrary code. Re-save the weights with safetensors."
            )


def load_safetensors(path: str) -> dict[str, torch.Tensor]:
    """Read a safetensors file, turning a truncated or corrupted file into a :class:`CheckpointError`."""
    try:
        return load_file(path, device="cpu")
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"Cannot read {path}: {error}. The file is truncated or corrupted; save the scorer again or "
            "download the checkpoint again."
        ) from error


def classifier_loader(source: str, auto_class: type, hub: dict[str, Any]) -> type:
    """What loads the classifier at ``source``: ``auto_class`` (its modality's Auto class, or a model class), or the
    transformers class its config names when that Auto class does not know it (ImageGPT's image classifier reads
    token ids, as text classifiers do). Only transformers' own classes: no code from a checkpoint is run."""
    mapping = getattr(auto_class, "_model_mapping", None)
    if mapping is None:
        return auto_class
    config = AutoConfig.from_pretrained(source, trust_remote_code=False, **hub)
    if type(config) in mapping:
        return auto_class
    for name in config.architectures or ():
        model_class = getattr(transformers, name, None)
        if isinstance(model_class, type) and issubclass(model_class, PreTrainedModel):
            return model_class
    return auto_class


#: the alignment, in bytes, of the memory CPU kernels vectorize over (PyTorch's allocator gives every tensor it)
ALIGNMENT = 64


def realign(module: nn.Module) -> None:
    """Copy into fresh memory every CPU parameter and buffer that lies at an address not a multiple of
    :data:`ALIGNMENT` (safetensors leaves tensors at their offsets in the file). CPU kernels reduce unaligned memory
    in another order (grouped convolutions do), so without this a reloaded model would not reproduce the saved one's
    outputs bit for bit. Tied weights stay tied (the shared parameter is copied once)."""
    with torch.no_grad():
        for tensor in (*module.parameters(), *module.buffers()):
            if tensor.device.type == "cpu" and tensor.numel() and tensor.data_ptr() % ALIGNMENT:
                tensor.data = tensor.data.clone()


@contextmanager
def atomic_directory(destination: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder; once the block succeeds, move its files into ``destination``.

    Files already in ``destination`` that the new save does not write are left alone, except weight
    files (``*.safetensors`` and their index) in the folders the save writes, which would otherwise
    mix an old sharded checkpoint with the new one.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.saving-", dir=destination.parent))
    try:
        yield staging
        for folder in sorted({p.parent for p in staging.rglob("*") if p.is_file()}):
            target_folder = destination / folder.relative_to(staging)
            if target_folder.is_dir():
                for stale in [*target_folder.glob("*.safetensors"), *target_folder.glob("*.safetensors.index.json")]:
                    if not (folder / stale.name).exists():
                        stale.unlink()
        for source in sorted(p for p in staging.rglob("*") if p.is_file()):
            target = destination / source.relative_to(staging)
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
