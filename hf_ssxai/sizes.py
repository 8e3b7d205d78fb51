"""A checkpoint's configs checked against its weights before anything is built: a config that asks for a network the
weights file cannot fill (10**9 layers, a width of 10**6, 200k labels, a head of another shape) or weights of the
wrong kind (integers where the network holds floats) is a :class:`CheckpointError` that costs a header read and a
network built on the ``meta`` device (no memory), never an allocation that runs the machine out of memory.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from torch import nn

from .errors import CheckpointError

#: how many more parameters a classifier may have than its weights file holds (a new head, untied copies)
SPARE_PARAMETERS = 2.0
SPARE_PARAMETER_COUNT = 10**6
#: safetensors dtype names that hold floating-point numbers
FLOAT_DTYPES = frozenset({"F64", "F32", "F16", "BF16", "F8_E4M3", "F8_E5M2"})


class Header:
    """Names, shapes and dtypes of the tensors in one or more safetensors files, read from their headers only."""

    def __init__(self, files: Iterable[str]) -> None:
        self.shapes: dict[str, tuple[int, ...]] = {}
        self.dtypes: dict[str, str] = {}
        for file in files:
            try:
                with safe_open(file, framework="pt") as handle:
                    for name in handle.keys():  # noqa: SIM118 (safe_open is no mapping)
                        tensor = handle.get_slice(name)
                        self.shapes[name] = tuple(tensor.get_shape())
                        self.dtypes[name] = tensor.get_dtype()
            except (SafetensorError, OSError, ValueError) as error:
                raise CheckpointError(
                    f"Cannot read {file}: {error}. The file is truncated or corrupted (an incomplete or corrupted "
                    "download or save); save or download the checkpoint again."
                ) from error

    @property
    def parameter_count(self) -> int:
        return sum(_numel(shape) for shape in self.shapes.values())


def _numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def read_json_object(path: str, what: str) -> dict[str, Any]:
    """The JSON object in ``path``; anything else (garbage, an empty file, a list) is a :class:`CheckpointError`."""
    try:
        value = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(
            f"{what} {path} is not a valid JSON file ({error}); save or download the checkpoint again."
        ) from error
    if not isinstance(value, dict):
        raise CheckpointError(
            f"{what} {path} holds a JSON {type(value).__name__}, not an object; save or download the checkpoint again."
        )
    return value


def layer_counts(config: dict[str, Any]) -> list[tuple[str, int]]:
    """The top-level config fields that count layers or blocks (``num_hidden_layers``, ``encoder_layers``,
    ``depths``, ...), as ``(name, count)`` pairs. A ``max_*`` field is a threshold, not a count (Qwen2's
    ``max_window_layers`` keeps its default of 28 in a 2-layer model)."""
    counts = []
    for name, value in config.items():
        counts_layers = name.endswith("layers") or name == "depths"
        if not counts_layers or name == "hidden_state_layers" or name.startswith("max_"):
            continue
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, int) and not isinstance(item, bool):
                counts.append((name, item))
    return counts


def check_layer_counts(config: dict[str, Any], header: Header, where: str) -> None:
    """Refuse a config with more layers than the weights file has tensors: nothing could fill them, and building
    them alone can exhaust memory."""
    for name, count in layer_counts(config):
        if count < 0 or count > len(header.shapes):
            raise CheckpointError(
                f"{where}: {name}={count}, but its weights file holds {len(header.shapes)} tensors, so the config "
                "does not describe these weights. Save the checkpoint again."
            )


def check_against_header(network: nn.Module, header: Header, where: str) -> None:
    """Compare a network built on the ``meta`` device with the weights file, name by name: the same tensors, shapes
    and kinds of number (float weights stored as integers are refused, not cast)."""
    expected = network.state_dict()
    missing = sorted(set(expected) - set(header.shapes))
    unexpected = sorted(set(header.shapes) - set(expected))
    if missing or unexpected:
        raise CheckpointError(
            f"{where}: the weights do not match the config (missing: {missing[:5]}, unexpected: {unexpected[:5]}). "
            "The files come from different saves; save the checkpoint again."
        )
    for name, tensor in expected.items():
        if tuple(tensor.shape) != header.shapes[name]:
            raise CheckpointError(
                f"{where}: {name} has shape {list(header.shapes[name])} in the weights file but the config asks for "
                f"{list(tensor.shape)}. The files come from different saves; save the checkpoint again."
            )
        if tensor.is_floating_point() != (header.dtypes[name] in FLOAT_DTYPES):
            raise CheckpointError(
                f"{where}: {name} is stored as {header.dtypes[name]} but the network holds "
                f"{str(tensor.dtype).removeprefix('torch.')} there; weights are never cast between integers and "
                "floats. Save the checkpoint again."
            )


def check_parameter_count(network: nn.Module, header: Header, where: str) -> None:
    """Refuse a classifier config that describes far more parameters than its weights file holds."""
    wanted = sum(parameter.numel() for parameter in network.parameters())
    if wanted > SPARE_PARAMETERS * header.parameter_count + SPARE_PARAMETER_COUNT:
        raise CheckpointError(
            f"{where}: the config describes {wanted:,} parameters but the weights hold {header.parameter_count:,}; "
            "its sizes (hidden_size, num_labels, ...) do not describe these weights. Save the checkpoint again."
        )


def build_on_meta(build: Any, where: str) -> nn.Module:
    """``build()`` on the ``meta`` device (no memory); a config it cannot build from is a :class:`CheckpointError`."""
    try:
        with torch.device("meta"):
            return build()
    except CheckpointError:
        raise
    except Exception as error:  # any failure to build from a config's values means a bad config
        raise CheckpointError(f"{where}: cannot build the network its config describes: {error}") from error
