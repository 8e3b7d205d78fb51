"""A dataset written as it is made: numbered parquet shards in one folder, each visible only once complete.

Layout of the folder::

    run.json          what the rows are (model, fingerprints, dataset, options): a resumed run must match it
    data/shard-00000.parquet, data/shard-00001.parquet, ...   complete shards, shard k holding rows k*size ...
    manifest.json     the complete shards in order with their row counts; "complete": true once every shard is
    README.md         (the dataset card, written by whoever finishes the run)

A shard is written to a hidden temporary name in ``data/`` and renamed when complete (``os.replace``, atomic on one
file system), so a killed run leaves either a whole shard or no shard under its final name, and a reader that
globs ``data/*.parquet`` (as the Hub's parquet loader does) never takes a partial one. Each process of a
data-parallel run writes its own shards; shard numbers, not processes, fix the order of the rows.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from datasets import Dataset

from ..errors import InvalidInputError

DATA_FOLDER = "data"
RUN_FILE = "run.json"
MANIFEST_FILE = "manifest.json"
SHARD_PATTERN = "shard-*.parquet"


def write_json_atomically(path: Path, content: Mapping[str, Any]) -> None:
    """Write ``content`` as JSON under a temporary name beside ``path``, then rename it to ``path``."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


class ShardedOutput:
    """The output folder of one run: which shards are complete, writing one, the manifest and the whole dataset.

    Args:
        directory: the folder (created if needed).
        run: what the rows are; stored in ``run.json`` by :meth:`open`, which refuses a folder holding another run.
    """

    def __init__(self, directory: str | os.PathLike, run: Mapping[str, Any]):
        self.directory = Path(directory)
        self.data = self.directory / DATA_FOLDER
        self.run = dict(run)

    def open(self, first: bool = True) -> None:
        """Create the folder and record the run, or check that the folder holds this run (then it resumes). The
        ``first`` process to open it (``PartialState.main_process_first``, before the others start writing) also
        removes the temporary files of a killed run."""
        self.data.mkdir(parents=True, exist_ok=True)
        run_file = self.directory / RUN_FILE
        if run_file.is_file():
            recorded = json.loads(run_file.read_text())
            if differing := sorted(key for key in {*recorded, *self.run} if recorded.get(key) != self.run.get(key)):
                raise InvalidInputError(
                    f"{self.directory} holds the shards of another run (it differs in {', '.join(differing)}): "
                    "resuming would mix two runs' rows. Give another output directory, or delete this one to start "
                    "over."
                )
        else:
            write_json_atomically(run_file, self.run)
        for leftover in self.data.glob(".*.tmp") if first else ():
            leftover.unlink()

    def shard_path(self, index: int) -> Path:
        """Where shard ``index`` is once complete."""
        return self.data / f"shard-{index:05d}.parquet"

    def complete(self) -> list[int]:
        """The numbers of the complete shards, in order."""
        return sorted(int(path.stem.split("-")[1]) for path in self.data.glob(SHARD_PATTERN))

    def write(self, index: int, records: Sequence[Mapping[str, Any]]) -> Path:
        """Write shard ``index`` from its rows (column -> value dicts) and make it visible; the manifest lists it."""
        if not records:
            raise InvalidInputError(f"Shard {index} has no rows: every shard holds at least one.")
        final = self.shard_path(index)
        temporary = self.data / f".{final.name}.{os.getpid()}.tmp"
        Dataset.from_list(list(records)).to_parquet(str(temporary))
        os.replace(temporary, final)
        self.write_manifest(finished=False)
        return final

    def write_manifest(self, finished: bool) -> dict[str, Any]:
        """List the complete shards (path and rows) in ``manifest.json``; ``finished``: every shard is there."""
        shards = [self.shard_path(index) for index in self.complete()]
        listed = [{"file": f"{DATA_FOLDER}/{path.name}", "rows": pq.read_metadata(path).num_rows} for path in shards]
        manifest = {"complete": finished, "rows": sum(shard["rows"] for shard in listed), "shards": listed}
        write_json_atomically(self.directory / MANIFEST_FILE, manifest)
        return manifest

    def load(self) -> Dataset:
        """The complete shards as one dataset, rows in shard order."""
        return load_shards(self.directory)


def load_shards(directory: str | os.PathLike) -> Dataset:
    """The explained rows of an output folder as one ``datasets.Dataset`` (its complete shards, in order); a run
    still going or stopped early gives the rows done so far."""
    data = Path(directory) / DATA_FOLDER
    shards = sorted(data.glob(SHARD_PATTERN))
    if not shards:
        raise InvalidInputError(f"No complete shard in {data}: nothing has been explained there yet.")
    return Dataset.from_parquet([str(path) for path in shards])
