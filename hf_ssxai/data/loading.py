"""Load a dataset for training or benchmarking, from the Hub or from local files.

One loader serves both: :func:`load_splits` (recipes: a :class:`DataSpec`, splits renamed, columns standardized so
that every split has a ``label`` column and a ``text`` and/or ``image`` column, whatever the source calls them) and
:func:`load_dataset_splits` (the benchmark and evaluation commands: a name or a path, splits and columns as they
are). The source is a Hub id (``datasets.load_dataset``), a packaged builder over local files (``csv`` with a
delimiter, ``json``, ``parquet``, ``imagefolder``), one local data file, or a folder written by ``save_to_disk``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import ClassLabel, Dataset, DatasetDict, IterableDatasetDict, load_dataset, load_from_disk
from datasets.exceptions import DatasetsError

from ..errors import InvalidInputError
from ..schema import parse_section

#: single local files ``datasets`` reads with a packaged builder: extension -> (builder, builder options)
FILE_BUILDERS: dict[str, tuple[str, dict[str, Any]]] = {
    ".csv": ("csv", {}),
    ".tsv": ("csv", {"sep": "\t"}),
    ".json": ("json", {}),
    ".jsonl": ("json", {}),
    ".parquet": ("parquet", {}),
}
#: the standard column each role's source column is renamed to (``DataSpec.<role>_column``)
STANDARD_COLUMNS = {"text_column": "text", "image_column": "image", "label_column": "label"}


@dataclass
class DataSpec:
    """Where a dataset comes from and what its columns are called.

    Args:
        path: a Hub id (``"stanfordnlp/imdb"``), a packaged builder (``"csv"``, ``"json"``, ``"parquet"``,
            ``"imagefolder"``) or a ``save_to_disk`` folder (with ``from_disk=True``).
        name: the Hub configuration name, if any (``"sst2"`` of ``"nyu-mll/glue"``).
        data_files: files per split for the packaged builders, e.g. ``{"train": "train.tsv"}``.
        data_dir: a folder for ``imagefolder``.
        splits: our split name (``train``, ``validation``, ``test``) -> the source's split name.
        text_column, image_column, label_column: the source's column names; a list means "the first
            one present" (splits of one dataset sometimes name a column differently).
        load_kwargs: anything else ``datasets.load_dataset`` takes (``delimiter="\\t"``, ``revision``...).
    """

    path: str
    name: str | None = None
    data_files: dict[str, str] | str | None = None
    data_dir: str | None = None
    from_disk: bool = False
    splits: dict[str, str] = field(default_factory=lambda: {"train": "train", "test": "test"})
    text_column: str | list[str] | None = None
    image_column: str | list[str] | None = None
    label_column: str | list[str] = "label"
    load_kwargs: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict[str, Any], section: str = "data") -> DataSpec:
        """A spec from a recipe's ``data`` section; a key that is no field is an :class:`UnknownKeyError`."""
        return parse_section(cls, values, section)

    @classmethod
    def from_source(cls, name_or_path: str, split: str) -> DataSpec:
        """The spec of a dataset named by a Hub id, a local folder (data files, ``imagefolder`` class subfolders or
        a ``save_to_disk`` dataset) or one local file (csv, tsv, json, jsonl, parquet), which becomes ``split``."""
        path = Path(name_or_path)
        if path.is_file():
            if path.suffix.lower() not in FILE_BUILDERS:
                raise InvalidInputError(
                    f"Cannot read {path.name}: a single file must be one of {', '.join(FILE_BUILDERS)}; for images "
                    "give a folder with one subfolder per class."
                )
            builder, options = FILE_BUILDERS[path.suffix.lower()]
            return cls(builder, data_files={split: str(path)}, load_kwargs=options)
        return cls(str(name_or_path), from_disk=(path / "dataset_dict.json").is_file())


def _first_present(dataset: Dataset, candidates: str | Sequence[str] | None, role: str) -> str | None:
    if candidates is None:
        return None
    names = [candidates] if isinstance(candidates, str) else list(candidates)
    for name in names:
        if name in dataset.column_names:
            return name
    raise InvalidInputError(
        f"No {role} column among {names}; the dataset has columns {dataset.column_names}. "
        f"Set {role}_column to one of them."
    )


def standardize_columns(dataset: Dataset, spec: DataSpec) -> Dataset:
    """Rename the source's columns to ``text``/``image`` and ``label``, dropping the others."""
    renames = {}
    for field_name, standard in STANDARD_COLUMNS.items():
        column = _first_present(dataset, getattr(spec, field_name), standard)
        if column is not None:
            renames[column] = standard
    if not set(renames.values()) - {STANDARD_COLUMNS["label_column"]}:
        raise InvalidInputError("Set text_column or image_column: the scorer needs to know what it explains.")
    dataset = dataset.select_columns(list(renames))
    return dataset.rename_columns({k: v for k, v in renames.items() if k != v})


def load_source(spec: DataSpec, streaming: bool = False) -> DatasetDict | IterableDatasetDict:
    """Every split of the source as it is (``streaming``: as iterable datasets read as they are consumed);
    ``datasets`` errors (not found, offline, unreadable files) become :class:`InvalidInputError`."""
    try:
        if spec.from_disk:
            source = load_from_disk(spec.path)
            source = DatasetDict({"train": source}) if isinstance(source, Dataset) else source
            if streaming:
                return IterableDatasetDict({split: part.to_iterable_dataset() for split, part in source.items()})
            return source
        if isinstance(spec.data_files, dict):  # one load per split: local files may name their columns differently
            splits = {
                split: load_dataset(
                    spec.path, spec.name, data_files={split: files}, streaming=streaming, **spec.load_kwargs
                )[split]
                for split, files in spec.data_files.items()
            }
            return IterableDatasetDict(splits) if streaming else DatasetDict(splits)
        return load_dataset(
            spec.path,
            spec.name,
            data_files=spec.data_files,
            data_dir=spec.data_dir,
            streaming=streaming,
            **spec.load_kwargs,
        )
    except (DatasetsError, OSError, ValueError) as error:
        raise InvalidInputError(f"Could not load dataset {spec.path!r}: {error}") from error


def load_dataset_splits(name_or_path: str, split: str, streaming: bool = False) -> DatasetDict | IterableDatasetDict:
    """All splits of a dataset named as :meth:`DataSpec.from_source` takes it, which must have ``split``;
    ``streaming`` reads them as they are consumed (iterable datasets: memory does not grow with the rows)."""
    splits = load_source(DataSpec.from_source(name_or_path, split), streaming=streaming)
    if split not in splits:
        raise InvalidInputError(f"Dataset {name_or_path!r} has no split {split!r}; its splits: {', '.join(splits)}.")
    return splits


def load_splits(spec: DataSpec) -> DatasetDict:
    """All splits named in ``spec.splits``, with standard columns."""
    source = load_source(spec)
    result = {}
    for ours, theirs in spec.splits.items():
        if theirs not in source:
            raise InvalidInputError(f"Split {theirs!r} not found in {spec.path}; it has {sorted(source)}.")
        result[ours] = standardize_columns(source[theirs], spec)
    return DatasetDict(result)


def label_names(dataset: Dataset) -> list[str] | None:
    """The class names of a ``ClassLabel`` label column, if the dataset has them."""
    feature = dataset.features.get("label")
    return list(feature.names) if isinstance(feature, ClassLabel) else None
