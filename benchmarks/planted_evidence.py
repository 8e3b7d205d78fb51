"""Planted-evidence results of the scorer, with the design choices that matter switched off one at a time.

Measures, over several seeds, how often the scorer puts its top score on the planted evidence
(text: the deciding word ranked first; images: the map's maximum inside the coloured square), for:

- ``default``: classifier fine-tuned with masking augmentation, image scorer with replicate padding;
- ``no masking augmentation``: the classifier never saw masked inputs during fine-tuning;
- ``zero padding``: the image scorer's convolutions pad with zeros;
- ``thesis preset``: ``ScorerConfig.thesis`` (normalized head; images: the section 4.4 U-Net decoder, no pixels);
- ``thesis training``: the thesis' scorer learning rate and epochs (section 4.5: 2e-4, 5 epochs) instead of ours;
- ``order term``: the levers that put the scorer on the Imagenette front (docs/benchmarks.md): the deletion term at
  weight 3, and for images the U-Net decoder without the pixel skip.

The scorer trains with :class:`ScorerTrainingArguments`' defaults (learning rate and epochs of ``SCORER_DEFAULTS``).

Run:  python benchmarks/planted_evidence.py  (about 15 minutes on 2 CPU cores)
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


def run(family: str, condition: str, seed: int) -> float:
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
        if condition == "thesis preset":
            config = ScorerConfig.thesis(modality, **size)
        elif condition == "order term":
            levers = {} if text else {"image_decoder": "unet", "pixel_skip": False}
            config = ScorerConfig(deletion_weight=DELETION_WEIGHT, **levers, **size)
        else:
            config = ScorerConfig(**size)
        model = AutoModelWithScorer.from_classifier(classifier.eval(), config, processor=tokenizer if text else None)
        if condition == "zero padding":
            for module in model.scorer.modules():
                if isinstance(module, nn.Conv2d):
                    module.padding_mode = "zeros"
        learning_rate, epochs = (
            THESIS_TRAINING
            if condition == "thesis training"
            else (SCORER_DEFAULTS["learning_rate"], int(SCORER_DEFAULTS["num_train_epochs"]))
        )
        args = arguments(folder, epochs, learning_rate, seed)
        ScorerTrainer(model=model, args=args, train_dataset=train, data_collator=collator).train()
    model.eval()
    with torch.no_grad():
        if text:
            batch = as_batch(test, ("input_ids", "attention_mask", "evidence_position"))
            out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
            return (out.attributions.argmax(-1) == batch["evidence_position"]).float().mean().item()
        batch = as_batch(test, ("pixel_values", "evidence"))
        out = model(pixel_values=batch["pixel_values"])
        top = out.attributions.flatten(1).argmax(1, keepdim=True)
        return batch["evidence"].flatten(1).gather(1, top).float().mean().item()


#: the conditions every family is measured under (zero padding: images only)
CONDITIONS = ("default", "no masking augmentation", "thesis preset", "thesis training", "order term")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args()
    plan = [
        *[(family, condition) for family in ("bert", "vit", "resnet") for condition in CONDITIONS],
        ("vit", "zero padding"),
        ("resnet", "zero padding"),
    ]
    results = []
    for family, condition in plan:
        rates = [run(family, condition, seed) for seed in range(args.seeds)]
        results.append({"classifier": family, "condition": condition, "hit_rates": rates})
        print(family, condition, [round(r, 3) for r in rates], flush=True)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print("\n| classifier | condition | evidence hit rate, mean | min | per seed |\n|---|---|---:|---:|---|")
    for row in results:
        rates = row["hit_rates"]
        seeds = ", ".join(f"{r:.3f}" for r in rates)
        print(
            f"| {row['classifier']} | {row['condition']} | {statistics.mean(rates):.3f} | {min(rates):.3f} | {seeds} |"
        )


if __name__ == "__main__":
    main()
