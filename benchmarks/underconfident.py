"""A scorer for a classifier that is right but under-confident, with and without the confidence floor.

Scaling a trained classifier's head by a small factor keeps every prediction and every hidden state but flattens its
probabilities towards 0.5: the classifier a new user gets after too little fine-tuning. A scorer is trained against
the flattened classifier (with ``confidence_floor`` 0 and 0.9), and its maps are then judged against the *original*
classifier, which reads the same hidden states and predicts the same classes, so the maps are comparable with a
scorer trained on the confident classifier (the reference row).

    python benchmarks/underconfident.py --classifier runs/sst2/classifier --train ../shared/data/sst2/train.tsv \
        --test ../shared/data/sst2/dev.tsv --output benchmarks/results/underconfident_sst2.json

Writes per variant: the mean top probability seen in training, deletion AUC and average drop of the maps on the test
rows, the mean score, and the most frequent top-ranked tokens.
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

import torch
from datasets import load_dataset
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding

from hf_ssxai import ScorerConfig
from hf_ssxai.data.preprocess import preprocess
from hf_ssxai.metrics import auc, average_drop
from hf_ssxai.metrics.perturbation import compute_perturbations
from hf_ssxai.training.phases import train_scorer, training_arguments

COLUMNS = ["input_ids", "attention_mask", "label"]


def read_split(path: str, tokenizer, rows: int) -> object:
    """A GLUE-style TSV (a ``sentence`` or ``content`` column and ``label``), tokenized to 64 tokens."""
    data = load_dataset("csv", data_files={"split": path}, delimiter="\t")["split"]
    text = "sentence" if "sentence" in data.column_names else "content"
    data = data.shuffle(seed=0).select(range(min(rows, len(data)))).rename_column(text, "text")
    return preprocess(data.select_columns(["text", "label"]), tokenizer, max_length=64)


def scale_head(classifier: torch.nn.Module, factor: float) -> None:
    """Multiply the classification head's last layer (weights and bias) by ``factor``."""
    head = [module for module in classifier.modules() if isinstance(module, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight.mul_(factor)
        head.bias.mul_(factor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", required=True, help="a trained text classifier folder (with its tokenizer)")
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--scale", type=float, default=0.03, help="factor on the head: 0.03 gives p ~ 0.52 on SST-2")
    parser.add_argument("--train-rows", type=int, default=3000)
    parser.add_argument("--test-rows", type=int, default=200)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()
    tokenizer = AutoTokenizer.from_pretrained(args.classifier)
    train = read_split(args.train, tokenizer, args.train_rows).select_columns(COLUMNS)
    test = read_split(args.test, tokenizer, args.test_rows)
    batch = DataCollatorWithPadding(tokenizer)([{key: row[key] for key in COLUMNS} for row in test])
    inputs = {key: batch[key] for key in ("input_ids", "attention_mask")}
    variants = {
        "confident classifier (reference)": (1.0, 0.0),
        f"head x {args.scale}, no floor": (args.scale, 0.0),
        f"head x {args.scale}, confidence_floor=0.9": (args.scale, 0.9),
    }
    rows = {}
    for name, (scale, floor) in variants.items():
        torch.manual_seed(0)
        classifier = AutoModelForSequenceClassification.from_pretrained(args.classifier)
        scale_head(classifier, scale)
        settings = {"num_train_epochs": 1, "learning_rate": 1e-3, "logging_steps": 10, "seed": 0}
        trainer = train_scorer(
            classifier,
            tokenizer,
            ScorerConfig(confidence_floor=floor),
            training_arguments("/tmp/uc", **settings),
            train,
        )
        confidence = [log["confidence"] for log in trainer.state.log_history if "confidence" in log]
        model = trainer.model.eval()
        scale_head(model.classifier, 1 / scale)  # judge with the confident classifier: same hidden states
        with torch.no_grad():
            out = model(**inputs)
        measured = compute_perturbations(model, inputs, out.attributions, out.feature_mask, insertion=False)
        top = out.attributions.argmax(dim=-1)
        tokens = tokenizer.convert_ids_to_tokens(batch["input_ids"][torch.arange(len(top)), top].tolist())
        rows[name] = {
            "training confidence": sum(confidence) / len(confidence),
            "deletion_auc": auc(measured.deletion_curve).mean().item(),
            "average_drop": average_drop(measured.probabilities, measured.masked_probabilities).mean().item(),
            "mean_score": out.attributions[out.feature_mask].mean().item(),
            "top tokens": collections.Counter(tokens).most_common(8),
        }
        print(name, json.dumps(rows[name]), flush=True)
    Path(args.output).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
