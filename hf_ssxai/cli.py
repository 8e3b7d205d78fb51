"""The ``hf-ssxai`` command."""

from __future__ import annotations

import argparse
import html
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .errors import CheckpointError, InvalidInputError, SSXAIError


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    summary = run_demo(args.output_dir, quick=args.quick, seed=args.seed, progress=not args.quiet)
    print(f"Wrote {args.output_dir}/index.html")
    for part in ("text", "image"):
        print(part + ": " + ", ".join(f"{name} {value:.3f}" for name, value in summary[part].items()))
    return 0


def _benchmark(args: argparse.Namespace) -> int:
    import datasets

    from .benchmark import benchmark_from_pretrained, report_markdown, write_report

    if args.quiet:
        datasets.disable_progress_bars()
    result = benchmark_from_pretrained(
        args.model,
        args.dataset,
        split=args.split,
        text_column=args.text_column,
        image_column=args.image_column,
        label_column=args.label_column,
        evidence_column=args.evidence_column,
        num_samples=args.num_samples,
        methods=_methods(args.methods),
        batch_size=args.batch_size,
        baseline_samples=args.baseline_samples,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet,
    )
    paths = write_report(result, args.output_dir)
    print(report_markdown(result))
    print("\nWrote " + ", ".join(str(path) for path in paths.values()))
    return 0


def _methods(value: str | None) -> list[str] | None:
    return None if value is None else [name.strip() for name in value.split(",") if name.strip()]


def _write_evaluation(result: Any, output: Path, name: str, legend: str) -> int:
    """Write ``NAME.json`` and ``NAME.png`` of an evaluation result and print its table."""
    output.mkdir(parents=True, exist_ok=True)
    result.to_json(output / f"{name}.json")
    result.plot(output / f"{name}.png")
    print(result.to_markdown())
    print(f"\n{legend} Wrote {output / (name + '.json')} and {name}.png")
    return 0


def _grid_pointing_game(args: argparse.Namespace) -> int:
    from .evaluation.from_pretrained import grid_pointing_game_from_pretrained

    result = grid_pointing_game_from_pretrained(
        args.model,
        args.dataset,
        split=args.split,
        image_column=args.image_column,
        label_column=args.label_column,
        methods=_methods(args.methods),
        num_grids=args.num_grids,
        grid_size=args.grid_size,
        class_distribution=not args.no_class_distribution,
        seed=args.seed,
        device=args.device,
    )
    return _write_evaluation(
        result,
        Path(args.output_dir),
        "grid_pointing_game",
        "Share of positive attribution in the tile of the class asked for (0.25: blind to the class).",
    )


def _sanity_check(args: argparse.Namespace) -> int:
    from .evaluation.from_pretrained import sanity_check_from_pretrained

    result = sanity_check_from_pretrained(
        args.model,
        args.dataset,
        randomized_model=args.randomized_model,
        split=args.split,
        text_column=args.text_column,
        image_column=args.image_column,
        methods=_methods(args.methods),
        num_samples=args.num_samples,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
    )
    name = "cascading" if args.randomized_model is None else "data_randomization"
    return _write_evaluation(
        result, Path(args.output_dir), name, "Spearman rank correlation with the original maps (1: unchanged)."
    )


def _train(args: argparse.Namespace) -> int:
    from .training.recipe import (
        load_recipe,
        parse_scorer_options,
        run_classifier_phase,
        run_scorer_phase,
        write_metrics,
    )

    recipe = load_recipe(args.config)
    common = {"max_train_samples": args.max_train_samples, "resume_from_checkpoint": args.resume_from_checkpoint}
    if args.command == "train-classifier":
        metrics = {"classifier": run_classifier_phase(recipe, args.output_dir, **common)}
        written = Path(args.output_dir) / "classifier"
    else:
        options = parse_scorer_options(args.scorer_option)
        metrics = {
            "scorer": run_scorer_phase(
                recipe, args.output_dir, classifier_dir=args.classifier, scorer_options=options, **common
            )
        }
        written = Path(args.output_dir) / "model"
    path = write_metrics(args.output_dir, metrics)
    print(json.dumps(metrics, indent=2, default=str))
    print(f"Wrote {written} and {path}")
    return 0


@dataclass(frozen=True)
class _Shown:
    """One explained input as each report format shows it."""

    json: dict[str, Any]
    html: str
    terminal: str


def _report(args: argparse.Namespace, shown: list[_Shown], separator: str) -> str:
    """The report in ``args.format``: a JSON list, one HTML page, or the terminal blocks joined by ``separator``."""
    from .visualization import html_page

    if args.format == "json":
        return json.dumps([s.json for s in shown], indent=2, ensure_ascii=False, default=str)
    if args.format == "html":
        return html_page([s.html for s in shown], title=f"hf-ssxai explanations: {args.model}")
    return separator.join(s.terminal for s in shown)


def _heading(result: dict[str, Any], truncated: bool = False) -> str:
    """``label (score)``, marked ``[truncated]`` for a text cut to the model's maximum."""
    return f"{result['label']} ({result['score']:.3f})" + (" [truncated]" if truncated else "")


def _heat_map(args: argparse.Namespace, heading: str, text: dict[str, Any]) -> tuple[str, str]:
    """The HTML fragment and the terminal lines of a text result (``tokens``, ``words`` and their scores): the
    heading, then its words or tokens (``--level``) as a heat-map."""
    from .visualization import tokens_to_html, tokens_to_terminal

    units, scores = ("words", "word_scores") if args.level == "word" else ("tokens", "token_scores")
    color = args.output is None and sys.stdout.isatty()
    terminal = tokens_to_terminal(text[units], text[scores], color=color)
    return tokens_to_html(text[units], text[scores], title=heading), f"{heading}\n{terminal}"


def _text_fields(text: dict[str, Any]) -> dict[str, Any]:
    """A text result as the JSON report shows it: everything but the attribution tensor."""
    return {key: value for key, value in text.items() if key != "attributions"}


def _write_overlays(args: argparse.Namespace, maps: list[Any]) -> list[Path | None]:
    """With ``--output FILE``: each ``--image`` with its map overlaid, written beside FILE as
    ``<FILE stem>-<index>-<image stem>.png``; their paths (None each without ``--output``)."""
    from PIL import Image

    from .visualization import save_overlay

    if args.output is None:
        return [None] * len(maps)
    output = Path(args.output)
    overlays = []
    for index, (path, scores) in enumerate(zip(args.image, maps, strict=True)):
        overlays.append(output.parent / f"{output.stem}-{index}-{Path(path).stem}.png")
        with Image.open(path) as image:
            save_overlay(overlays[-1], image, scores)
    return overlays


def _figure(overlay: Path | None, caption: str) -> str:
    """An HTML figure of ``overlay`` (a PNG beside the page) with ``caption``; empty without an overlay (an HTML
    report of images always has one)."""
    if overlay is None:
        return ""
    return (
        f'<figure><img src="{html.escape(quote(overlay.name))}" width="256"><figcaption>'
        f"{html.escape(caption)}</figcaption></figure>"
    )


def _text_report(args: argparse.Namespace, texts: list[str], results: list[dict[str, Any]]) -> str:
    shown = []
    for text, result in zip(texts, results, strict=True):
        page, lines = _heat_map(args, _heading(result, result["truncated"]), result)
        shown.append(_Shown({"text": text, **_text_fields(result)}, page, lines))
    return _report(args, shown, "\n\n")


def _image_report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    shown = []
    overlays = _write_overlays(args, [result["map"] for result in results])
    for path, result, overlay in zip(args.image, results, overlays, strict=True):
        line = f"{path}: {_heading(result)}"
        summary = {"image": path, "label": result["label"], "score": result["score"], "overlay": overlay}
        shown.append(_Shown(summary, _figure(overlay, line), line + (f" -> {overlay}" if overlay else "")))
    return _report(args, shown, "\n")


def _pair_report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    """The report of (caption, image) pairs: per pair the caption's heat-map, headed by the image and the
    prediction, and the image's overlay."""
    shown = []
    overlays = _write_overlays(args, [result["image"]["map"] for result in results])
    for caption, path, result, overlay in zip(args.texts, args.image, results, overlays, strict=True):
        page, lines = _heat_map(args, f"{path}: {_heading(result, result['text']['truncated'])}", result["text"])
        summary = {"text": caption, "image": path, "label": result["label"], "score": result["score"]}
        shown.append(
            _Shown(
                {**summary, **_text_fields(result["text"]), "overlay": overlay},
                f'<section class="ssxai-pair">\n{page}\n{_figure(overlay, path)}\n</section>',
                lines + (f"\noverlay: {overlay}" if overlay else ""),
            )
        )
    return _report(args, shown, "\n\n")


def _pairs(args: argparse.Namespace) -> list[dict[str, str]]:
    """The inputs of a text-image checkpoint: the captions (TEXT) and the ``--image`` paths, paired in order."""
    captions, images = len(args.texts), len(args.image)
    if captions != images:
        hint = ""
        if not captions:
            hint = " Give each image's caption as a TEXT argument, in the images' order."
        elif not images:
            hint = " Give one image per caption with --image PATH, in the captions' order."
        raise InvalidInputError(
            f"{args.model} is a text-image classifier: each caption (TEXT) needs one image (--image PATH), paired "
            f"in order; got {captions} caption(s) and {images} image(s).{hint}"
        )
    return [{"text": text, "image": path} for text, path in zip(args.texts, args.image, strict=True)]


def _explain(args: argparse.Namespace) -> int:
    from .pipelines import pipeline

    if not args.texts and not args.image:
        raise InvalidInputError(
            "Nothing to explain: give one or more texts, or --image PATH (for a text-image checkpoint: captions "
            "and one --image PATH each)."
        )
    if args.image and args.format == "html" and args.output is None:
        raise InvalidInputError("An HTML report of images links overlay PNGs written beside it: give --output FILE.")
    explain = pipeline(args.model, device=args.device, batch_size=args.batch_size)
    if explain.modality == "text-image":
        inputs: list[Any] = _pairs(args)
    elif args.texts and args.image:
        raise InvalidInputError("Give either texts or --image paths to explain, not both.")
    elif explain.modality != ("image" if args.image else "text"):
        fix = "give texts" if explain.modality == "text" else "give images with --image PATH"
        raise InvalidInputError(f"{args.model} is a {explain.modality} classifier: {fix}.")
    else:
        inputs = args.image or args.texts
    if args.output is not None:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    results = explain(inputs)
    if explain.modality == "text-image":
        report = _pair_report(args, results)
    else:
        report = _image_report(args, results) if args.image else _text_report(args, args.texts, results)
    if args.output is None:
        print(report)
    else:
        Path(args.output).write_text(report + "\n", encoding="utf-8")
        print(f"Wrote {args.output}")
    return 0


def _read_file(path: str | None, read: Callable[[str], Any]) -> Any:
    """``read(path)``, None without a path; unreadable or invalid files become :class:`InvalidInputError`."""
    if path is None:
        return None
    try:
        return read(path)
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InvalidInputError(f"Cannot read {path}: {error}") from error


def _push(args: argparse.Namespace) -> int:
    from huggingface_hub.errors import HfHubHTTPError, OfflineModeIsEnabled

    from .benchmark import BenchmarkResult
    from .modeling import AutoModelWithScorer

    if not Path(args.model).is_dir():
        raise CheckpointError(f"No checkpoint folder at {args.model}: give the folder that save_pretrained() wrote.")
    benchmark = _read_file(args.benchmark, BenchmarkResult.from_json)
    training_info = _read_file(args.training_info, lambda path: json.loads(Path(path).read_text()))
    if training_info is not None and not isinstance(training_info, dict):
        raise InvalidInputError(f'{args.training_info} must hold a JSON object, e.g. {{"datasets": ["imdb"]}}.')
    model = AutoModelWithScorer.from_pretrained(args.model)
    try:
        commit = model.push_to_hub(
            args.repo_id,
            revision=args.revision,
            private=args.private or None,
            commit_message=args.commit_message,
            scorer_only=args.scorer_only,
            benchmark=benchmark,
            training_info=training_info,
        )
    except (HfHubHTTPError, OfflineModeIsEnabled) as error:
        raise SSXAIError(f"Upload to {args.repo_id} failed: {error}") from error
    print(f"Pushed {args.model} to {args.repo_id}: {commit.commit_url}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hf-ssxai", description="Learned explainers for Hugging Face classifiers.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser(
        "demo",
        help="train small classifiers and scorers offline, then explain held-out inputs",
        description="Fully offline: generates planted-evidence text and images, trains a small classifier "
        "and its scorer for each, and writes an HTML report with explanations of held-out examples.",
    )
    demo.add_argument("--output-dir", default="demo_output", help="where to write the report (default: demo_output)")
    demo.add_argument("--quick", action="store_true", help="a much smaller run (seconds), for smoke tests")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    demo.add_argument("--quiet", action="store_true", help="no progress bars")
    demo.set_defaults(handler=_demo)

    for name, phase in (("train-classifier", "classifier"), ("train-scorer", "scorer")):
        train = commands.add_parser(
            name,
            help=f"run the {phase} phase of a YAML training recipe",
            description=(
                "Phase 1 of a recipe: fine-tune the classifier (with masking augmentation unless the recipe sets "
                "mask_probability: 0) and save it with its processor to OUTPUT_DIR/classifier."
                if phase == "classifier"
                else "Phase 2 of a recipe: train a scorer against the frozen classifier in --classifier (default: "
                "OUTPUT_DIR/classifier) and save classifier + scorer to OUTPUT_DIR/model."
            )
            + " Metrics go to OUTPUT_DIR/metrics.json. Recipes: recipes/configs/, format in docs/recipes.md. For "
            "several processes or GPUs run recipes/train.py with accelerate launch.",
            epilog="Examples:\n"
            "  hf-ssxai train-classifier --config recipes/configs/sst2_local.yaml --output-dir runs/sst2\n"
            "  hf-ssxai train-scorer --config recipes/configs/sst2_local.yaml --output-dir runs/sst2 "
            "--scorer-option target=prediction\n",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        train.add_argument("--config", required=True, metavar="RECIPE", help="YAML recipe (see recipes/configs/)")
        train.add_argument("--output-dir", required=True, help="folder for the checkpoint, runs and metrics.json")
        train.add_argument("--max-train-samples", type=int, help="use at most this many training samples")
        train.add_argument("--resume-from-checkpoint", metavar="CHECKPOINT", help="a checkpoint folder of this phase")
        if phase == "scorer":
            train.add_argument(
                "--classifier", metavar="DIR", help="the classifier folder (default: OUTPUT_DIR/classifier)"
            )
            train.add_argument(
                "--scorer-option",
                action="append",
                default=[],
                metavar="KEY=VALUE",
                help="override a ScorerConfig field, e.g. use_relu=false or target=prediction (repeatable)",
            )
        train.set_defaults(handler=_train)

    from .explainers import EXPLAINER_NAMES

    benchmark = commands.add_parser(
        "benchmark",
        help="compare the scorer with the attribution baselines on a dataset (faithfulness, clarity, cost)",
        description="Explain the same samples with every method (target: the classifier's prediction), measure "
        "every map on the same features (padding and special tokens excluded) and write DIR/results.json "
        "(per-sample values, summary, cost, metadata), DIR/results.md (table: mean ± std, best per column in "
        "bold; Pareto statement; setup) and DIR/radar.png. Works offline with local checkpoints and data files.",
        epilog="Examples:\n"
        "  hf-ssxai benchmark --model user/sst2-bert-ssxai --dataset stanfordnlp/sst2 --split validation "
        "--text-column sentence\n"
        "  hf-ssxai benchmark --model ./checkpoint --dataset data/test.tsv --text-column content "
        "--methods scorer,saliency,integrated_gradients\n"
        "  hf-ssxai benchmark --model ./vit-checkpoint --dataset ./images --split validation\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    benchmark.add_argument(
        "--model", required=True, help="an hf_ssxai checkpoint: a folder or a Hub repo (classifier, processor, scorer)"
    )
    benchmark.add_argument(
        "--dataset",
        required=True,
        help="a Hub dataset id, a local folder (data files, or one subfolder of images per class) or one local "
        ".csv/.tsv/.json/.jsonl/.parquet file (which then is the evaluated split)",
    )
    benchmark.add_argument("--split", default="test", help="the split to evaluate (default: test)")
    benchmark.add_argument(
        "--text-column", help="column with the raw texts, for text and text-image classifiers (default: text)"
    )
    benchmark.add_argument(
        "--image-column", help="column with the images, for image and text-image classifiers (default: image)"
    )
    benchmark.add_argument(
        "--label-column", help="column with class indices, for the accuracy in the metadata (default: label, if any)"
    )
    benchmark.add_argument(
        "--evidence-column",
        help="column with ground-truth evidence per sample (a token/pixel index or a per-feature mask): "
        "adds the pointing game and rationale F1 / IoU",
    )
    benchmark.add_argument(
        "--num-samples", type=int, default=500, help="samples evaluated, drawn at random with --seed (default: 500)"
    )
    benchmark.add_argument(
        "--methods",
        help=f"comma-separated methods of {','.join(EXPLAINER_NAMES)} (default: every one that supports the "
        "classifier; agf needs a ResNet, transformer_relevance a ViT, DeiT or BERT-family model)",
    )
    benchmark.add_argument("--batch-size", type=int, default=16, help="samples explained at once (default: 16)")
    benchmark.add_argument(
        "--baseline-samples",
        type=int,
        default=20,
        help="baseline samples for deeplift_shap and gradient_shap, from the train split if there is one, else "
        "the first rows of the evaluated split, which are then not evaluated (default: 20)",
    )
    benchmark.add_argument("--output-dir", default="benchmark_output", help="default: benchmark_output")
    benchmark.add_argument("--seed", type=int, default=0, help="seed of sample draws and methods (default: 0)")
    benchmark.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    benchmark.add_argument("--quiet", action="store_true", help="no progress bars")
    benchmark.set_defaults(handler=_benchmark)

    grid = commands.add_parser(
        "grid-pointing-game",
        help="score how well each method's map for a class points at the tile of that class in 2x2 image grids",
        description="Tiles images the classifier gets right into 2x2 grids of four distinct classes, asks every "
        "method for the map of each tile's class and scores the share of positive attribution inside that tile "
        "(1: perfect, 0.25: blind to the class). Writes DIR/grid_pointing_game.json. See docs/evaluation.md.",
        epilog="Example:\n  hf-ssxai grid-pointing-game --model runs/mnist_resnet/model --dataset data/mnist "
        "--num-grids 200\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    grid.add_argument("--model", required=True, help="an hf_ssxai image checkpoint: a folder or a Hub repo")
    grid.add_argument("--dataset", required=True, help="a Hub dataset id or a local folder with a label column")
    grid.add_argument("--split", default="test", help="the split the images come from (default: test)")
    grid.add_argument("--image-column", help="column with the images (default: image)")
    grid.add_argument("--label-column", default="label", help="column with the classes (default: label)")
    grid.add_argument("--num-grids", type=int, default=200, help="grids evaluated (default: 200)")
    grid.add_argument(
        "--grid-size",
        type=int,
        help="grid side in pixels (default: twice the image side; give the classifier's own size for a ViT)",
    )
    grid.add_argument("--methods", help="comma-separated methods (default: every one that supports the classifier)")
    grid.add_argument(
        "--no-class-distribution", action="store_true", help="skip the rows of each method in ClassDistribution"
    )
    grid.add_argument("--output-dir", default="grid_output", help="default: grid_output")
    grid.add_argument("--seed", type=int, default=0, help="seed of the grids (default: 0)")
    grid.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    grid.set_defaults(handler=_grid_pointing_game)

    sanity = commands.add_parser(
        "sanity-check",
        help="randomization sanity checks: do the maps change when the classifier's weights or labels are random?",
        description="Cascading model randomization (default): re-draws the classifier's layers from the head down "
        "and, after each step, measures how similar every method's maps stay to the original ones (Spearman rank "
        "correlation; 1 = unchanged, which a faithful method must not stay). With --randomized-model: data "
        "randomization against a checkpoint of the same classifier trained on shuffled labels. Writes DIR/*.json "
        "and a plot. See docs/evaluation.md.",
        epilog="Examples:\n  hf-ssxai sanity-check --model ./checkpoint --dataset ./images --split validation\n"
        "  hf-ssxai sanity-check --model ./checkpoint --randomized-model ./shuffled-checkpoint --dataset ./images\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sanity.add_argument("--model", required=True, help="an hf_ssxai checkpoint: a folder or a Hub repo")
    sanity.add_argument("--dataset", required=True, help="a Hub dataset id, a local folder or a data file")
    sanity.add_argument("--randomized-model", help="a checkpoint trained on shuffled labels: data randomization")
    sanity.add_argument("--split", default="test", help="the split to explain (default: test)")
    columns = sanity.add_mutually_exclusive_group()
    columns.add_argument("--text-column", help="column with the raw texts (default: text)")
    columns.add_argument("--image-column", help="column with the images (default: image)")
    sanity.add_argument("--num-samples", type=int, default=100, help="samples explained (default: 100)")
    sanity.add_argument("--methods", help="comma-separated methods (default: every one that supports the classifier)")
    sanity.add_argument("--batch-size", type=int, default=16, help="samples explained at once (default: 16)")
    sanity.add_argument("--output-dir", default="sanity_output", help="default: sanity_output")
    sanity.add_argument("--seed", type=int, default=0, help="seed of the samples and random weights (default: 0)")
    sanity.add_argument("--device", help="torch device (default: cuda if available, else cpu)")
    sanity.set_defaults(handler=_sanity_check)

    explain = commands.add_parser(
        "explain",
        help="predict and explain texts, images or (caption, image) pairs with a checkpoint",
        description="Load an hf_ssxai checkpoint (classifier, processor, scorer) and explain each input: the "
        "predicted label, its probability, and a score per word (text), a map over the image, or both (a "
        "text-image checkpoint: each caption is paired with one --image, in order). Texts longer than the "
        "model's maximum are truncated and marked [truncated].",
        epilog="Examples:\n"
        '  hf-ssxai explain --model user/imdb-roberta-ssxai "a great movie" "a dull plot"\n'
        '  hf-ssxai explain --model ./checkpoint "a great movie" --format html --output explained.html\n'
        "  hf-ssxai explain --model ./vit-checkpoint --image cat.jpg dog.png --output out/explained.json "
        "--format json\n"
        "    (writes out/explained.json and one overlay per image: out/explained-0-cat.png, ...)\n"
        '  hf-ssxai explain --model ./caption-checkpoint "a dog on grass" "a red car" --image dog.jpg car.jpg\n'
        '    (text-image: pairs ("a dog on grass", dog.jpg) and ("a red car", car.jpg))\n',
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    explain.add_argument("--model", required=True, help="an hf_ssxai checkpoint: a folder or a Hub repo id")
    explain.add_argument(
        "texts",
        nargs="*",
        metavar="TEXT",
        help="texts to explain (text classifiers), or captions (text-image classifiers: the i-th caption goes with "
        "the i-th --image; put them before --image)",
    )
    explain.add_argument(
        "--image",
        nargs="+",
        metavar="PATH",
        help="image files to explain (image classifiers), or one image per caption, in the captions' order "
        "(text-image classifiers)",
        default=[],
    )
    explain.add_argument(
        "--format",
        choices=("terminal", "html", "json"),
        default="terminal",
        help="terminal: a heat-map in the terminal (default; plain token[score] when not a terminal); html: a "
        "self-contained page; json: labels, scores and per-token/word scores (images: the summary; pairs: "
        "both)",
    )
    explain.add_argument(
        "--output",
        metavar="FILE",
        help="write the report to FILE instead of printing it; for images and pairs, also write one overlay PNG "
        "per image beside FILE",
    )
    explain.add_argument(
        "--level",
        choices=("word", "token"),
        default="word",
        help="text: show words (sub-token scores summed, default) or the tokenizer's tokens",
    )
    explain.add_argument("--batch-size", type=int, default=8, help="inputs explained at once (default: 8)")
    explain.add_argument("--device", help="torch device (default: where the model loads, the cpu)")
    explain.set_defaults(handler=_explain)

    push = commands.add_parser(
        "push",
        help="upload a checkpoint with a model card to the Hugging Face Hub",
        description="Upload a checkpoint folder (classifier, processor, scorer; or only the scorer) to a Hub "
        "repository in one commit, with a README.md model card: what the scorer is, how it was trained, its "
        "benchmark table (with --benchmark), its limits and a usage snippet. The repository (and --revision "
        "branch) is created if needed. Authenticates as huggingface_hub does: HF_TOKEN or `hf auth login`.",
        epilog="Examples:\n"
        "  hf-ssxai push --model ./checkpoint --repo-id user/imdb-roberta-ssxai --benchmark bench/results.json\n"
        "  hf-ssxai push --model ./checkpoint --repo-id user/imdb-scorer --scorer-only --revision v1 --private\n",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    push.add_argument("--model", required=True, metavar="PATH", help="the checkpoint folder save_pretrained() wrote")
    push.add_argument("--repo-id", required=True, metavar="USER/REPO", help="the Hub repository to upload to")
    push.add_argument("--revision", help="branch to commit to (created from main if missing; default: main)")
    push.add_argument("--private", action="store_true", help="create the repository private (if it is created)")
    push.add_argument(
        "--scorer-only",
        action="store_true",
        help="upload only scorer/; its config names the base classifier, which must then be on the Hub",
    )
    push.add_argument(
        "--benchmark", metavar="RESULTS_JSON", help="results.json of `hf-ssxai benchmark`, tabulated in the card"
    )
    push.add_argument(
        "--training-info",
        metavar="JSON_FILE",
        help='a JSON object of training facts listed in the card, e.g. {"datasets": ["imdb"], "steps": 2000}',
    )
    push.add_argument("--commit-message", help="default: Upload classifier and hf_ssxai scorer")
    push.set_defaults(handler=_push)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: returns the exit status (0 on success, 1 on a clear error, 2 on bad usage)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        return args.handler(args)
    except SSXAIError as error:
        print(f"hf-ssxai {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
