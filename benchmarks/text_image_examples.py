"""Example figures for a text-image checkpoint: each pair's caption heat-map beside its image overlay, one row per
method (the scorer and baselines), every map explaining the classifier's prediction.

Run:  python benchmarks/text_image_examples.py --model runs/flickr8k/model --dataset data/flickr8k --split test \
          --rows 0,1,2,3 --output-dir benchmarks/results/flickr8k
Writes example_<row>.png per row. ``draw_examples`` is also what benchmarks/digit_caption.py draws with.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import torch
from datasets import Dataset

from hf_ssxai import AutoModelWithScorer
from hf_ssxai.benchmark import dataset_to_batch, prepare_dataset
from hf_ssxai.data.loading import load_dataset_splits
from hf_ssxai.explainers import get_explainer
from hf_ssxai.visualization import caption_and_overlay

METHODS = ("scorer", "saliency", "integrated_gradients")


def draw_examples(
    model: AutoModelWithScorer,
    pairs: Dataset,
    titles: Sequence[str],
    paths: Sequence[Path],
    methods: Sequence[str] = METHODS,
) -> None:
    """One figure per row of ``pairs`` (model inputs of a text-image model) at the matching path: the tokens the
    model reads (special tokens and padding left out) and the image, shaded by each method's maps."""
    explainers = {name: get_explainer(name, model) for name in methods}
    images = model.processor.image_processor
    tokenizer = model.processor.tokenizer
    for index, (title, path) in enumerate(zip(titles, paths, strict=True)):
        row = dataset_to_batch(model, pairs.select([index]))
        valid = model.modality.feature_mask(row, model.scorer_config)
        tokens = tokenizer.convert_ids_to_tokens(row["input_ids"][0][valid["text"][0]].tolist())
        maps = {}
        for name, explainer in explainers.items():
            out = explainer.attribute(row)
            maps[name] = {"text": out.attributions["text"][0][valid["text"][0]], "image": out.attributions["image"][0]}
        caption_and_overlay(
            tokens, row["pixel_values"][0], maps, path, title, mean=images.image_mean, std=images.image_std
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="a text-image hf_ssxai checkpoint (classifier + scorers)")
    parser.add_argument("--dataset", required=True, help="a dataset with text, image and label columns")
    parser.add_argument("--split", default="test")
    parser.add_argument("--rows", default="0,1,2,3", help="rows of the split to draw, comma-separated")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--output-dir", type=Path, required=True)
    options = parser.parse_args()
    model = AutoModelWithScorer.from_pretrained(options.model).eval()
    rows = [int(row) for row in options.rows.split(",")]
    raw = load_dataset_splits(options.dataset, options.split)[options.split].select(rows)
    pairs = prepare_dataset(model, raw, {"text": "text", "image": "image"}, label_column="label")
    with torch.no_grad():
        batch = dataset_to_batch(model, pairs)
        predicted = model(**batch).logits.argmax(-1).tolist()
    names = model.classifier.config.id2label
    titles = [
        f"{text!r}\ntrue: {names[label]}, predicted: {names[guess]}"
        for text, label, guess in zip(raw["text"], raw["label"], predicted, strict=True)
    ]
    options.output_dir.mkdir(parents=True, exist_ok=True)
    paths = [options.output_dir / f"example_{row}.png" for row in rows]
    draw_examples(model, pairs, titles, paths, options.methods.split(","))
    print("\n".join(str(path) for path in paths))


if __name__ == "__main__":
    main()
