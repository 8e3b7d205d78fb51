"""Train a tiny scorer under any accelerate setup, checkpoint it, and record its outputs for a single-process check.

    accelerate launch --config_file recipes/accelerate/fsdp.yaml  recipes/check_distributed.py --output-dir runs/fsdp
    accelerate launch --config_file recipes/accelerate/zero2.yaml recipes/check_distributed.py --output-dir runs/zero2
    accelerate launch --config_file recipes/accelerate/zero3.yaml recipes/check_distributed.py --output-dir runs/zero3

Writes OUTPUT_DIR/checkpoint-N (ScorerTrainer checkpoints every ``--save-steps``) and OUTPUT_DIR/probe.safetensors:
the trained model's logits and attributions on a fixed probe batch, computed by the distributed (possibly sharded)
model itself, plus the untrained scorer's attributions. ``tests/test_distributed.py`` loads the last checkpoint in
one process with ``AutoModelWithScorer.from_pretrained`` and compares. ``--resume-from-checkpoint`` continues a run.
The classifier is a tiny BERT built from a config with a fixed seed (no download); everything is deterministic.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from accelerate import PartialState
from accelerate.utils import DistributedType
from safetensors.torch import save_file
from torch.distributed.tensor import DTensor
from transformers import BertConfig, BertForSequenceClassification, DataCollatorWithPadding

from hf_ssxai import AutoModelWithScorer, ScorerConfig, ScorerTrainer, ScorerTrainingArguments
from hf_ssxai.data.synthetic import build_word_tokenizer, planted_text_dataset

#: the probe batch the outputs are recorded on (and compared on after reloading)
PROBE_SAMPLES = 8


def build_model() -> tuple[AutoModelWithScorer, object]:
    """The same tiny BERT classifier and untrained scorer in every process and every run (seed 0)."""
    tokenizer = build_word_tokenizer()
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64
    )
    classifier = BertForSequenceClassification(config)
    scorer = ScorerConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2)
    return AutoModelWithScorer.from_classifier(classifier, scorer, processor=tokenizer), tokenizer


def probe_batch(tokenizer) -> dict[str, torch.Tensor]:
    """A fixed, padded batch of held-out planted-evidence texts."""
    texts = list(planted_text_dataset(tokenizer, PROBE_SAMPLES, seed=7)["text"])
    return dict(tokenizer(texts, padding=True, return_tensors="pt"))


def allow_fsdp_on_cpu() -> None:
    """Let accelerate shard with FSDP2 over gloo. accelerate 1.15 turns its FSDP plugin on only for GPU-like process
    groups (a CPU group is MULTI_CPU, which it leaves data-parallel): form the gloo group, then call it MULTI_GPU so
    that AcceleratorState takes the FSDP branch; the device stays the CPU. For this check only."""
    state = PartialState(cpu=True)
    state.distributed_type = DistributedType.MULTI_GPU


def sharded_parameters(model: torch.nn.Module) -> str:
    """How many of the model's parameters this process holds only a shard of (FSDP's DTensors, ZeRO-3's partitions)."""
    parameters = list(model.parameters())
    sharded = [p for p in parameters if isinstance(p, DTensor) or p.numel() < getattr(p, "ds_numel", 0)]
    return f"{len(sharded)} of {len(parameters)}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--max-steps", type=int, default=6)
    parser.add_argument("--save-steps", type=int, default=3)
    parser.add_argument("--resume-from-checkpoint", default=None)
    parser.add_argument("--bf16", action="store_true", help="train with bf16 autocast")
    args = parser.parse_args()

    fsdp_on_cpu = not torch.cuda.is_available() and os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"
    if fsdp_on_cpu:
        allow_fsdp_on_cpu()
    model, tokenizer = build_model()
    probe = probe_batch(tokenizer)
    with torch.no_grad():
        untrained = model.eval()(**probe).attributions
    columns = ["input_ids", "attention_mask", "label"]
    train = planted_text_dataset(tokenizer, 64, seed=0).select_columns(columns)
    training = ScorerTrainingArguments(
        args.output_dir,
        max_steps=args.max_steps,
        save_strategy="steps",
        save_steps=args.save_steps,
        per_device_train_batch_size=4,
        learning_rate=3e-3,
        logging_steps=1,
        report_to="none",
        seed=0,
        data_seed=0,
        bf16=args.bf16,
        use_cpu=not torch.cuda.is_available(),
        # keep the state allow_fsdp_on_cpu formed (TrainingArguments resets it otherwise)
        accelerator_config={"use_configured_state": fsdp_on_cpu},
    )
    trainer = ScorerTrainer(
        model=model, args=training, train_dataset=train, data_collator=DataCollatorWithPadding(tokenizer)
    )
    trainer.train(resume_from_checkpoint=args.resume_from_checkpoint)
    print(f"distributed type: {trainer.accelerator.distributed_type}")
    print(f"sharded parameters: {sharded_parameters(trainer.accelerator.unwrap_model(trainer.model))}")

    # the outputs of the model as trained, computed by the (possibly sharded) distributed model on every rank
    trained = trainer.model_wrapped
    trained.eval()
    device = trainer.args.device
    with torch.no_grad():
        outputs = trained(**{name: tensor.to(device) for name, tensor in probe.items()})
    state = PartialState()
    if state.is_main_process:
        tensors = {
            "logits": outputs.logits.float().cpu(),
            "attributions": outputs.attributions.float().cpu(),
            "untrained_attributions": untrained.float().cpu(),
            **{f"input.{name}": tensor for name, tensor in probe.items()},
        }
        save_file({k: v.contiguous() for k, v in tensors.items()}, Path(args.output_dir) / "probe.safetensors")
    state.wait_for_everyone()
    state.destroy_process_group()


if __name__ == "__main__":
    main()
