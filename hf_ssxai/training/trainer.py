"""ScorerTrainer: a transformers.Trainer that trains only the scorer, against the frozen classifier.

Everything the Trainer already does (accelerate, several processes, bf16, gradient accumulation,
callbacks, logging, checkpoint rotation, resuming) is used as it is; this class only says how the
loss is computed, what is logged, what evaluation reports, and how a checkpoint is written.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils.constants import FSDP_MODEL_NAME
from torch import nn
from transformers import EvalPrediction, Trainer, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from ..checkpoint import SAFE_WEIGHTS_NAME, SCORER_SUBFOLDER, load_safetensors
from ..errors import CheckpointError, ConfigError, NonFiniteLossError, NonFiniteOutputError, UnsupportedClassifierError
from ..modalities.base import ALL_MASKED
from ..model_card import build_model_card
from ..modeling import AutoModelWithScorer
from .arguments import FINE_TUNING_LEARNING_RATE, ScorerTrainingArguments
from .sharding import load_full_state_dict

logger = logging.getLogger(__name__)
#: the file the Trainer writes last into a checkpoint: a checkpoint without a readable one is incomplete
TRAINER_STATE_NAME = "trainer_state.json"

#: per-sample loss terms logged during training (averaged over the logging interval)
LOGGED_TERMS = ("task_loss", "delta", "gamma", "mean_score", "binariness")
#: a classifier whose mean top probability on the training inputs is below this is under-confident (see the warning)
UNDER_CONFIDENT = 0.65
#: when at least this share of a logging window's maps keep a single feature, the maps have collapsed (see the warning)
COLLAPSED = 0.9
#: logged too when the scorer trains them (the order terms of ScorerConfig.deletion_weight / insertion_weight)
OPTIONAL_LOGGED_TERMS = ("deletion_loss", "insertion_loss")
#: columns of the per-sample statistics returned by ``prediction_step``
EVAL_COLUMNS = ("masked_prediction", "prediction", *LOGGED_TERMS)


def masked_prediction_metrics(eval_prediction: EvalPrediction) -> dict[str, float]:
    """Evaluation metrics of a scorer.

    ``masked_agreement``: how often the classifier's prediction on the masked input equals its
    prediction on the full input (needs no labels). With labels also ``masked_accuracy`` and the
    full-input ``accuracy``. Plus the means of the loss terms.
    """
    stats = np.asarray(eval_prediction.predictions)
    column = {name: stats[:, i] for i, name in enumerate(EVAL_COLUMNS)}
    metrics = {"masked_agreement": float(np.mean(column["masked_prediction"] == column["prediction"]))}
    if eval_prediction.label_ids is not None:
        labels = np.asarray(eval_prediction.label_ids).reshape(-1)
        metrics["masked_accuracy"] = float(np.mean(column["masked_prediction"] == labels))
        metrics["accuracy"] = float(np.mean(column["prediction"] == labels))
    metrics.update({name: float(np.mean(column[name])) for name in LOGGED_TERMS})
    return metrics


def collapsed_share(attributions: Any, feature_mask: Any) -> torch.Tensor:
    """Share of the samples whose map keeps at most one of its (three or more) valid features; for one map per
    modality, the mean over the modalities. Such a map passes no gradient back through the head."""
    maps = attributions if isinstance(attributions, dict) else {"": attributions}
    masks = feature_mask if isinstance(feature_mask, dict) else {"": feature_mask}
    shares = []
    for name, scores in maps.items():
        mask = masks[name].flatten(1)
        kept = ((scores.detach().flatten(1) > 0) & mask).sum(dim=1)
        shares.append(((kept <= 1) & (mask.sum(dim=1) >= 3)).float().mean())
    return torch.stack(shares).mean()


def checkpoint_problem(folder: str | os.PathLike) -> str | None:
    """Why ``folder`` is not a complete ScorerTrainer checkpoint, or None when it is.

    The Trainer writes the model first and ``trainer_state.json`` last, so a save that was killed midway
    leaves a folder without a readable state file (or without readable scorer weights).
    """
    state = os.path.join(folder, TRAINER_STATE_NAME)
    weights = os.path.join(folder, SCORER_SUBFOLDER, SAFE_WEIGHTS_NAME)
    try:
        with open(state, encoding="utf-8") as handle:
            json.load(handle)
    except (OSError, ValueError):
        return f"{TRAINER_STATE_NAME} is missing or unreadable (the save was interrupted)"
    try:
        load_safetensors(weights)
    except CheckpointError:
        return f"{SCORER_SUBFOLDER}/{SAFE_WEIGHTS_NAME} is missing or unreadable"
    return None


def last_complete_checkpoint(output_dir: str | os.PathLike) -> str | None:
    """The newest ``checkpoint-N`` in ``output_dir`` that :func:`checkpoint_problem` accepts; incomplete newer ones
    are skipped with a warning (and left on disk for inspection)."""
    pattern = re.compile(rf"^{PREFIX_CHECKPOINT_DIR}-(\d+)$")
    found = sorted(
        (int(match.group(1)), entry.path)
        for entry in (os.scandir(output_dir) if os.path.isdir(output_dir) else [])
        if entry.is_dir() and (match := pattern.match(entry.name))
    )
    for _, path in reversed(found):
        problem = checkpoint_problem(path)
        if problem is None:
            return path
        logger.warning("Skipping %s: %s.", path, problem)
    return None


class ScorerTrainer(Trainer):
    """Train the scorer of an :class:`AutoModelWithScorer`; the classifier stays frozen and in eval mode.

    The training (and evaluation) dataset holds the classifier's inputs, as its tokenizer or image processor made
    them: ``input_ids`` and ``attention_mask`` (``token_type_ids``, ``special_tokens_mask`` if any; texts of any
    length, padded per batch) or ``pixel_values`` (a text-image model: both). With ``ScorerConfig.target="label"``
    (the default) it also holds the class of each sample as ``label`` or ``labels``; ``target="prediction"`` and
    ``"distribution"`` need no labels. Other columns (the raw text, ids) are dropped, as ``Trainer`` drops them.

    ``args`` defaults to :class:`ScorerTrainingArguments` (the scorer's learning rate and epochs; plain
    ``TrainingArguments`` with transformers' fine-tuning learning rate 5e-5 get a warning). ``processing_class``
    defaults to the model's own processor (``model.processor``), so text batches are padded and checkpoints carry
    the tokenizer without extra arguments. Logs the task loss, delta, gamma, mean score and binariness next to the
    loss. Evaluation reports :func:`masked_prediction_metrics` unless ``compute_metrics`` is given. A NaN or infinite
    loss stops training at that step with :class:`NonFiniteLossError`; saved checkpoints are untouched. Its pushes
    to the Hub (``trainer.push_to_hub()``, ``ScorerTrainingArguments(push_to_hub=True)``) carry the hf_ssxai model
    card and the scorer.
    """

    def __init__(
        self,
        model: AutoModelWithScorer | None = None,
        args: TrainingArguments | None = None,
        data_collator: Any = None,
        train_dataset: Any = None,
        eval_dataset: Any = None,
        processing_class: Any = None,
        **kwargs: Any,
    ):
        if not isinstance(model, AutoModelWithScorer):
            raise UnsupportedClassifierError(
                f"ScorerTrainer trains an AutoModelWithScorer, got {type(model).__name__}. Wrap your classifier: "
                "AutoModelWithScorer.from_classifier(classifier, ScorerConfig())."
            )
        if args is None:
            args = ScorerTrainingArguments()
        elif not isinstance(args, ScorerTrainingArguments) and args.learning_rate == FINE_TUNING_LEARNING_RATE:
            logger.warning(
                "ScorerTrainer got TrainingArguments with transformers' fine-tuning learning rate %g, far too low "
                "for a new scorer (its maps stay diffuse). Use hf_ssxai.ScorerTrainingArguments (the scorer's "
                "defaults) or set learning_rate, e.g. TrainingArguments(..., learning_rate=3e-3).",
                args.learning_rate,
            )
        if processing_class is None:
            processing_class = model.processor  # pads text batches, and travels with checkpoints
        kwargs.setdefault("compute_metrics", masked_prediction_metrics)
        super().__init__(model, args, data_collator, train_dataset, eval_dataset, processing_class, **kwargs)
        if self.is_fsdp_enabled and "FULL_STATE_DICT" not in str(self.accelerator.state.fsdp_plugin.state_dict_type):
            raise ConfigError(
                "ScorerTrainer writes full checkpoints (the scorer's safetensors, loadable in one process), which FSDP "
                "gathers only with a full state dict: set fsdp_state_dict_type: FULL_STATE_DICT in the accelerate "
                "config (recipes/accelerate/fsdp.yaml)."
            )
        self._logged_terms: dict[str, list[torch.Tensor]] = defaultdict(list)
        self._warned: set[str] = set()

    def _set_signature_columns_if_needed(self) -> None:
        """Keep the dataset columns the *classifier* accepts (plus labels and the modality's extras)."""
        if self._signature_columns is None:
            model = self.accelerator.unwrap_model(self.model)
            classifier_arguments = inspect.signature(model.classifier.forward).parameters
            self._signature_columns = [
                *classifier_arguments,
                *model.modality.extra_input_names,
                "labels",
                "label",
                "label_ids",
            ]

    def compute_loss(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        return_outputs: bool = False,
        num_items_in_batch: Any = None,
    ) -> torch.Tensor | tuple[torch.Tensor, Any]:
        try:
            outputs = model(**inputs, return_loss=True)
        except (NonFiniteLossError, NonFiniteOutputError) as error:
            raise NonFiniteLossError(
                f"At step {self.state.global_step + 1}: {error} Training stopped here; checkpoints already saved "
                "are untouched."
            ) from error
        loss = outputs.loss
        if not torch.isfinite(loss):
            terms = outputs.loss_terms
            raise NonFiniteLossError(
                f"The scorer loss is {loss.item()} at step {self.state.global_step + 1} (task loss "
                f"{terms.task_loss.tolist()}, mean score {terms.mean_score.tolist()}). Training stopped here; "
                "checkpoints already saved are untouched. Check the inputs for NaN/Inf, lower the learning "
                "rate, or train in float32 instead of half precision."
            )
        if model.training:
            confidence = outputs.logits.detach().float().softmax(dim=-1).amax(dim=-1)
            self._logged_terms["confidence"].append(confidence.mean())
            self._logged_terms["collapsed"].append(collapsed_share(outputs.attributions, outputs.feature_mask))
            for name in LOGGED_TERMS + OPTIONAL_LOGGED_TERMS:
                value = getattr(outputs.loss_terms, name)
                if value is not None:
                    self._logged_terms[name].append(value.mean().detach())
        return (loss, outputs) if return_outputs else loss

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        """Add the averaged loss terms to every training log line (averaged over processes too)."""
        if "loss" in logs and self._logged_terms:
            means = torch.stack([torch.stack(values).mean() for values in self._logged_terms.values()])
            means = self.accelerator.reduce(means, reduction="mean")
            logs.update({name: round(float(v), 4) for name, v in zip(self._logged_terms, means, strict=True)})
            self._logged_terms.clear()
            self._warn_about_weak_signal(logs)
        super().log(logs, start_time)

    def _warn_about_weak_signal(self, logs: dict[str, float]) -> None:
        """Say once, with cause and remedy, when the scorer cannot learn: an under-confident classifier without the
        confidence floor, or maps that collapsed onto a single feature (their gradient is zero)."""
        config = self.accelerator.unwrap_model(self.model).scorer_config
        confidence = logs.get("confidence")
        if (
            "under_confident" not in self._warned
            and confidence is not None
            and confidence < UNDER_CONFIDENT
            and config.confidence_floor < UNDER_CONFIDENT
        ):
            self._warned.add("under_confident")
            logger.warning(
                "The classifier is under-confident on the training inputs (mean probability of its prediction "
                "%.3f): masking the evidence barely changes its loss, so the penalties outweigh the task and the "
                "scorer's maps shrink onto arbitrary features. Set ScorerConfig(confidence_floor=0.9), which "
                "sharpens the logits the loss sees (predictions unchanged), or fine-tune the classifier further.",
                confidence,
            )
        collapsed = logs.get("collapsed")
        if "collapsed" not in self._warned and collapsed is not None and collapsed >= COLLAPSED:
            self._warned.add("collapsed")
            logger.warning(
                "The scorer's maps have collapsed: %.0f%% of the maps since the last log keep a single feature "
                "(step %d; mean score %s, binariness %s). A one-feature map passes no gradient back to the scorer, so "
                "training can no longer move it. If the classifier is under-confident set "
                "ScorerConfig(confidence_floor=0.9); otherwise lower the learning rate, which let the penalties "
                "switch every other feature off.",
                100 * collapsed,
                self.state.global_step,
                logs.get("mean_score"),
                logs.get("binariness"),
            )

    def prediction_step(
        self,
        model: nn.Module,
        inputs: dict[str, Any],
        prediction_loss_only: bool,
        ignore_keys: list[str] | None = None,
    ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        """Loss plus per-sample statistics (see ``EVAL_COLUMNS``) that :func:`masked_prediction_metrics` reads."""
        inputs = self._prepare_inputs(inputs)
        labels = inputs.get("labels")
        with torch.no_grad(), self.compute_loss_context_manager():
            outputs = model(**inputs, return_loss=True)
        loss = outputs.loss.detach()
        if prediction_loss_only:
            return loss, None, None
        terms = outputs.loss_terms
        masked_logits = outputs.masked_logits
        if isinstance(masked_logits, dict):  # a multimodal model: the prediction with every modality masked
            masked_logits = masked_logits[ALL_MASKED]
        stats = torch.stack(
            [
                masked_logits.argmax(-1).float(),
                outputs.logits.argmax(-1).float(),
                *(getattr(terms, name).float() for name in LOGGED_TERMS),
            ],
            dim=1,
        )
        return loss, stats, labels

    # ------------------------------------------------------------------ checkpoints
    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        """``Trainer.train``; ``resume_from_checkpoint=True`` resumes from the newest *complete* checkpoint, so a
        save killed midway costs the steps since the previous one, never the run."""
        if resume_from_checkpoint is True:
            resume_from_checkpoint = last_complete_checkpoint(self.args.output_dir)
            if resume_from_checkpoint is None:
                raise CheckpointError(
                    f"No complete checkpoint in {self.args.output_dir} to resume from; start without "
                    "resume_from_checkpoint."
                )
        elif resume_from_checkpoint and (problem := checkpoint_problem(resume_from_checkpoint)) is not None:
            raise CheckpointError(
                f"Cannot resume from {resume_from_checkpoint}: {problem}. Resume from an earlier checkpoint, "
                "or pass resume_from_checkpoint=True to pick the newest complete one."
            )
        return super().train(resume_from_checkpoint, *args, **kwargs)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Write the checkpoint layout of :meth:`AutoModelWithScorer.save_pretrained` (safetensors only).

        ``state_dict`` is what Trainer gathered from sharded parameters (FSDP with a full state dict, DeepSpeed
        ZeRO-3): the full, unsharded weights, saved in place of the shards the model holds."""
        output_dir = output_dir if output_dir is not None else self.args.output_dir
        model = self.accelerator.unwrap_model(self.model)
        model.save_pretrained(output_dir, is_main_process=self.args.should_save, state_dict=state_dict)
        if self.args.should_save and model.processor is None and self.processing_class is not None:
            self.processing_class.save_pretrained(output_dir)

    def _save_optimizer_and_scheduler(self, output_dir: str) -> None:
        """As Trainer; without FSDP's pickled copy of the whole model (the frozen classifier included), which
        resuming does not read: the checkpoint's safetensors hold the same weights."""
        super()._save_optimizer_and_scheduler(output_dir)
        if self.is_fsdp_enabled and self.args.should_save:
            for path in Path(output_dir).glob(f"{FSDP_MODEL_NAME}*"):
                if path.is_dir():
                    shutil.rmtree(path)
                else:
                    path.unlink()

    # ------------------------------------------------------------------ the Hub
    def create_model_card(
        self,
        license: str | None = None,
        model_name: str | None = None,
        dataset: str | list[str] | None = None,
        **transformers_fields: Any,
    ) -> None:
        """Write the hf_ssxai model card (:func:`~hf_ssxai.model_card.build_model_card`) to ``output_dir/README.md``,
        which ``push_to_hub`` uploads: titled with the Hub repo (or ``model_name``), with the ``license``, the
        ``dataset`` names and this run's schedule. transformers' other card fields (``language``, ``tags``,
        ``tasks``, ``finetuned_from``, ``dataset_tags``, ``dataset_args``) have no place in it and are ignored."""
        if not self.is_world_process_zero():
            return
        model = self.accelerator.unwrap_model(self.model)
        title = self.hub_model_id or model_name or Path(self.args.output_dir).resolve().name
        training_info = {
            **({"datasets": dataset} if dataset else {}),
            "learning rate": self.args.learning_rate,
            "epochs": self.args.num_train_epochs,
            "steps": self.state.global_step,
        }
        card = build_model_card(model.scorer_config, title, training_info=training_info, license=license)
        card.save(os.path.join(self.args.output_dir, "README.md"))

    def _push_from_checkpoint(self, checkpoint_folder: str) -> None:
        """As ``Trainer``'s push at each save, with what it does not know to copy: the scorer and the card."""
        if self.is_world_process_zero():
            target = os.path.join(self.args.output_dir, SCORER_SUBFOLDER)
            shutil.copytree(os.path.join(checkpoint_folder, SCORER_SUBFOLDER), target, dirs_exist_ok=True)
            self.create_model_card()
        super()._push_from_checkpoint(checkpoint_folder)

    def _load_from_checkpoint(self, resume_from_checkpoint: str, model: nn.Module | None = None) -> None:
        """Resume: restore the scorer weights (the classifier is frozen and never changes)."""
        weights = os.path.join(resume_from_checkpoint, SCORER_SUBFOLDER, SAFE_WEIGHTS_NAME)
        if not os.path.isfile(weights):
            raise CheckpointError(
                f"{resume_from_checkpoint} has no {SCORER_SUBFOLDER}/{SAFE_WEIGHTS_NAME}; it is not a "
                "ScorerTrainer checkpoint (or its save was interrupted). Resume from an earlier checkpoint."
            )
        scorer = self.accelerator.unwrap_model(model if model is not None else self.model).scorer
        load_full_state_dict(scorer, load_safetensors(weights))  # sharded again under FSDP

    def _load_best_model(self) -> None:
        self._load_from_checkpoint(self.state.best_model_checkpoint)


__all__ = [
    "LOGGED_TERMS",
    "ScorerTrainer",
    "checkpoint_problem",
    "last_complete_checkpoint",
    "masked_prediction_metrics",
]
