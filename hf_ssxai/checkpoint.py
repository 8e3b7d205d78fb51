"""Checkpoint plumbing: weight fingerprints, safe file lookup (local or Hub), loading a checkpoint's parts (scorer
config, classifier, processor) and atomic saves.

Only safetensors are ever read, and no code from a checkpoint is ever run. Saves are atomic (``hf_ssxai.saving``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
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
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import repo_folder_name
from huggingface_hub.utils import validate_repo_id
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn
from torch.distributed.tensor import DTensor
from transformers import AutoConfig, PreTrainedModel

from .configuration import ScorerConfig
from .errors import CheckpointError, FingerprintMismatchError, SSXAIError, UnsafeCheckpointError
from .modalities import Modality, get_modality, infer_modality
from .saving import interrupted_saves
from .sizes import (
    Header,
    build_on_meta,
    check_against_header,
    check_layer_counts,
    check_parameter_count,
    read_json_object,
)

logger = logging.getLogger(__name__)

SCORER_SUBFOLDER = "scorer"
SAFE_WEIGHTS_NAME = "model.safetensors"
#: the JSON files a tokenizer or processor is read from
PROCESSOR_JSON_FILES = (
    "tokenizer_config.json",
    "tokenizer.json",
    "special_tokens_map.json",
    "preprocessor_config.json",
    "processor_config.json",
)
PICKLE_WEIGHTS_NAMES = ("pytorch_model.bin", "model.bin", "model.pt", "model.pth", "model.ckpt")


def fingerprint(module: nn.Module) -> str:
    """A hash of every tensor in the module's state dict (names, dtypes, shapes and bytes).

    Two classifiers share a fingerprint only if they hold the same weights in the same dtype. Parameters sharded by
    FSDP are gathered whole first (a collective: every process must call this then).
    """
    hasher = hashlib.blake2b(digest_size=16)
    for name, tensor in sorted(module.state_dict().items()):
        tensor = tensor.full_tensor() if isinstance(tensor, DTensor) else tensor
        tensor = tensor.detach().to("cpu").contiguous()
        hasher.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}".encode())
        hasher.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return hasher.hexdigest()


def state_dict_part(state_dict: Mapping[str, torch.Tensor] | None, prefix: str) -> dict[str, torch.Tensor] | None:
    """The entries of ``state_dict`` under ``prefix`` (e.g. ``"scorer."``), without it; None when there are none."""
    part = {name[len(prefix) :]: tensor for name, tensor in (state_dict or {}).items() if name.startswith(prefix)}
    return part or None


def hub_repo_id(name: str | os.PathLike | None) -> str | None:
    """``name`` if it names a Hub repository, None if it is a local path (absolute, home- or dot-relative, with a
    backslash, or an existing file or folder) or no valid repo id: only such names go into configs and cards."""
    name = os.fspath(name) if name is not None else None
    if not name or os.path.isabs(name) or name.startswith(("~", ".")) or "\\" in name or os.path.exists(name):
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def _offline_problem(repo_id: str, revision: str | None, cache_dir: str | os.PathLike | None) -> str | None:
    """Why the local cache cannot serve ``repo_id`` at ``revision`` (None when it holds that revision): the repository
    or the revision is missing from it."""
    cache = Path(cache_dir or huggingface_hub.constants.HF_HUB_CACHE)
    folder = cache / repo_folder_name(repo_id=repo_id, repo_type="model")
    if not folder.is_dir():
        return f"it is not in the local Hugging Face cache ({cache})"
    wanted = revision or "main"
    if not ((folder / "refs" / wanted).is_file() or (folder / "snapshots" / wanted).is_dir()):
        return f"the local Hugging Face cache ({cache}) holds it, but not its revision {wanted!r}"
    return None


def resolve_file(
    path_or_repo: str | os.PathLike,
    filename: str,
    *,
    revision: str | None = None,
    **hub_kwargs,
) -> str | None:
    """Local path of ``filename`` in a folder or a Hub repo (downloaded or from the cache); None if the folder or the
    repository has no such file.

    A repository or revision that does not exist, or that the local cache lacks while the Hub cannot be asked
    (offline mode, ``local_files_only=True``, no connection), is a :class:`CheckpointError` that says which.
    """
    if os.path.isdir(path_or_repo):
        candidate = os.path.join(path_or_repo, filename)
        return candidate if os.path.isfile(candidate) else None
    repo_id = str(path_or_repo)
    at_revision = f" at revision {revision!r}" if revision else ""
    try:
        return hf_hub_download(repo_id, filename, revision=revision, **hub_kwargs)
    except LocalEntryNotFoundError as error:
        problem = _offline_problem(repo_id, revision, hub_kwargs.get("cache_dir"))
        if problem is None:  # the cached revision simply lacks the file
            return None
        raise CheckpointError(
            f"Cannot load {repo_id}{at_revision}: {problem}, and the Hub cannot be asked (HF_HUB_OFFLINE=1, "
            "local_files_only=True or no connection). Download it where the Hub is reachable (`hf download "
            f"{repo_id}{f' --revision {revision}' if revision else ''}`) and copy the cache, or give the folder "
            "save_pretrained() wrote."
        ) from error
    except EntryNotFoundError:
        return None
    except RevisionNotFoundError as error:
        raise CheckpointError(
            f"The Hub repository {repo_id} has no revision {revision!r} (a branch, tag or commit); check the name, or "
            "leave revision out for main."
        ) from error
    except RepositoryNotFoundError as error:
        raise CheckpointError(
            f"No Hub repository {repo_id} (or it is private or gated: pass token= or log in with `hf auth login`). "
            "Check the repo id, or give the folder that save_pretrained() wrote."
        ) from error
    except HFValidationError as error:
        raise CheckpointError(
            f"No hf_ssxai checkpoint at {repo_id}: no such folder, and not a Hub repo id ({error}). Give the folder "
            "that save_pretrained() wrote, or a repo id such as user/model."
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


def classifier_class(auto_class: type, config: Any) -> type:
    """What loads a classifier of ``config``: ``auto_class`` (its modality's Auto class, or a model class), or the
    transformers class the config names when that Auto class does not know it (ImageGPT's image classifier reads
    token ids, as text classifiers do). Only transformers' own classes: no code from a checkpoint is run."""
    mapping = getattr(auto_class, "_model_mapping", None)
    if mapping is None:
        return auto_class
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


def report_interrupted_saves(source: str) -> None:
    """Warn about staging folders an interrupted save left beside a local checkpoint; when the checkpoint itself is
    missing because of one, raise a :class:`CheckpointError` naming them."""
    leftovers = interrupted_saves(source)
    if not leftovers:
        return
    names = ", ".join(str(path) for path in leftovers)
    if not os.path.isdir(source):
        raise CheckpointError(
            f"No checkpoint at {source}: a save of it was interrupted and left {names} (a complete checkpoint, old or "
            "new). Load or rename the one you want to the folder's name, or save again."
        )
    logger.warning(
        "A save of %s that is running or was interrupted left %s; the checkpoint itself is whole. The next "
        "save_pretrained() there removes what an ended process left, or delete them yourself.",
        source,
        names,
    )


def load_scorer_config(source: str, hub: dict[str, Any]) -> ScorerConfig:
    """``scorer/config.json`` of a folder or Hub repo, checked: no custom code (``auto_map``), every field valid, and
    attached (modality and hidden sizes known)."""
    report_interrupted_saves(source)
    config_file = resolve_file(source, f"{SCORER_SUBFOLDER}/config.json", **hub)
    if config_file is None:
        raise CheckpointError(
            f"{source} has no scorer/config.json, so it is not an hf_ssxai checkpoint. To attach a new "
            "scorer to a plain classifier use AutoModelWithScorer.from_classifier(classifier)."
        )
    try:
        raw = json.loads(Path(config_file).read_text(encoding="utf-8"))
        if isinstance(raw, dict) and "auto_map" in raw:
            raise UnsafeCheckpointError(
                f"Scorer config {config_file} asks for custom code (auto_map); a scorer is built only from "
                "hf_ssxai's own classes and no code from a checkpoint is ever run. Remove auto_map."
            )
        config = ScorerConfig.from_json_file(config_file)
    except UnsafeCheckpointError:
        raise
    except Exception as error:  # JSON syntax or strict field validation: both mean a bad file
        raise CheckpointError(f"Invalid scorer config {config_file}: {error}") from error
    if config.modality is None or config.classifier_hidden_sizes is None:
        raise CheckpointError(
            f"Scorer config {config_file} lacks modality or classifier_hidden_sizes; it was not written by "
            "save_pretrained(). Save the scorer again."
        )
    config.fill_defaults({})  # a config saved before a field existed was built with that field's fallback
    return config


def _classifier_weight_files(source: str, hub: dict[str, Any]) -> list[str] | None:
    """Local paths of the classifier's safetensors files (one, or the shards its index names); None when there is
    no safetensors file."""
    single = resolve_file(source, SAFE_WEIGHTS_NAME, **hub)
    if single is not None:
        return [single]
    index = resolve_file(source, f"{SAFE_WEIGHTS_NAME}.index.json", **hub)
    if index is None:
        return None
    weight_map = read_json_object(index, "The weights index").get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise CheckpointError(f"The weights index {index} has no weight_map; save or download the checkpoint again.")
    files = [resolve_file(source, str(name), **hub) for name in sorted(set(map(str, weight_map.values())))]
    if None in files:
        raise CheckpointError(f"{source} lacks shards its weights index names; save or download it again.")
    return [file for file in files if file is not None]


def _loading_error(source: str, error: Exception) -> CheckpointError:
    """What transformers raised while reading a classifier or its processor, as a typed error."""
    if isinstance(error, ValueError) and "trust_remote_code" in str(error):
        return UnsafeCheckpointError(
            f"The classifier at {source} needs custom code from the repository; hf_ssxai never runs "
            "remote code. Use a classifier architecture and processor that transformers ships."
        )
    return CheckpointError(
        f"Cannot load the classifier at {source}: {error}. The files are incomplete, corrupted or do not fit each "
        "other; save or download the checkpoint again."
    )


def load_classifier(source: str, modality: Modality, hub: dict[str, Any]) -> nn.Module:
    """The classifier of a folder or Hub repo, from safetensors only, with transformers' own classes only, in the
    dtype it was saved in (its fingerprint is checked against that).

    Its config is checked against the weights file's header first (:mod:`hf_ssxai.sizes`): a config describing
    another network is refused before anything is allocated.
    """
    files = _classifier_weight_files(source, hub)
    if files is None:
        refuse_pickles(source, "", **hub)
    config_file = resolve_file(source, "config.json", **hub)
    if config_file is None:
        raise CheckpointError(f"{source} has no config.json, so it holds no transformers classifier.")
    raw_config = read_json_object(config_file, "The classifier config")
    where = f"The classifier at {source}"
    header = Header(files or [])
    if files is not None:
        check_layer_counts(raw_config, header, where)
    model_class = modality.auto_model_class  # an Auto class, or one model class (a registered modality's)
    concrete = getattr(model_class, "config_class", None)
    try:
        if concrete is None:
            config = AutoConfig.from_pretrained(source, trust_remote_code=False, **hub)
        else:
            config = concrete.from_pretrained(source, **hub)
    except Exception as error:  # transformers' errors for a config it cannot read: all mean a bad checkpoint
        raise _loading_error(source, error) from error
    if concrete is None:  # an Auto class: it loads the config's class, or the config names the class to use
        model_class = classifier_class(model_class, config)
    is_auto = getattr(model_class, "_model_mapping", None) is not None
    if files is not None:
        build = (lambda: model_class.from_config(config)) if is_auto else (lambda: model_class(config))
        check_parameter_count(build_on_meta(build, where), header, where)
    try:
        classifier = model_class.from_pretrained(
            source, config=config, use_safetensors=True, trust_remote_code=False, **hub
        )
    except Exception as error:  # size mismatches, unreadable weights, remote code: all typed
        raise _loading_error(source, error) from error
    realign(classifier)
    return classifier


def check_scorer_weights(config: ScorerConfig, modality: Modality, weights_file: str) -> None:
    """Refuse scorer weights that do not fit the network the scorer config describes (names, shapes, integer weights
    where the network holds floats), reading only the file's header and building the network on ``meta``."""
    where = f"The scorer weights {weights_file}"
    header = Header([weights_file])
    check_layer_counts({"num_hidden_layers": config.num_hidden_layers}, header, where)
    check_against_header(build_on_meta(lambda: modality.build_scorer(config), where), header, where)


def check_modality(classifier: nn.Module, config: ScorerConfig, source: str) -> None:
    """Refuse a scorer whose modality the classifier does not take (an image scorer on a text classifier)."""
    try:
        taken = get_modality(infer_modality(classifier)).parts
    except SSXAIError as error:
        raise CheckpointError(f"The scorer of {source} cannot explain this classifier: {error}") from error
    if not set(get_modality(str(config.modality)).parts) <= set(taken):
        raise CheckpointError(
            f"The scorer of {source} explains {config.modality} classifiers, but {type(classifier).__name__} takes "
            f"{', '.join(taken)}. Load the classifier it was trained on."
        )


def load_base_classifier(
    source: str, config: ScorerConfig, modality: Modality, hub: dict[str, Any]
) -> tuple[nn.Module, Any]:
    """Classifier and processor of the base model a scorer-only checkpoint names, at its pinned revision.

    The base of a local scorer may be a folder; the base of a Hub scorer is looked up on the Hub only: a name that
    points at local files, or that a folder in the working directory would shadow, is an
    :class:`UnsafeCheckpointError`.
    """
    base = str(config.base_model_name_or_path)
    if not os.path.isdir(source) and hub_repo_id(base) is None:
        shadowed = os.path.exists(base) and not os.path.isabs(base) and not base.startswith(("~", "."))
        problem = (
            f"names the Hub repository {base!r} as its base classifier, but a local folder of that name "
            f"({os.path.abspath(base)}) would be loaded in its place"
            if shadowed
            else f"names a local path as its base classifier ({base!r}); a downloaded checkpoint may only name a "
            "Hub repository"
        )
        raise UnsafeCheckpointError(
            f"The Hub scorer {source} {problem}. Pass the classifier yourself: from_pretrained(repo, "
            "classifier=clf)" + (", or load from another working directory." if shadowed else ".")
        )
    base_hub = {**hub, "revision": config.base_model_revision}
    return load_classifier(base, modality, base_hub), load_processor(base, modality, base_hub)


def load_processor(source: str, modality: Modality, hub: dict[str, Any]) -> Any:
    """The tokenizer or image processor saved in a folder or Hub repo, None when there is none.

    Its JSON files must each hold a JSON object, and whatever transformers raises reading them is a
    :class:`CheckpointError` (:class:`UnsafeCheckpointError` where they ask for custom code, which never runs).
    """
    if resolve_file(source, modality.processor_file, **hub) is None:
        return None
    for name in PROCESSOR_JSON_FILES:
        if (path := resolve_file(source, name, **hub)) is not None:
            read_json_object(path, "The processor file")
    try:
        return modality.processor_class.from_pretrained(source, trust_remote_code=False, **hub)
    except Exception as error:  # transformers' and tokenizers' errors for broken files: all mean a bad checkpoint
        raise _loading_error(source, error) from error


def check_weights(tensors: Iterable[tuple[str, torch.Tensor]], where: str) -> None:
    """Refuse weights that would only ever give NaN: a floating-point tensor holding NaN or Inf."""
    for name, tensor in tensors:
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise CheckpointError(
                f"{name} in {where} holds NaN or Inf, so every output would be NaN. The file is corrupted or training "
                "diverged: save or download the checkpoint again, or retrain."
            )


def check_fingerprint(classifier: nn.Module, expected: str | None, ignore_mismatch: bool) -> None:
    """Refuse (or, with ``ignore_mismatch``, warn about) a classifier whose weights are not those a scorer was trained
    against (``expected``: the scorer config's fingerprint). A missing fingerprint is refused (or warned about) too."""
    if expected is None:
        message = (
            "The scorer config has no base_model_fingerprint, so nothing shows that this classifier is the one the "
            "scorer was trained against: a scorer copied from another classifier would explain it wrongly. Use a "
            "checkpoint written by save_pretrained(), retrain the scorer with from_classifier(), or pass "
            "ignore_fingerprint_mismatch=True to load anyway."
        )
        if not ignore_mismatch:
            raise FingerprintMismatchError(message)
        logger.warning(message)
        return
    actual = fingerprint(classifier)
    if actual == expected:
        return
    message = (
        f"The classifier's weights (fingerprint {actual}) differ from those the scorer was trained "
        f"against ({expected}): its explanations would not describe this classifier. Load the "
        "matching classifier (same weights and dtype), retrain the scorer, or pass "
        "ignore_fingerprint_mismatch=True to load anyway."
    )
    if not ignore_mismatch:
        raise FingerprintMismatchError(message)
    logger.warning(message)
