"""hf_ssxai: a learned explainer for any Hugging Face classifier.

A small scorer reads the classifier's hidden states and returns an attribution map in the same
forward pass as the prediction. It is trained self-supervised against the frozen classifier.

``import hf_ssxai`` imports nothing heavy (not even torch), so it and the ``hf-ssxai --help`` command stay quick
(``benchmarks/import_time.py`` measures both). The public names below load on first use, as ``transformers`` loads
its own; the first one loaded also makes the registrations every part relies on: the built-in modalities (which
``ScorerConfig`` validates against), ``ScorerConfig`` and the fusion classifier with the transformers Auto classes,
and the explanation pipelines with transformers' ``PIPELINE_REGISTRY``.
"""

from __future__ import annotations

import importlib
from typing import Any

from .version import __version__

#: every public name and the module that defines it
_EXPORTS = {
    "BenchmarkResult": "benchmark",
    "run_benchmark": "benchmark",
    "ScorerConfig": "configuration",
    "truncation_length": "data.preprocess",
    "CheckpointError": "errors",
    "ConfigError": "errors",
    "FingerprintMismatchError": "errors",
    "InvalidInputError": "errors",
    "NonFiniteLossError": "errors",
    "NonFiniteOutputError": "errors",
    "SSXAIError": "errors",
    "UnknownKeyError": "errors",
    "UnsafeCheckpointError": "errors",
    "UnsupportedClassifierError": "errors",
    "cascading_randomization": "evaluation",
    "evidence_masks": "evaluation",
    "data_randomization": "evaluation",
    "grid_pointing_game": "evaluation",
    "make_grids": "evaluation",
    "run_grid_pointing_game": "evaluation",
    "EXPLAINER_NAMES": "explainers",
    "ClassDistribution": "explainers",
    "count_forwards": "explainers",
    "get_explainer": "explainers",
    "FusionConfig": "fusion",
    "FusionForSequenceClassification": "fusion",
    "FusionProcessor": "fusion",
    "register_modality": "modalities",
    "AutoModelWithScorer": "modeling",
    "ScorerModelOutput": "modeling",
    "ExplanationPipeline": "pipelines",
    "pipeline": "pipelines",
    "ScorerTrainer": "training",
    "ScorerTrainingArguments": "training",
    "scorer_loss": "losses",
    "explain_dataset": "dataset_explanation",
}
#: the modules whose import registers what the rest relies on (see the module docstring), imported before the first
#: public name is handed out
_REGISTERING_MODULES = ("configuration", "modalities", "fusion", "pipelines")

__all__ = ["__version__", *sorted(_EXPORTS, key=str.lower)]


def __getattr__(name: str) -> Any:
    """Import a public name's module on first use (after the registering modules)."""
    if name in _EXPORTS:
        for module in _REGISTERING_MODULES:
            importlib.import_module(f".{module}", __name__)
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
