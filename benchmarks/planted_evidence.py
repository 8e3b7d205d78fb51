"""Planted-evidence results of the scorer, with the design choices that matter switched off one at a time.

Measures, over several seeds, how often the scorer puts its top score on the planted evidence
(text: the deciding word ranked first; images: the map's maximum inside the coloured square), for:

- ``default``: classifier fine-tuned with masking augmentation, the scorer's defaults (images: the U-Net decoder
  without the pixel skip and the deletion term; text: no deletion term);
- ``no masking augmentation``: the classifier never saw masked inputs during fine-tuning;
- ``zero padding``: the image scorer's convolutions pad with zeros;
- ``thesis preset``: ``ScorerConfig.thesis`` (normalized head; images: the section 4.4 U-Net decoder, no pixels);
- ``thesis training``: the thesis' scorer learning rate and epochs (section 4.5: 2e-4, 5 epochs) instead of ours;
- ``deletion term`` (text): the deletion term at the image default's weight; ``no deletion term`` (images);
- ``pixel skip`` (images): the earlier image default, the bilinear decoder with the pixel skip, with the deletion term;
- ``earlier default`` (images): bilinear decoder, pixel skip, no deletion term.

Besides the hit rate (the map's maximum inside the square, to the pixel), images also report the patch hit rate: the
maximum inside a patch of the 4 x 4 grid that the square overlaps (the ViT's patches; by chance about 25 %), the
precision of a map that reads only the classifier's patch tokens.

The scorer trains with :class:`ScorerTrainingArguments`' defaults (learning rate and epochs of ``SCORER_DEFAULTS``).

Run:  python benchmarks/planted_evidence.py  (about 45 minutes on 2 CPU cores at 3 seeds; `--only` runs some rows,
`--scorer-option KEY=VALUE` sets a ScorerConfig field for every row, `--scorer-epochs N` the scorer's epochs)
Writes benchmarks/results/planted_evidence.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import tempfile
from pathlib import Path

import torch
from ablation import DELETION_WEIGHT
from torch import nn
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DataCollatorWithPadding,
    ResNetConfig,
    ResNetForImageClassification,
    Trainer,
    TrainingArguments,
    ViTConfig,
    ViTForImageClassification,
)

from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer
from hf_ssxai.data.synthetic import as_batch, build_word_tokenizer, planted_image_dataset, planted_text_dataset
from hf_ssxai.training import masking_augmentation
from hf_ssxai.training.arguments import SCORER_DEFAULTS
from hf_ssxai.training.phases import LOCAL_RUN, training_arguments
from hf_ssxai.training.recipe import parse_overrides

#: the thesis' scorer training (section 4.5), as (learning rate, epochs)
THESIS_TRAINING = (2e-4, 5)
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "intermediate_size": 64}
RESULTS = Path(__file__).parent / "results" / "planted_evidence.json"


def arguments(folder: str, epochs: int, learning_rate: float, seed: int) -> TrainingArguments:
    return training_arguments(
        folder, **LOCAL_RUN, num_train_epochs=epochs, learning_rate=learning_rate, disable_tqdm=True,
        logging_strategy="no", use_cpu=True, seed=seed,
    )  # fmt: skip


def build_classifier(family: str, vocab_size: int) -> nn.Module:
    if family == "bert":
        return BertForSequenceClassification(BertConfig(vocab_size=vocab_size, num_labels=2, **TINY))
    if family == "vit":
        return ViTForImageClassification(ViTConfig(image_size=16, patch_size=4, num_labels=3, **TINY))
    config = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], num_labels=3)
    config.downsample_in_first_stage = False
    return ResNetForImageClassification(config)


def run(
    family: str, condition: str, seed: int, options: dict | None = None, scorer_epochs: int | None = None
) -> tuple[float, float]:
    """(hit rate, patch hit rate) of one scorer trained under ``condition`` with the ScorerConfig ``options`` on top
    (and ``scorer_epochs`` instead of the default epochs, except for the thesis' training); text has no patches (both
    the same)."""
    torch.manual_seed(seed)
    tokenizer = build_word_tokenizer()
    text = family == "bert"
    if text:
        columns = ["input_ids", "attention_mask", "label"]
        train = planted_text_dataset(tokenizer, 1500, seed=seed).select_columns(columns)
        test = planted_text_dataset(tokenizer, 200, seed=1000 + seed)
        collator, epochs = DataCollatorWithPadding(tokenizer), 3
    else:
        train = planted_image_dataset(1500, seed=seed).select_columns(["pixel_values", "label"])
        test = planted_image_dataset(200, seed=1000 + seed)
        collator, epochs = None, 6
    classifier = build_classifier(family, len(tokenizer))
    with tempfile.TemporaryDirectory() as folder:
        augmentation = (
            contextlib.nullcontext()
            if condition == "no masking augmentation"
            else masking_augmentation(classifier, special_token_ids=tokenizer.all_special_ids, seed=seed)
        )
        with augmentation:
            args = arguments(folder, epochs, 2e-3, seed)
            Trainer(model=classifier, args=args, train_dataset=train, data_collator=collator).train()
        size = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2}
        modality = "text" if text else "image"
        config = (
            ScorerConfig.thesis(modality, **size)
            if condition == "thesis preset"
            else ScorerConfig(**{**CONDITION_OPTIONS.get(condition, {}), **(options or {})}, **size)
        )
        model = AutoModelWithScorer.from_classifier(classifier.eval(), config, processor=tokenizer if text else None)
        if condition == "zero padding":
            for module in model.scorer.modules():
                if isinstance(module, nn.Conv2d):
                    module.padding_mode = "zeros"
        learning_rate, epochs = (
            THESIS_TRAINING
            if condition == "thesis training"
            else (SCORER_DEFAULTS["learning_rate"], scorer_epochs or int(SCORER_DEFAULTS["num_train_epochs"]))
        )
        args = arguments(folder, epochs, learning_rate, seed)
        ScorerTrainer(model=model, args=args, train_dataset=train, data_collator=collator).train()
    model.eval()
    with torch.no_grad():
        if text:
            batch = as_batch(test, ("input_ids", "attention_mask", "evidence_position"))
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            hit = (out.attributions.argmax(-1) == batch["evidence_position"]).float().mean().item()
            return hit, hit
        batch = as_batch(test, ("pixel_values", "evidence"))
        out = model(pixel_values=batch["pixel_values"])
    top = out.attributions.flatten(1).argmax(1, keepdim=True)
    evidence = batch["evidence"].float().unsqueeze(1)
    patches = nn.functional.max_pool2d(evidence, PATCH).repeat_interleave(PATCH, 2).repeat_interleave(PATCH, 3)
    in_patch = patches.squeeze(1) > 0
    return tuple(mask.flatten(1).gather(1, top).float().mean().item() for mask in (batch["evidence"], in_patch))


#: the scorer options of the conditions that change only the ScorerConfig
CONDITION_OPTIONS = {
    "deletion term": {"deletion_weight": DELETION_WEIGHT},
    "no deletion term": {"deletion_weight": 0.0},
    "pixel skip": {"image_decoder": "bilinear", "pixel_skip": True},
    "earlier default": {"image_decoder": "bilinear", "pixel_skip": True, "deletion_weight": 0.0},
}
#: the conditions every family is measured under
CONDITIONS = ("default", "no masking augmentation", "thesis preset", "thesis training")
#: the tiny ViT's patch size (and the tiny ResNet's stride at its finest stage)
PATCH = 4


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--only", help="comma-separated 'family:condition' pairs to run (default: every row)")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--scorer-option", action="append", default=[], metavar="KEY=VALUE", help="a ScorerConfig field for every row"
    )
    parser.add_argument("--scorer-epochs", type=int, help="the scorer's epochs (default: SCORER_DEFAULTS)")
    args = parser.parse_args()
    options = parse_overrides(args.scorer_option, "--scorer-option")
    image_conditions = (*CONDITIONS, "no deletion term", "pixel skip", "earlier default", "zero padding")
    plan = [
        *[("bert", condition) for condition in (*CONDITIONS, "deletion term")],
        *[(family, condition) for family in ("vit", "resnet") for condition in image_conditions],
    ]
    if args.only:
        wanted = {tuple(pair.split(":", 1)) for pair in args.only.split(",")}
        plan = [row for row in plan if row in wanted]
    results = []
    for family, condition in plan:
        runs = (run(family, condition, seed, options, args.scorer_epochs) for seed in range(args.seeds))
        hits, patch_hits = zip(*runs, strict=True)
        results.append({"classifier": family, "condition": condition, "hit_rates": hits, "patch_hit_rates": patch_hits})
        print(family, condition, [round(r, 3) for r in hits], [round(r, 3) for r in patch_hits], flush=True)
    args.output.parent.mkdir(exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2))
    print("\n| classifier | condition | hit rate, mean | min | per seed | patch hit rate, mean |")
    print("|---|---|---:|---:|---|---:|")
    for row in results:
        rates = row["hit_rates"]
        seeds = ", ".join(f"{r:.3f}" for r in rates)
        patch = statistics.mean(row["patch_hit_rates"]) if row["classifier"] != "bert" else float("nan")
        print(
            f"| {row['classifier']} | {row['condition']} | {statistics.mean(rates):.3f} | {min(rates):.3f} | {seeds} "
            f"| {'–' if patch != patch else f'{patch:.3f}'} |"
        )


if __name__ == "__main__":
    main()
