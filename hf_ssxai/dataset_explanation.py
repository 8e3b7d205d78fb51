"""Explain a whole dataset: one row of prediction and explanation per input row, written as parquet shards as it goes.

    from hf_ssxai import explain_dataset

    explained = explain_dataset("user/sst2-bert-ssxai", "stanfordnlp/sst2", "sst2_explained", split="train",
                                text_column="sentence")
    explained[0]  # {'id': 0, 'prediction': 'positive', 'probability': 0.97, 'tokens': [...], 'words': [...], ...}

The rows are cut into shards of ``shard_size`` rows (shard ``k``: rows ``k * shard_size`` on); each shard is explained
``batch_size`` rows at a time, through the modality's own pipeline steps (``prepare_inputs``: texts truncated to
:func:`~hf_ssxai.truncation_length`; ``explanations``: tokens, words and word scores, or maps) and written
(:class:`~hf_ssxai.data.shards.ShardedOutput`) when complete. A run started again on the same folder skips the
complete shards. Under ``accelerate launch`` the processes share the shards (:mod:`hf_ssxai.data.parallel`): each
explains and writes its own, and the result, read back in shard order, has exactly the rows of a one-process run.
A streamed dataset (``streaming=True``, an ``IterableDataset``) is read as it is explained: memory holds one shard.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch
from datasets import Dataset, IterableDataset
from huggingface_hub import DatasetCard, DatasetCardData, HfApi
from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled
from tqdm.auto import tqdm

from .checkpoint import fingerprint
from .data.loading import load_dataset_splits
from .data.parallel import my_share, process_device, process_state
from .data.preprocess import truncation_length
from .data.shards import ShardedOutput
from .errors import InvalidInputError, SSXAIError
from .explainers import Explainer, check_methods, get_explainer
from .explainers.scorer import ScorerExplainer
from .metrics.functional import normalize_attributions
from .modalities import MAP_FORMATS, each_map
from .modeling import AutoModelWithScorer
from .version import __version__


def _load_model(model: AutoModelWithScorer | str | os.PathLike, device: str | None) -> AutoModelWithScorer:
    """The model (loaded when named), on this process's device, in eval mode, with a processor."""
    if isinstance(model, (str, os.PathLike)):
        model = AutoModelWithScorer.from_pretrained(model)
    elif not isinstance(model, AutoModelWithScorer):
        raise InvalidInputError(
            f"explain_dataset takes an AutoModelWithScorer, a checkpoint folder or a Hub repo id, not "
            f"{type(model).__name__}."
        )
    if model.processor is None:
        raise InvalidInputError(
            "The model has no tokenizer or image processor to read raw inputs with: save it with one "
            "(AutoModelWithScorer.from_classifier(..., processor=...))."
        )
    return model.to(process_device(device)).eval()


def _load_rows(dataset: Dataset | IterableDataset | str | os.PathLike, split: str, streaming: bool) -> Any:
    """The rows to explain: the dataset given, or split ``split`` of one named by a Hub id or a local path."""
    if isinstance(dataset, (Dataset, IterableDataset)):
        return dataset
    if isinstance(dataset, (str, os.PathLike)):
        return load_dataset_splits(str(dataset), split, streaming=streaming)[split]
    raise InvalidInputError(
        f"explain_dataset takes a datasets.Dataset, an IterableDataset, a Hub dataset id or a local path, not "
        f"{type(dataset).__name__}."
    )


def _shards(
    rows: Dataset | IterableDataset, shard_size: int, complete: Sequence[int]
) -> Iterator[tuple[int, dict | None]]:
    """Every shard number in order, with its rows (column -> values) when this process is to explain it, else None.

    A dataset with a length: the shards not complete yet are split between the processes with accelerate's
    ``split_between_processes`` (contiguous shares), and only their rows are read. A stream: it is read once in
    shards, process ``p`` of ``n`` explaining the missing shards ``k`` with ``k % n == p``."""
    done, state = set(complete), process_state()
    if isinstance(rows, Dataset):
        count = math.ceil(len(rows) / shard_size)
        mine = set(my_share([k for k in range(count) if k not in done]))
        for k in range(count):
            yield k, rows[k * shard_size : (k + 1) * shard_size] if k in mine else None
        return
    for k, batch in enumerate(rows.iter(batch_size=shard_size)):
        yield k, batch if k not in done and k % state.num_processes == state.process_index else None


class _BatchExplainer:
    """One batch of raw rows -> one output row each: id, prediction, its probability and the modality's columns."""

    def __init__(self, model: AutoModelWithScorer, explainer: Explainer, columns: dict[str, str], map_format: str):
        self.model, self.explainer, self.columns, self.map_format = model, explainer, columns, map_format
        self.modality, self.max_length = model.modality, truncation_length(model)
        self.dtype = next(model.classifier.parameters()).dtype
        # the Captum methods' maps are signed and unscaled: made comparable (absolute, min-max per row) as the
        # metrics do; the scorer's are already in [0, 1]
        self.normalize = not isinstance(explainer, ScorerExplainer)

    def items(self, rows: Mapping[str, list[Any]]) -> list[Any]:
        """The raw inputs of the rows: each one's value of the modality's column, or a dict per part."""
        parts = {part: rows[column] for part, column in self.columns.items()}
        if len(parts) == 1:
            return next(iter(parts.values()))
        return [dict(zip(parts, values, strict=True)) for values in zip(*parts.values(), strict=True)]

    def __call__(self, rows: Mapping[str, list[Any]], ids: Sequence[Any], offset: int) -> list[dict[str, Any]]:
        inputs, context = self.modality.prepare_inputs(self.items(rows), self.model.processor, offset, self.max_length)
        device = self.model.device
        inputs = {k: v.to(device, self.dtype) if v.is_floating_point() else v.to(device) for k, v in inputs.items()}
        output = self.explainer.attribute(inputs)
        maps = output.attributions
        if self.normalize:
            maps = each_map(normalize_attributions, maps, output.feature_mask)
        maps = each_map(lambda tensor: tensor.float().cpu(), maps)
        finite = each_map(lambda tensor: bool(torch.isfinite(tensor).all()), maps)
        if not (all(finite.values()) if isinstance(finite, Mapping) else finite):
            raise SSXAIError(
                f"{self.explainer.name} gave non-finite scores for rows {offset}-{offset + len(ids) - 1}: check the "
                "model on them (a NaN in its weights or inputs) before explaining the dataset."
            )
        feature_mask = each_map(lambda mask: mask.cpu(), output.feature_mask)
        explanations = self.modality.explanations(context, maps, feature_mask, offset, self.max_length)
        probabilities = output.logits.float().softmax(-1).cpu()
        id2label = self.model.config.id2label
        return [
            {
                "id": row_id,
                "prediction": id2label[int(target)],
                "probability": float(probabilities[index, int(target)]),
                **self.modality.explanation_columns(explanation, self.map_format),
            }
            for index, (row_id, target, explanation) in enumerate(zip(ids, output.target, explanations, strict=True))
        ]


def _describe_run(
    model: AutoModelWithScorer, rows: Any, dataset: Any, split: str, options: Mapping[str, Any]
) -> dict[str, Any]:
    """What the rows of a run are, for ``run.json`` (a resumed run must match it) and the dataset card."""
    named = isinstance(dataset, (str, os.PathLike))
    return {
        "model": model.config.name_or_path or type(model.classifier).__name__,
        "classifier_fingerprint": fingerprint(model.classifier),
        "scorer_fingerprint": fingerprint(model.scorer),
        "modality": model.modality.name,
        "dataset": str(dataset) if named else getattr(rows, "_fingerprint", None) or type(rows).__name__,
        "split": split if named else None,
        "truncation_length": truncation_length(model),
        "hf_ssxai": __version__,
        **options,
    }


def explain_dataset(
    model: AutoModelWithScorer | str | os.PathLike,
    dataset: Dataset | IterableDataset | str | os.PathLike,
    output_dir: str | os.PathLike,
    *,
    split: str = "train",
    streaming: bool = False,
    method: str = "scorer",
    text_column: str | None = None,
    image_column: str | None = None,
    id_column: str | None = None,
    map_format: str = "float16",
    batch_size: int = 32,
    shard_size: int = 1000,
    device: str | None = None,
    push_to_hub: str | None = None,
    private: bool | None = None,
    progress: bool = True,
) -> Dataset:
    """Explain every row of a dataset and return the explained rows as one ``datasets.Dataset`` (also kept in
    ``output_dir``: parquet shards under ``data/``, ``manifest.json``, ``run.json`` and a dataset card, README.md).

    Args:
        model: an :class:`AutoModelWithScorer` with its processor, or a checkpoint folder or Hub repo id of one.
        dataset: a ``datasets.Dataset`` or ``IterableDataset`` of raw inputs, or a Hub dataset id, a local folder or
            one local file (csv, tsv, json, jsonl, parquet), of which split ``split`` is explained.
        output_dir: where the shards go; a folder holding an unfinished run of the same model, data and options is
            resumed (its complete shards are kept, never explained again); one holding another run is refused.
        streaming: read a named dataset as it is explained (memory holds one shard, whatever the row count).
        method: ``"scorer"`` (one forward per batch) or any explainer name (``"saliency"``,
            ``"integrated_gradients"``...), whose maps are made comparable (absolute value, min-max per row).
        text_column, image_column: the raw-input columns (default: ``text``, ``image``).
        id_column: the column identifying each row (default: its position in the dataset).
        map_format: how a map over pixels is stored: ``"float16"`` (an array at the processed resolution) or
            ``"png"`` (an 8-bit greyscale image at that resolution).
        batch_size: rows explained at once; shard_size: rows per shard (the unit of writing and of resuming).
        device: where to run (default: under ``accelerate launch`` each process's own device, else cuda if
            available, else cpu).
        push_to_hub: a Hub dataset repo (``user/name``) to upload the result and its card to once complete.
        private: make that repo private when it is created.
        progress: show a progress bar (of the main process's rows).

    Each output row holds ``id``, ``prediction`` (the predicted label) and ``probability`` (its softmax
    probability), then the modality's columns: for text ``tokens``, ``token_scores`` (special tokens and padding
    excluded), ``words``, ``word_scores`` and ``truncated``; for images ``map``; for text-image both, prefixed
    ``text_`` and ``image_``.
    """
    if map_format not in MAP_FORMATS:
        raise InvalidInputError(f"map_format must be one of {', '.join(MAP_FORMATS)}, got {map_format!r}.")
    if batch_size < 1 or shard_size < 1:
        raise InvalidInputError(f"batch_size and shard_size must be positive, got {batch_size} and {shard_size}.")
    model = _load_model(model, device)
    [method] = check_methods([method], model)
    rows = _load_rows(dataset, split, streaming)
    columns = model.modality.raw_columns(text=text_column, image=image_column)
    available = list(rows.column_names or [])  # a stream may not know its columns before the first row
    if missing := [c for c in (*columns.values(), id_column) if c is not None and available and c not in available]:
        raise InvalidInputError(
            f"No column {missing[0]!r} in the dataset; its columns: {', '.join(available)}. Name the raw-input "
            "column with text_column= / image_column= (--text-column, --image-column) and the id with id_column=."
        )
    options = {"method": method, "columns": columns, "id_column": id_column, "map_format": map_format}
    store = ShardedOutput(output_dir, _describe_run(model, rows, dataset, split, {**options, "shard_size": shard_size}))
    state = process_state()
    with state.main_process_first():
        store.open(first=state.is_main_process)
    # every process splits the same list of shards left: read before any process writes one (else a process that
    # started late sees another's new shard as done, splits a shorter list and a shard falls between the two)
    complete = store.complete()
    state.wait_for_everyone()
    explain = _BatchExplainer(model, get_explainer(method, model), columns, map_format)
    shards = _explain_shards(rows, store, complete, explain, shard_size, batch_size, id_column, progress)
    state.wait_for_everyone()
    missing, failed_upload = sorted(set(range(shards)) - set(store.complete())), None
    if state.is_main_process and not missing:
        store.write_manifest(finished=True)
        dataset_card(store.run, store.load()).save(store.directory / "README.md")
        try:
            if push_to_hub:
                push_explanations(store.directory, push_to_hub, private=private)
        except SSXAIError as error:  # raised once every process is here: none is left waiting
            failed_upload = error
    state.wait_for_everyone()
    if failed_upload:
        raise failed_upload
    if missing:
        raise SSXAIError(
            f"Shards {missing[:5]} are missing from {store.directory}: processes on several machines need an output "
            "folder they all share (a network file system). Copy every machine's data/ into one folder and run the "
            "same command again on it to finish."
        )
    return store.load()


def _explain_shards(
    rows: Dataset | IterableDataset,
    store: ShardedOutput,
    complete: Sequence[int],
    explain: _BatchExplainer,
    shard_size: int,
    batch_size: int,
    id_column: str | None,
    progress: bool,
) -> int:
    """Explain and write this process's shards of those not ``complete`` when the run started; returns the number of
    shards of the dataset (complete or not, every process's)."""
    state = process_state()
    # the main process's bar: about its share of the rows left (a stream's length is unknown)
    left = len(rows) - len(complete) * shard_size if isinstance(rows, Dataset) else None
    total = None if left is None else math.ceil(max(left, 0) / state.num_processes)
    shards = 0
    with tqdm(total=total, desc="explain", unit="row", disable=not (progress and state.is_main_process)) as bar:
        for index, shard in _shards(rows, shard_size, complete):
            shards = index + 1
            if shard is None:
                continue
            count, first = len(next(iter(shard.values()))), index * shard_size
            ids = shard[id_column] if id_column else list(range(first, first + count))
            records = []
            for start in range(0, count, batch_size):
                batch = {column: values[start : start + batch_size] for column, values in shard.items()}
                records += explain(batch, ids[start : start + batch_size], first + start)
                bar.update(min(batch_size, count - start))
            store.write(index, records)
    if not shards:
        raise InvalidInputError("The dataset has no rows: nothing to explain.")
    return shards


def _code(value: Any) -> str:
    """``value`` as inline Markdown code that nothing in it can break out of (backticks and line breaks dropped)."""
    return "`" + " ".join(str(value).replace("`", "'").split()) + "`"


def dataset_card(run: Mapping[str, Any], explained: Dataset) -> DatasetCard:
    """The dataset card of an explained dataset: the model and its fingerprints, the source, the method and what
    each column holds (huggingface_hub's ``DatasetCard``)."""
    data = DatasetCardData(
        tags=["explainability", "attributions", "hf-ssxai"],
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/shard-*.parquet"}]}],
    )
    source = run["dataset"] + (f", split {run['split']}" if run.get("split") else "")
    lines = [
        "# Explanations of a dataset",
        "",
        f"Each row is one input row of {_code(source)}, explained by the model {_code(run['model'])} with "
        f"hf_ssxai {_code(run['hf_ssxai'])} (`hf_ssxai.explain_dataset`).",
        "",
        "| | |",
        "|---|---|",
        f"| model | {_code(run['model'])} |",
        f"| classifier fingerprint | {_code(run['classifier_fingerprint'])} |",
        f"| scorer fingerprint | {_code(run['scorer_fingerprint'])} |",
        f"| method | {_code(run['method'])} |",
        f"| modality | {_code(run['modality'])} |",
        f"| texts truncated to | {_code(run['truncation_length'])} tokens |",
        f"| rows | {len(explained)} |",
        "",
        "The classifier fingerprint is `hf_ssxai.checkpoint.fingerprint(model.classifier)`: the model that made these "
        "rows is the one whose weights give it.",
        "",
        "## Columns",
        "",
        *(f"- {_code(name)}: {_code(feature)}" for name, feature in explained.features.items()),
    ]
    return DatasetCard(f"---\n{data.to_yaml()}\n---\n\n" + "\n".join(lines) + "\n")


def push_explanations(directory: str | os.PathLike, repo_id: str, *, private: bool | None = None) -> str:
    """Upload an explained dataset's folder (shards, manifest, run description, card) as Hub dataset ``repo_id``;
    returns the commit URL."""
    api = HfApi()
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        commit = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(directory),
            ignore_patterns=[".*", "*/.*"],
            commit_message="Upload explanations (hf_ssxai explain_dataset)",
        )
    except (HfHubHTTPError, OfflineModeIsEnabled) as error:
        raise SSXAIError(f"Upload to {repo_id} failed: {error}") from error
    return str(commit)
