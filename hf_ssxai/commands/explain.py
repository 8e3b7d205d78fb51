"""``hf-ssxai explain``: predict and explain texts, images or (caption, image) pairs with a checkpoint.

The command takes two kinds of input, texts (TEXT arguments) and images (``--image PATH``), each feeding the part of
the model's modality of the same name; a modality of both parts pairs them in order. ``--input FILE`` (``-``: stdin)
gives them one per line instead (a pair: caption, a tab, image path). The report shows a text part as a heat-map of
its words or tokens and an image part as an overlay PNG written beside ``--output``.
"""

from __future__ import annotations

import argparse
import html
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from PIL import Image

from ..errors import InvalidInputError
from ..markup import html_text, terminal_json, terminal_text
from .base import Command


@dataclass(frozen=True)
class InputOption:
    """One kind of input the command takes: the modality part it feeds (also its argparse destination), how the
    help and the messages name it, and how one gives it."""

    dest: str
    noun: str
    flag: str
    how: str


TEXTS = InputOption(dest="text", noun="caption", flag="TEXT", how="as a TEXT argument")
IMAGES = InputOption(dest="image", noun="image", flag="--image PATH", how="with --image PATH")


@dataclass(frozen=True)
class _Shown:
    """One explained input as each report format shows it."""

    json: dict[str, Any]
    html: str
    terminal: str


class ExplainCommand(Command):
    name = "explain"
    help = "predict and explain texts, images or (caption, image) pairs with a checkpoint"
    description = (
        "Load an hf_ssxai checkpoint (classifier, processor, scorer) and explain each input: the predicted label, "
        "its probability, and a score per word (text), a map over the image, or both (a text-image checkpoint: "
        "each caption is paired with one --image, in order). Texts longer than the model's maximum are truncated "
        "and marked [truncated]."
    )
    epilog = (
        "Examples:\n"
        '  hf-ssxai explain --model user/imdb-roberta-ssxai "a great movie" "a dull plot"\n'
        '  hf-ssxai explain --model ./checkpoint "a great movie" --format html --output explained.html\n'
        "  hf-ssxai explain --model ./vit-checkpoint --image cat.jpg dog.png --output out/explained.json "
        "--format json\n"
        "    (writes out/explained.json and one overlay per image: out/explained-0-cat.png, ...)\n"
        '  hf-ssxai explain --model ./caption-checkpoint "a dog on grass" "a red car" --image dog.jpg car.jpg\n'
        '    (text-image: pairs ("a dog on grass", dog.jpg) and ("a red car", car.jpg))\n'
        "  hf-ssxai explain --model ./checkpoint --input reviews.txt --format json --output explained.json\n"
        "  cat reviews.txt | hf-ssxai explain --model ./checkpoint --input -\n"
        "    (one text, image path, or caption<TAB>image path per line; a progress bar on stderr for many)\n"
    )

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--model", required=True, help="an hf_ssxai checkpoint: a folder or a Hub repo id")
        parser.add_argument(
            TEXTS.dest,
            nargs="*",
            metavar=TEXTS.flag,
            help="texts to explain (text classifiers), or captions (text-image classifiers: the i-th caption goes "
            "with the i-th --image; put them before --image)",
        )
        parser.add_argument(
            "--image",
            dest=IMAGES.dest,
            nargs="+",
            metavar="PATH",
            default=[],
            help="image files to explain (image classifiers), or one image per caption, in the captions' order "
            "(text-image classifiers)",
        )
        parser.add_argument(
            "--format",
            choices=("terminal", "html", "json"),
            default="terminal",
            help="terminal: a heat-map in the terminal (default; plain token[score] when not a terminal); html: a "
            "self-contained page; json: labels, scores and per-token/word scores (images: the summary; pairs: both)",
        )
        parser.add_argument(
            "--output",
            metavar="FILE",
            help="write the report to FILE instead of printing it; for images and pairs, also write one overlay PNG "
            "per image beside FILE",
        )
        parser.add_argument(
            "--level",
            choices=("word", "token"),
            default="word",
            help="text: show words (sub-token scores summed, default) or the tokenizer's tokens",
        )
        parser.add_argument(
            "--input",
            metavar="FILE",
            help="read the inputs from FILE ('-': stdin), one per line: a text, an image path, or (text-image "
            "checkpoints) a caption, a tab and an image path; blank lines are skipped",
        )
        parser.add_argument("--batch-size", type=int, default=8, help="inputs explained at once (default: 8)")
        parser.add_argument("--device", help="torch device (default: where the model loads, the cpu)")

    @classmethod
    def run(cls, args: argparse.Namespace) -> int:
        # lazy: loading a model imports torch and transformers (keeps --help quick)
        from tqdm.auto import tqdm

        from ..pipelines import pipeline

        texts, images = getattr(args, TEXTS.dest), getattr(args, IMAGES.dest)
        if args.input is not None and (texts or images):
            raise InvalidInputError("Give the inputs either as arguments or with --input FILE, not both.")
        if not texts and not images and args.input is None:
            raise InvalidInputError(
                "Nothing to explain: give one or more texts, or --image PATH (for a text-image checkpoint: captions "
                "and one --image PATH each), or --input FILE."
            )
        lines = _read_lines(args.input) if args.input is not None else None  # before loading: fail fast
        explain = pipeline(args.model, device=args.device, batch_size=args.batch_size, return_tensors=True)
        parts = set(explain.model.modality.parts)
        if lines is not None:
            texts, images = _inputs_of_lines(lines, args.input, parts)
            setattr(args, TEXTS.dest, texts)
            setattr(args, IMAGES.dest, images)
        if images and args.format == "html" and args.output is None:
            raise InvalidInputError(
                "An HTML report of images links overlay PNGs written beside it: give --output FILE."
            )
        if parts == {TEXTS.dest, IMAGES.dest}:
            inputs: list[Any] = _pairs(args, explain.modality)
        elif texts and images:
            raise InvalidInputError("Give either texts or --image paths to explain, not both.")
        elif parts != {(IMAGES if images else TEXTS).dest}:
            fix = "give texts" if parts == {TEXTS.dest} else "give images with --image PATH"
            raise InvalidInputError(f"{args.model} is a {explain.modality} classifier: {fix}.")
        else:
            inputs = images or texts
        if args.output is not None and not (folder := Path(args.output).parent).is_dir():
            folder.mkdir(parents=True)  # documented: --output makes its missing folders, and says so
            print(f"Created the folder {terminal_text(folder)} for --output", file=sys.stderr)
        # streamed through the pipeline, so the bar moves as each batch is done (shown when there is more than one)
        progress = tqdm(total=len(inputs), desc="explain", unit="input", disable=len(inputs) <= args.batch_size)
        results = []
        for result in explain(iter(inputs)):
            results.append(result)
            progress.update()
        progress.close()
        if len(parts) > 1:
            report = _pair_report(args, results)
        else:
            report = _image_report(args, results) if images else _text_report(args, texts, results)
        if args.output is None:
            print(report)
        else:
            Path(args.output).write_text(report + "\n", encoding="utf-8")
            print(f"Wrote {terminal_text(args.output)}")
        return 0


def _read_lines(source: str) -> list[str]:
    """The non-blank lines of ``--input`` (a file, or ``-`` for stdin)."""
    try:
        content = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInputError(f"Cannot read the inputs from {source}: {error}") from error
    lines = [line.rstrip("\r") for line in content.split("\n") if line.strip()]
    if not lines:
        raise InvalidInputError(f"Nothing to explain: {'stdin' if source == '-' else source} has no non-blank line.")
    return lines


def _inputs_of_lines(lines: list[str], source: str, parts: set[str]) -> tuple[list[str], list[str]]:
    """The texts and image paths of ``--input`` lines: one input per line, a text or an image path as the checkpoint
    takes, or a caption, a tab and an image path for a checkpoint of both."""
    if parts == {TEXTS.dest, IMAGES.dest}:
        pairs = [line.rsplit("\t", 1) for line in lines]
        if bad := next((number for number, pair in enumerate(pairs, 1) if len(pair) != 2), None):
            raise InvalidInputError(
                f"Line {bad} of {'stdin' if source == '-' else source} has no tab: a text-image checkpoint reads a "
                "caption, a tab and an image path per line."
            )
        return [caption for caption, _ in pairs], [path for _, path in pairs]
    return (lines, []) if parts == {TEXTS.dest} else ([], lines)


def _pairs(args: argparse.Namespace, modality: str) -> list[dict[str, str]]:
    """The inputs of a checkpoint of both parts: the captions (TEXT) and the ``--image`` paths, paired in order."""
    texts, images = getattr(args, TEXTS.dest), getattr(args, IMAGES.dest)
    if len(texts) != len(images):
        hint = ""
        if not texts:
            hint = f" Give each {IMAGES.noun}'s {TEXTS.noun} {TEXTS.how}, in the {IMAGES.noun}s' order."
        elif not images:
            hint = f" Give one {IMAGES.noun} per {TEXTS.noun} {IMAGES.how}, in the {TEXTS.noun}s' order."
        raise InvalidInputError(
            f"{args.model} is a {modality} classifier: each {TEXTS.noun} ({TEXTS.flag}) needs one {IMAGES.noun} "
            f"({IMAGES.flag}), paired in order; got {len(texts)} {TEXTS.noun}(s) and {len(images)} "
            f"{IMAGES.noun}(s).{hint}"
        )
    return [{TEXTS.dest: text, IMAGES.dest: path} for text, path in zip(texts, images, strict=True)]


def _report(args: argparse.Namespace, shown: list[_Shown], separator: str) -> str:
    """The report in ``args.format``: a JSON list, one HTML page, or the terminal blocks joined by ``separator``."""
    from ..visualization import html_page  # lazy: matplotlib (keeps --help quick)

    if args.format == "json":
        return terminal_json(json.dumps([s.json for s in shown], indent=2, ensure_ascii=False, default=str))
    if args.format == "html":
        return html_page([s.html for s in shown], title=f"hf-ssxai explanations: {args.model}")
    return separator.join(s.terminal for s in shown)


def _heading(result: dict[str, Any], truncated: bool = False) -> str:
    """``label (score)``, marked ``[truncated]`` for a text cut to the model's maximum."""
    return f"{result['label']} ({result['score']:.3f})" + (" [truncated]" if truncated else "")


def _heat_map(args: argparse.Namespace, heading: str, text: dict[str, Any]) -> tuple[str, str]:
    """The HTML fragment and the terminal lines of a text result (``tokens``, ``words`` and their scores): the
    heading, then its words or tokens (``--level``) as a heat-map."""
    from ..visualization import tokens_to_html, tokens_to_terminal  # lazy: matplotlib (keeps --help quick)

    units, scores = ("words", "word_scores") if args.level == "word" else ("tokens", "token_scores")
    color = args.output is None and sys.stdout.isatty()
    terminal = tokens_to_terminal(text[units], text[scores], color=color)
    return tokens_to_html(text[units], text[scores], title=heading), f"{terminal_text(heading)}\n{terminal}"


def _text_fields(text: dict[str, Any]) -> dict[str, Any]:
    """A text result as the JSON report shows it: everything but the attribution tensor."""
    return {key: value for key, value in text.items() if key != "attributions"}


def _write_overlays(args: argparse.Namespace, maps: list[Any]) -> list[Path | None]:
    """With ``--output FILE``: each ``--image`` with its map overlaid, written beside FILE as
    ``<FILE stem>-<index>-<image stem>.png``; their paths (None each without ``--output``)."""
    from ..visualization import save_overlay  # lazy: matplotlib (keeps --help quick)

    if args.output is None:
        return [None] * len(maps)
    output = Path(args.output)
    overlays = []
    for index, (path, scores) in enumerate(zip(getattr(args, IMAGES.dest), maps, strict=True)):
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
        f"{html_text(caption)}</figcaption></figure>"
    )


def _text_report(args: argparse.Namespace, texts: list[str], results: list[dict[str, Any]]) -> str:
    shown = []
    for text, result in zip(texts, results, strict=True):
        page, lines = _heat_map(args, _heading(result, result["truncated"]), result)
        shown.append(_Shown({TEXTS.dest: text, **_text_fields(result)}, page, lines))
    return _report(args, shown, "\n\n")


def _image_report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    shown = []
    overlays = _write_overlays(args, [result["map"] for result in results])
    for path, result, overlay in zip(getattr(args, IMAGES.dest), results, overlays, strict=True):
        line = f"{path}: {_heading(result)}"
        summary = {IMAGES.dest: path, "label": result["label"], "score": result["score"], "overlay": overlay}
        printed = terminal_text(line + (f" -> {overlay}" if overlay else ""))
        shown.append(_Shown(summary, _figure(overlay, line), printed))
    return _report(args, shown, "\n")


def _pair_report(args: argparse.Namespace, results: list[dict[str, Any]]) -> str:
    """The report of (caption, image) pairs: per pair the caption's heat-map, headed by the image and the
    prediction, and the image's overlay."""
    shown = []
    overlays = _write_overlays(args, [result[IMAGES.dest]["map"] for result in results])
    pairs = zip(getattr(args, TEXTS.dest), getattr(args, IMAGES.dest), results, overlays, strict=True)
    for caption, path, result, overlay in pairs:
        text = result[TEXTS.dest]
        page, lines = _heat_map(args, f"{path}: {_heading(result, text['truncated'])}", text)
        summary = {TEXTS.dest: caption, IMAGES.dest: path, "label": result["label"], "score": result["score"]}
        shown.append(
            _Shown(
                {**summary, **_text_fields(text), "overlay": overlay},
                f'<section class="ssxai-pair">\n{page}\n{_figure(overlay, path)}\n</section>',
                lines + (f"\noverlay: {terminal_text(overlay)}" if overlay else ""),
            )
        )
    return _report(args, shown, "\n\n")
