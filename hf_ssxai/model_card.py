"""Model cards: the ``README.md`` uploaded with a checkpoint, rendered from ``hf_ssxai/model_cards/scorer_card.md``.

The template is a :class:`string.Template` (``$name`` placeholders). The card holds Hub metadata (YAML front
matter), what the scorer is, how it was trained, its benchmark table when one is given, its limits and a usage
snippet. Markdown is written as it is; single-line YAML values lose their newlines and are quoted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from importlib import resources
from string import Template
from typing import TYPE_CHECKING, Any, Protocol

from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from .configuration import ScorerConfig
from .modalities import get_modality

if TYPE_CHECKING:
    from .modeling import AutoModelWithScorer

TEMPLATE_NAME = "scorer_card.md"
TAGS = ("explainability", "xai", "hf_ssxai", "feature-attribution")
#: what the ScorerConfig table shows, in this order (a modality may leave out fields its scorer does not use)
CONFIG_FIELDS = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "hidden_state_layers",
    "use_relu",
    "use_sigmoid",
    "use_rescale",
    "use_magnitude_penalty",
    "use_binary_penalty",
    "use_gamma",
    "target",
)
TARGETS = {
    "label": ("the dataset label (cross-entropy)", "the probability of the labelled class"),
    "prediction": (
        "the classifier's own prediction on the full input (cross-entropy; no labels needed)",
        "the probability of the predicted class",
    ),
    "distribution": ("the classifier's full output distribution (KL divergence)", "the whole output distribution"),
}


class CardBenchmark(Protocol):
    """What a card needs from a benchmark result (:class:`hf_ssxai.BenchmarkResult` is one)."""

    metadata: dict[str, Any]
    sample_indices: Sequence[int]

    def report_markdown(self) -> str:
        """Its tables and Pareto statements as Markdown."""
        ...


def _one_line(value: Any) -> str:
    """A YAML scalar on one line: newlines and runs of blanks become single spaces, then JSON-quoted (valid YAML)."""
    return json.dumps(" ".join(str(value).split()), ensure_ascii=False)


def hub_repo_id(name: str | None) -> str | None:
    """``name`` if it can name a Hub repository (not a local path), else None."""
    if not name or os.path.isabs(name) or os.path.exists(name):
        return None
    try:
        validate_repo_id(name)
    except HFValidationError:
        return None
    return name


def _datasets(training_info: Mapping[str, Any]) -> list[str]:
    names = training_info.get("datasets") or training_info.get("dataset") or []
    return [names] if isinstance(names, str) else [str(name) for name in names]


def _metadata(config: ScorerConfig, scorer_only: bool, training_info: Mapping[str, Any]) -> str:
    lines = ["library_name: hf_ssxai"]
    base_model = hub_repo_id(config.base_model_name_or_path)
    if base_model:
        lines.append(f"base_model: {_one_line(base_model)}")
        if scorer_only:
            lines.append("base_model_relation: adapter")
    if datasets := _datasets(training_info):
        lines += ["datasets:", *(f"- {_one_line(name)}" for name in datasets)]
    if pipeline_tag := get_modality(config.modality).card.pipeline_tag:
        lines.append(f"pipeline_tag: {pipeline_tag}")
    lines += ["tags:", *(f"- {tag}" for tag in TAGS)]
    return "\n".join(lines)


def _base_model_line(config: ScorerConfig, scorer_only: bool) -> str:
    name, revision = config.base_model_name_or_path, config.base_model_revision
    at = f" at revision `{revision}`" if revision else ""
    if not scorer_only:
        return f"Base classifier: `{name}`{at}, saved at the root of this repository." if name else ""
    if hub_repo_id(name):
        return (
            f"This repository holds only the scorer. `from_pretrained` loads its classifier from `{name}`{at}, "
            "as a PEFT adapter names its base model."
        )
    return (
        f"This repository holds only the scorer, and its config names no Hub classifier (`{name}`): load it with "
        "`AutoModelWithScorer.from_pretrained(repo_id, classifier=your_classifier)`."
    )


def _layers(layers: list[int] | dict[str, list[int]] | None) -> Any:
    """The hidden states the scorer reads, as the card shows them (``default`` before attaching)."""
    if layers is None:
        return "default"
    return layers if isinstance(layers, dict) else list(layers)


def _training(training_info: Mapping[str, Any]) -> str:
    if not training_info:
        return "Training data and schedule were not recorded for this upload."
    return "\n".join(f"- {key.replace('_', ' ')}: {value}" for key, value in training_info.items())


def _benchmark(result: CardBenchmark | None, repo_id: str) -> str:
    if result is None:
        return (
            "No benchmark was uploaded with this checkpoint. Measure one against the attribution baselines with "
            f"`hf-ssxai benchmark --model {repo_id} --dataset DATASET`."
        )
    meta = result.metadata
    dataset = f" of {meta['dataset']}" if meta.get("dataset") else ""
    return (
        f"The scorer against the attribution baselines on {len(result.sample_indices)} samples{dataset}, every map "
        "measured on the same features (`hf-ssxai benchmark`). Mean ± standard deviation; ↑ higher is better, "
        "↓ lower is better; the best value per column is bold.\n\n" + result.report_markdown()
    )


def render_model_card(model: AutoModelWithScorer, repo_id: str, **options: Any) -> str:
    """The ``README.md`` for ``model`` pushed to ``repo_id``; ``options`` as :func:`render_card` takes them."""
    return render_card(model.scorer_config, repo_id, **options)


def render_card(
    config: ScorerConfig,
    repo_id: str,
    *,
    scorer_only: bool = False,
    benchmark: CardBenchmark | None = None,
    training_info: Mapping[str, Any] | None = None,
) -> str:
    """The ``README.md`` of a checkpoint whose scorer ``config`` describes, pushed to ``repo_id`` (for a loaded
    model: :func:`render_model_card`; for reference checkpoints whose weights are elsewhere:
    ``benchmarks/make_model_cards.py``).

    Args:
        config: the scorer's (attached) config.
        repo_id: where it goes (used in the usage snippet).
        scorer_only: whether the upload holds only ``scorer/`` (the card then points at the base classifier).
        benchmark: a benchmark of this checkpoint; its table and Pareto statement go into the card.
        training_info: free-form facts about training (``datasets``, ``steps``, ``learning_rate``, ...), listed in
            the card; ``datasets`` (a name or a list) also goes into the YAML metadata.
    """
    training_info = dict(training_info or {})
    modality = get_modality(config.modality)
    texts = modality.card
    target_text, target_short = TARGETS[config.target]
    config_rows = "\n".join(
        f"| `{name}` | `{getattr(config, name)}` |" for name in CONFIG_FIELDS if name not in texts.hidden_config_fields
    )
    contents = (
        f"A learned explainer (scorer) for {modality.description} classifier."
        if scorer_only
        else f"{modality.description.capitalize()} classifier together with a learned explainer (scorer) for it."
    )
    classifier_note = (
        "This repository has no classifier of its own: `from_pretrained` loads the base classifier named above."
        if scorer_only
        else "The classifier at the root is saved as transformers saves it, so it also loads without hf_ssxai: "
        f'`{modality.auto_model_class.__name__}.from_pretrained("{repo_id}")`.'
    )
    template = Template((resources.files("hf_ssxai") / "model_cards" / TEMPLATE_NAME).read_text(encoding="utf-8"))
    return template.substitute(
        metadata=_metadata(config, scorer_only, training_info),
        title=repo_id,
        contents=contents,
        scorer_kind=texts.scorer_kind,
        modality=config.modality,
        layers=_layers(config.hidden_state_layers),
        feature=texts.feature,
        base_model_line=_base_model_line(config, scorer_only),
        fingerprint=config.base_model_fingerprint,
        target_text=target_text,
        target_short=target_short,
        training=_training(training_info),
        config_rows=config_rows,
        benchmark=_benchmark(benchmark, repo_id),
        modality_limit=texts.limit,
        example_import=texts.example_import,
        example=texts.example,
        pipeline_example=texts.pipeline_example or texts.example,
        attribution_shape=texts.attribution_shape,
        pipeline_fields=texts.pipeline_fields,
        repo_id=repo_id,
        classifier_note=classifier_note,
    )
