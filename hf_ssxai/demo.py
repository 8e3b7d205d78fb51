"""The offline demo: train small classifiers and their scorers on planted evidence, then explain held-out inputs.

Nothing is downloaded: the data are generated in code (:mod:`hf_ssxai.data.synthetic`) and the
classifiers are built from configs. The demo writes, under ``output_dir``:

    index.html          the page to open first: results, benchmark tables, token heat-maps, image overlays
    summary.json/.md    the measured numbers
    images/*.png        overlays of held-out images
    benchmark/text, benchmark/image   the scorer against the Captum baselines (results.json/.md, radar.png)
    models/text, models/image   the trained checkpoints (AutoModelWithScorer.from_pretrained loads them)
"""

from __future__ import annotations

import html
import json
import logging
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    TrainingArguments,
    ViTConfig,
    ViTForImageClassification,
)

from .benchmark import BenchmarkResult, dataset_to_batch, run_benchmark, write_report
from .configuration import ScorerConfig
from .data.synthetic import as_batch, build_word_tokenizer, planted_image_dataset, planted_text_dataset
from .modalities import ImageModality, TextModality
from .modeling import AutoModelWithScorer
from .training.phases import LOCAL_RUN, fine_tune_classifier, train_scorer, training_arguments
from .visualization import html_page, save_overlay, tokens_to_html

logger = logging.getLogger(__name__)
TEXT_COLUMNS = ["input_ids", "attention_mask", "label"]
IMAGE_COLUMNS = ["pixel_values", "label"]
SHOWN_EXAMPLES = 8


@dataclass
class DemoSettings:
    """Sizes of the demo run; :meth:`quick` is the small variant the tests use."""

    train_samples: int = 1500
    test_samples: int = 200
    image_size: int = 16
    classifier_epochs: int = 4
    scorer_epochs: int = 4
    text_hidden_size: int = 64
    image_hidden_size: int = 32
    benchmark_samples: int = 100

    @classmethod
    def quick(cls) -> DemoSettings:
        return cls(
            train_samples=300,
            test_samples=40,
            classifier_epochs=1,
            scorer_epochs=1,
            text_hidden_size=32,
            benchmark_samples=16,
        )


def _arguments(output_dir: Path, epochs: int, learning_rate: float, seed: int, progress: bool) -> TrainingArguments:
    settings = {"logging_strategy": "epoch", "disable_tqdm": not progress, "seed": seed}
    return training_arguments(output_dir, **LOCAL_RUN, num_train_epochs=epochs, learning_rate=learning_rate, **settings)


def _benchmark(
    model: AutoModelWithScorer,
    train: Any,
    test: Any,
    evidence_column: str,
    settings: DemoSettings,
    output_dir: Path,
    progress: bool,
) -> BenchmarkResult:
    """Every method on the held-out samples, with the pointing game on the planted evidence; report written."""
    result = run_benchmark(
        model,
        test,
        baseline_inputs=dataset_to_batch(model, train.select(range(20))),
        num_samples=min(settings.benchmark_samples, len(test)),
        evidence_column=evidence_column,
        progress=progress,
    )
    result.metadata["dataset"] = f"planted evidence ({output_dir.name}), held-out split"
    write_report(result, output_dir)
    return result


def _text_part(
    settings: DemoSettings, work: Path, runs: Path, seed: int, progress: bool
) -> tuple[dict[str, Any], str, BenchmarkResult]:
    tokenizer = build_word_tokenizer()
    train = planted_text_dataset(tokenizer, settings.train_samples, seed=seed)
    test = planted_text_dataset(tokenizer, settings.test_samples, seed=seed + 1)
    width = settings.text_hidden_size
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=width,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=2 * width,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "negative", 1: "positive"},
        label2id={"negative": 0, "positive": 1},
    )
    classifier = BertForSequenceClassification(config)
    logger.info("text: fine-tuning the classifier (phase 1)")
    args = _arguments(runs / "text_classifier", settings.classifier_epochs, 2e-3, seed, progress)
    fine_tune_classifier(classifier, tokenizer, args, train.select_columns(TEXT_COLUMNS))

    logger.info("text: training the scorer (phase 2)")
    config = ScorerConfig(hidden_size=width, num_hidden_layers=1)
    args = _arguments(runs / "text_scorer", settings.scorer_epochs, 3e-3, seed, progress)
    model = train_scorer(classifier, tokenizer, config, args, train.select_columns(TEXT_COLUMNS)).model
    model.eval().save_pretrained(work / "models" / "text")

    batch = as_batch(test, ("input_ids", "attention_mask", "label", "evidence_position"))
    with torch.no_grad():
        out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["label"])
    results = {
        "classifier_accuracy": (out.logits.argmax(-1) == batch["label"]).float().mean().item(),
        "masked_accuracy": (out.masked_logits.argmax(-1) == batch["label"]).float().mean().item(),
        "evidence_ranked_first": (out.attributions.argmax(-1) == batch["evidence_position"]).float().mean().item(),
        "mean_score": out.loss_terms.mean_score.mean().item(),
    }
    sections = []
    for index in range(min(SHOWN_EXAMPLES, len(test))):
        valid = out.feature_mask[index]
        tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][index][valid].tolist())
        label = config.id2label[int(out.logits[index].argmax())]
        sections.append(tokens_to_html(tokens, out.attributions[index][valid].tolist(), title=f"predicted: {label}"))
    logger.info("text: benchmarking the scorer against the baselines")
    columns = ["input_ids", "attention_mask", "label", "evidence_position"]
    benchmark = _benchmark(
        model, train, test.select_columns(columns), "evidence_position", settings, work / "benchmark" / "text", progress
    )
    return results, "<h2>Text: held-out sentences</h2>" + "\n".join(sections), benchmark


def _image_part(
    settings: DemoSettings, work: Path, runs: Path, seed: int, progress: bool
) -> tuple[dict[str, Any], str, BenchmarkResult]:
    size = settings.image_size
    train = planted_image_dataset(settings.train_samples, seed=seed, size=size)
    test = planted_image_dataset(settings.test_samples, seed=seed + 1, size=size)
    width = settings.image_hidden_size
    classifier = ViTForImageClassification(
        ViTConfig(
            image_size=size,
            patch_size=4,
            hidden_size=width,
            num_hidden_layers=2,
            num_attention_heads=4,
            intermediate_size=2 * width,
            num_labels=3,
            id2label={0: "red", 1: "green", 2: "blue"},
            label2id={"red": 0, "green": 1, "blue": 2},
        )
    )
    logger.info("image: training the classifier (phase 1)")
    args = _arguments(runs / "image_classifier", 2 * settings.classifier_epochs, 2e-3, seed, progress)
    fine_tune_classifier(classifier, None, args, train.select_columns(IMAGE_COLUMNS))

    logger.info("image: training the scorer (phase 2)")
    config = ScorerConfig(hidden_size=width, num_hidden_layers=1)
    args = _arguments(runs / "image_scorer", settings.scorer_epochs, 3e-3, seed, progress)
    model = train_scorer(classifier, None, config, args, train.select_columns(IMAGE_COLUMNS)).model
    model.eval().save_pretrained(work / "models" / "image")

    batch = as_batch(test, ("pixel_values", "label", "evidence"))
    with torch.no_grad():
        out = model(pixel_values=batch["pixel_values"], labels=batch["label"])
    top_pixel = out.attributions.flatten(1).argmax(dim=1, keepdim=True)
    results = {
        "classifier_accuracy": (out.logits.argmax(-1) == batch["label"]).float().mean().item(),
        "masked_accuracy": (out.masked_logits.argmax(-1) == batch["label"]).float().mean().item(),
        "maximum_inside_evidence": batch["evidence"].flatten(1).gather(1, top_pixel).float().mean().item(),
        "mean_score": out.loss_terms.mean_score.mean().item(),
    }
    (work / "images").mkdir(exist_ok=True)
    figures = []
    for index in range(min(SHOWN_EXAMPLES, len(test))):
        name = f"images/example_{index}.png"
        picture = save_overlay(work / name, batch["pixel_values"][index], out.attributions[index])
        picture.resize((128, 128), resample=0).save(work / name)
        label = classifier.config.id2label[int(out.logits[index].argmax())]
        figures.append(f'<figure><img src="{name}" width="128"><figcaption>{html.escape(label)}</figcaption></figure>')
    logger.info("image: benchmarking the scorer against the baselines")
    benchmark = _benchmark(
        model,
        train,
        test.select_columns(["pixel_values", "label", "evidence"]),
        "evidence",
        settings,
        work / "benchmark" / "image",
        progress,
    )
    heading = "<h2>Images: held-out images (scorer map over the input)</h2>"
    return results, heading + "<div class='images'>" + "".join(figures) + "</div>", benchmark


#: the demo's parts, one classifier each, by the modality it explains
PARTS: dict[str, Callable[..., tuple[dict[str, Any], str, BenchmarkResult]]] = {
    TextModality.name: _text_part,
    ImageModality.name: _image_part,
}


def _benchmark_html(part: str, result: BenchmarkResult) -> str:
    """The benchmark table, the Pareto statement in words and the radar plot, for the page."""
    front = result.pareto_front()
    beaten_by = sorted({method for methods in front.beats_reference.values() for method in methods})
    verdict = (
        "no baseline is better than the scorer on a faithfulness and a clarity metric at once"
        if not beaten_by
        else "better than the scorer on a faithfulness and a clarity metric at once: " + ", ".join(beaten_by)
    )
    return (
        f"<h2>{part.capitalize()}: the scorer against the Captum baselines ({len(result.sample_indices)} held-out "
        "samples)</h2>"
        + result.to_html()
        + f"<p>Pareto front: {html.escape(', '.join(front.front) or 'empty')}; {html.escape(verdict)}. "
        f'Per-sample values: <a href="benchmark/{part}/results.json">results.json</a>.</p>'
        f'<img src="benchmark/{part}/radar.png" width="420">'
    )


def _summary_markdown(summary: dict[str, Any]) -> str:
    lines = ["# hf_ssxai demo", "", "| part | measure | value |", "|---|---|---:|"]
    for part in PARTS:
        lines += [f"| {part} | {name} | {value:.3f} |" for name, value in summary[part].items()]
    return "\n".join(lines) + "\n"


def run_demo(output_dir: str | Path, *, quick: bool = False, seed: int = 0, progress: bool = True) -> dict[str, Any]:
    """Train, explain and report; returns the summary that is also written to ``summary.json`` (the settings, each
    part's measures under its name, and each part's benchmark means under ``benchmark``)."""
    settings = DemoSettings.quick() if quick else DemoSettings()
    work = Path(output_dir)
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    results, sections, benchmarks = {}, {}, {}
    with tempfile.TemporaryDirectory() as runs:  # Trainer working folders; the checkpoints go to work/models
        for part, run_part in PARTS.items():
            results[part], sections[part], benchmarks[part] = run_part(settings, work, Path(runs), seed, progress)
    summary = {"settings": asdict(settings), **results}
    summary["benchmark"] = {
        part: {
            method: {m: stats["mean"] for m, stats in metrics.items()} for method, metrics in result.summary().items()
        }
        for part, result in benchmarks.items()
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=2))
    (work / "summary.md").write_text(
        _summary_markdown(summary)
        + "".join(f"\n## Benchmark: {part}\n\n{result.to_markdown()}\n" for part, result in benchmarks.items())
    )
    rows = "".join(
        f"<tr><td>{part}</td><td>{html.escape(name)}</td><td>{value:.3f}</td></tr>"
        for part in PARTS
        for name, value in summary[part].items()
    )
    page = html_page(
        [
            "<h1>hf_ssxai demo</h1><p>Small classifiers trained on data whose label is decided by one planted "
            "feature (a sentiment word, a coloured square); scorers trained self-supervised against them. "
            "Each explanation below comes from the same forward pass as the prediction.</p>",
            f"<table><tr><th>part</th><th>measure</th><th>value</th></tr>{rows}</table>",
            *(_benchmark_html(part, result) for part, result in benchmarks.items()),
            *sections.values(),
        ],
        title="hf_ssxai demo",
    )
    (work / "index.html").write_text(page)
    return summary
