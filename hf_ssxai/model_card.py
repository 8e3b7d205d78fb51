"""Model cards: the ``README.md`` that ``save_pretrained`` writes and ``push_to_hub`` uploads with a checkpoint.

A card is a :class:`huggingface_hub.ModelCard`: its metadata is a :class:`~huggingface_hub.ModelCardData` (library,
license, base model, pipeline tag, tags, datasets and, with a benchmark, a ``model-index`` of the scorer's
faithfulness and clarity metrics), its text is rendered from the package template
``hf_ssxai/model_cards/scorer_card.md`` (a :class:`string.Template`, ``$name`` placeholders): what the scorer is, how
it was trained, its benchmark table, its limits and a usage snippet. No local path reaches a card: the base model
and the datasets appear only when they name Hub repositories.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib import resources
from string import Template
from typing import Any, Protocol

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .checkpoint import hub_repo_id
from .configuration import ScorerConfig
from .markup import markdown_text
from .modalities import get_modality

TEMPLATE_NAME = "scorer_card.md"
LIBRARY_NAME = "hf_ssxai"
TAGS = ("explainability", "xai", "hf_ssxai", "feature-attribution")
#: the benchmark's name of this checkpoint's own explainer (the explainer registry's name of the scorer)
SCORER_METHOD = "scorer"
#: the model-index task of the scorer's benchmark metrics
EXPLANATION_TASK = ("feature-attribution", "Feature attribution")
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

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``summary[method][metric] = {"mean": ..., "std": ...}``."""
        ...


def _datasets(training_info: Mapping[str, Any]) -> list[str]:
    """The Hub datasets ``training_info`` names (``datasets``: a name or a list; local paths left out)."""
    names = training_info.get("datasets") or training_info.get("dataset") or []
    names = [names] if isinstance(names, str) else [str(name) for name in names]
    return [" ".join(name.split()) for name in names if hub_repo_id(" ".join(name.split()))]


def _benchmark_dataset(result: CardBenchmark) -> str | None:
    """The benchmarked dataset when it is a Hub repository (a local path never goes into a card)."""
    return hub_repo_id(str(result.metadata.get("dataset") or ""))


def _eval_results(result: CardBenchmark | None, datasets: list[str]) -> list[EvalResult] | None:
    """The scorer's mean of every benchmarked metric, as the card's ``model-index`` (None without a scorer row)."""
    scorer = result.summary().get(SCORER_METHOD) if result is not None else None
    if not scorer:
        return None
    dataset = _benchmark_dataset(result) or (datasets[0] if datasets else None)
    split = result.metadata.get("split")
    return [
        EvalResult(
            task_type=EXPLANATION_TASK[0],
            task_name=EXPLANATION_TASK[1],
            dataset_type=dataset or "local",
            dataset_name=dataset or "a local dataset",
            dataset_split=str(split) if split else None,
            metric_type=metric,
            metric_name=metric.replace("_", " "),
            metric_value=round(stats["mean"], 4),
        )
        for metric, stats in scorer.items()
    ]


def _base_model_line(config: ScorerConfig, scorer_only: bool) -> str:
    name, revision = hub_repo_id(config.base_model_name_or_path), config.base_model_revision
    at = f" at revision `{revision}`" if revision else ""
    if not scorer_only:
        return f"Base classifier: `{name}`{at}, fine-tuned and saved at the root of this repository." if name else ""
    if name:
        return (
            f"This repository holds only the scorer. `from_pretrained` loads its classifier from `{name}`{at}, "
            "as a PEFT adapter names its base model."
        )
    return (
        "This repository holds only the scorer, and its config names no Hub classifier: load it with "
        "`AutoModelWithScorer.from_pretrained(repo_id, classifier=your_classifier)`."
    )


def _layers(layers: list[int] | dict[str, list[int]] | None) -> Any:
    """The hidden states the scorer reads, as the card shows them (``default`` before attaching)."""
    if layers is None:
        return "default"
    return layers if isinstance(layers, dict) else list(layers)


def _loss_text(config: ScorerConfig) -> str:
    """The loss per sample as this config trains it: eq. 3.4 with the penalties it keeps, and any order term."""
    gamma = "γ · " if config.use_gamma else ""
    penalties = config.use_magnitude_penalty or config.use_binary_penalty
    deletion, insertion = config.deletion_weight or 0, config.insertion_weight or 0
    contrast = config.contrast_weight
    candidates = [  # (used, term, what it does)
        (config.use_magnitude_penalty, f"{gamma}mean(S)²", "mean(S)² keeps the map small"),
        (
            config.use_binary_penalty,
            f"{gamma}mean((S · (1 − S))²)",
            "mean((S · (1 − S))²) pushes it towards a binary mask",
        ),
        (
            deletion,
            f"{deletion:g} · p_c(x without the top q of S)",
            "the deletion term, q drawn per sample, trains the order inside the map",
        ),
        (
            insertion,
            f"{insertion:g} · (1 − p_c(x with only the top q of S))",
            "the insertion term keeps the class with only the top q",
        ),
        (
            contrast,
            f"{contrast:g} · (1 − p_c(x without the top q of another input's S))",
            "the contrast term makes a map that fits every input cost more than one drawn from this input",
        ),
    ]
    used = [(term, role) for on, term, role in candidates if on]
    text = "The loss per sample is `" + " + ".join(["task(x ⊗ S)", *(term for term, _ in used)]) + "`"
    if gamma and penalties:
        text += (
            ", with γ = min(1, 1 / max(Δ, 0)) and Δ = task(x ⊗ S) − task(x), which steps the penalties back while "
            "masking hurts the task"
        )
    return text + (": " + "; ".join(role for _, role in used) + "." if used else ".")


def _training(training_info: Mapping[str, Any]) -> str:
    if not training_info:
        return "Training data and schedule were not recorded for this upload."
    shown = {**training_info, **({"datasets": _datasets(training_info)} if "datasets" in training_info else {})}
    return "\n".join(
        f"- {markdown_text(str(key).replace('_', ' '))}: {markdown_text(value)}" for key, value in shown.items()
    )


def _benchmark(result: CardBenchmark | None, repo_id: str) -> str:
    if result is None:
        return (
            "No benchmark was uploaded with this checkpoint. Measure one against the attribution baselines with "
            f"`hf-ssxai benchmark --model {repo_id} --dataset DATASET`."
        )
    dataset = _benchmark_dataset(result)
    return (
        f"The scorer against the attribution baselines on {len(result.sample_indices)} samples"
        f"{f' of {dataset}' if dataset else ''}, every map measured on the same features (`hf-ssxai benchmark`). "
        "Mean ± standard deviation; ↑ higher is better, ↓ lower is better; the best value per column is bold.\n\n"
        + result.report_markdown()
    )


def _license_text(license: str | None) -> str:
    if license:
        return f"`{license}` (as stated by whoever saved this checkpoint)."
    return (
        "Not stated. Whoever shares this checkpoint should state one: `push_to_hub(..., license=...)`, usually the "
        "base classifier's license."
    )


def build_model_card(
    config: ScorerConfig,
    repo_id: str,
    *,
    scorer_only: bool = False,
    benchmark: CardBenchmark | None = None,
    training_info: Mapping[str, Any] | None = None,
    license: str | None = None,
) -> ModelCard:
    """The model card of a checkpoint whose scorer ``config`` describes (``AutoModelWithScorer.save_pretrained`` and
    ``push_to_hub`` write it; ``benchmarks/make_model_cards.py`` renders the reference checkpoints' cards with it).

    Args:
        config: the scorer's (attached) config.
        repo_id: where it goes (the title and the usage snippet).
        scorer_only: whether the checkpoint holds only ``scorer/`` (the card then points at the base classifier).
        benchmark: a benchmark of this checkpoint; its table goes into the card and the scorer's means into the
            ``model-index`` metadata.
        training_info: free-form facts about training (``datasets``, ``steps``, ``learning_rate``, ...), listed in
            the card; ``datasets`` (a name or a list; Hub ids only) also goes into the metadata.
        license: the checkpoint's license (a Hub license id, e.g. ``apache-2.0``); the card says when none is given.
    """
    training_info = dict(training_info or {})
    modality = get_modality(config.modality)
    texts = modality.card
    base_model = hub_repo_id(config.base_model_name_or_path)
    datasets = _datasets(training_info)
    data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=license,
        base_model=base_model,
        base_model_relation="adapter" if scorer_only and base_model else None,
        pipeline_tag=texts.pipeline_tag,
        tags=list(TAGS),
        datasets=datasets or None,
        model_name=repo_id,
        eval_results=_eval_results(benchmark, datasets),
    )
    return ModelCard(
        f"---\n{data.to_yaml()}\n---\n\n{_text(config, repo_id, scorer_only, benchmark, training_info, license)}"
    )


def _text(
    config: ScorerConfig,
    repo_id: str,
    scorer_only: bool,
    benchmark: CardBenchmark | None,
    training_info: Mapping[str, Any],
    license: str | None = None,
) -> str:
    """The card's Markdown, from the package template."""
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
        title=markdown_text(repo_id),
        contents=contents,
        scorer_kind=texts.scorer_kind,
        modality=config.modality,
        layers=_layers(config.hidden_state_layers),
        feature=texts.feature,
        base_model_line=_base_model_line(config, scorer_only),
        fingerprint=config.base_model_fingerprint,
        target_text=target_text,
        target_short=target_short,
        loss_text=_loss_text(config),
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
        license_text=_license_text(license),
    )
