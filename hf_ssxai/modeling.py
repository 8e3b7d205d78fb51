"""AutoModelWithScorer: a frozen Hugging Face classifier plus the scorer that explains it.

One forward runs the classifier once with ``output_hidden_states=True`` and the scorer on those
hidden states: the prediction is the classifier's own, and the explanation costs only the scorer.
With labels (or ``return_loss=True``) it also runs the classifier on the masked input and returns
the scorer loss, which is how :class:`ScorerTrainer` trains it.

Checkpoint layout (see ``docs/hub.md``)::

    config.json, model.safetensors, tokenizer/processor files   the classifier, as transformers saves it
    scorer/config.json, scorer/model.safetensors                 the scorer
    README.md                                                    the model card (hf_ssxai.model_card)
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from huggingface_hub import CommitInfo, HfApi, ModelCard
from safetensors.torch import save_file
from torch import nn
from transformers.utils import ModelOutput

from . import fusion  # noqa: F401  (registers the fusion classifier with the Auto classes, so its checkpoints load)
from .checkpoint import (
    SAFE_WEIGHTS_NAME,
    SCORER_SUBFOLDER,
    check_fingerprint,
    check_modality,
    check_scorer_weights,
    check_weights,
    fingerprint,
    hub_repo_id,
    load_base_classifier,
    load_classifier,
    load_processor,
    load_safetensors,
    load_scorer_config,
    refuse_pickles,
    resolve_file,
    state_dict_part,
)
from .configuration import ScorerConfig
from .errors import CheckpointError, ConfigError, InvalidInputError, SSXAIError, UnsafeCheckpointError
from .finite import require_finite
from .losses import ScorerLossOutput, joint_scorer_loss, order_terms, scorer_loss, sharpening_factor
from .modalities import each_map, get_modality, infer_modality
from .modalities.base import complete_outputs
from .model_card import CardBenchmark, build_model_card
from .saving import atomic_directory
from .scaling import ScalingMixin
from .targets import check_target, draw_training_classes

logger = logging.getLogger(__name__)


def default_device(device: str | torch.device | None = None) -> str | torch.device:
    """``device``, or by default ``cuda`` when a GPU is available, else ``cpu``."""
    return device or ("cuda" if torch.cuda.is_available() else "cpu")


#: what ``transformers.pipeline(task, model=...)`` passes to ``from_pretrained`` besides the Hub options: the
#: classifier's config it read and the task; neither is needed (the checkpoint says everything)
PIPELINE_LOADER_KWARGS = frozenset({"config", "_from_pipeline"})


def _one_device(device_map: Any) -> str | torch.device | None:
    """The single device a ``device_map`` names: a device (``"cuda"``, ``0``, ``torch.device``), ``{"": device}``,
    or ``"auto"`` (the first GPU, else the CPU). A map over several devices is a :class:`ConfigError`."""
    if device_map is None:
        return None
    if device_map == "auto":
        return default_device()
    if isinstance(device_map, Mapping):
        if set(device_map) != {""}:
            raise ConfigError(
                f"AutoModelWithScorer runs classifier and scorer on one device; device_map={dict(device_map)!r} "
                "splits them. Give one device: device_map='cuda', 0, {'': 'cuda:1'} or 'auto'."
            )
        device_map = device_map[""]
    try:
        return torch.device(device_map)
    except (RuntimeError, TypeError) as error:
        raise ConfigError(f"device_map={device_map!r} names no device ({error}); e.g. 'cuda', 'cpu' or 0.") from error


def _torch_dtype(dtype: Any) -> torch.dtype | None:
    """``dtype`` as a torch dtype (``torch.bfloat16`` or ``"bfloat16"``); None and ``"auto"`` keep the saved one."""
    if dtype is None or dtype == "auto" or isinstance(dtype, torch.dtype):
        return None if dtype == "auto" else dtype
    if isinstance(dtype, str) and isinstance(getattr(torch, dtype, None), torch.dtype):
        return getattr(torch, dtype)
    raise ConfigError(f"dtype={dtype!r} is no torch dtype; give e.g. torch.bfloat16, 'float16' or 'auto'.")


@dataclass
class ScorerModelOutput(ModelOutput):
    """Output of :class:`AutoModelWithScorer`.

    Args:
        loss: the scorer loss (only when labels or ``return_loss=True`` are given).
        logits: the classifier's logits on the full input, exactly as the classifier alone gives them.
        attributions: one score in [0, 1] per feature, ``[batch, tokens]`` or ``[batch, height, width]``;
            0 for features that are not valid (padding, special tokens). Text-image models give one map per
            modality from the same forward: ``{"text": [batch, tokens], "image": [batch, height, width]}``.
        feature_mask: which features are valid, same shape as ``attributions`` (a dict when it is one).
        masked_logits: the classifier's logits on the input weighted by ``attributions`` (with the loss). Text-image
            models: a dict with every modality masked (``"all"``) and each masked alone (``"text"``, ``"image"``).
        target_class: the class each map explains, ``[batch]`` (class-conditional scorers only).
        loss_terms: per-sample task loss, delta, gamma, penalties, mean score and binariness (with the loss).
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    attributions: torch.Tensor | dict[str, torch.Tensor] | None = None
    feature_mask: torch.Tensor | dict[str, torch.Tensor] | None = None
    masked_logits: torch.Tensor | dict[str, torch.Tensor] | None = None
    target_class: torch.Tensor | None = None
    loss_terms: ScorerLossOutput | None = None


class AutoModelWithScorer(ScalingMixin, nn.Module):
    """A frozen classifier with a trainable scorer; build it with :meth:`from_classifier` or :meth:`from_pretrained`."""

    # The loss is a per-batch mean: let Trainer scale it for gradient accumulation as usual.
    accepts_loss_kwargs = False

    def __init__(self, classifier: nn.Module, scorer_config: ScorerConfig, processor: Any = None):
        super().__init__()
        if scorer_config.classifier_hidden_sizes is None or scorer_config.modality is None:
            raise SSXAIError(
                "This ScorerConfig is not attached to a classifier yet; build the model with "
                "AutoModelWithScorer.from_classifier(classifier, config)."
            )
        self.classifier = classifier
        self.scorer_config = scorer_config
        self.modality = get_modality(scorer_config.modality)
        scorer_config.fill_defaults(self.modality.default_options)  # a config completed by hand may leave them None
        self.processor = processor
        self.classifier.requires_grad_(False)
        self.classifier.eval()
        complete_outputs(classifier)
        parameter = next(classifier.parameters(), None)
        self.scorer = self.modality.build_scorer(scorer_config).to(parameter.device if parameter is not None else "cpu")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_classifier(
        cls, classifier: nn.Module, config: ScorerConfig | None = None, processor: Any = None
    ) -> AutoModelWithScorer:
        """Attach a new (untrained) scorer to ``classifier``.

        The modality is inferred unless ``config.modality`` says it; one dummy forward reads the hidden states'
        shapes. Pass the tokenizer or image processor as ``processor`` (special tokens, complete checkpoints). The
        classifier is wrapped, not copied (as PEFT wraps its base model), and frozen: pass a ``copy.deepcopy``.
        """
        config = copy.deepcopy(config) if config is not None else ScorerConfig()
        config.modality = config.modality or infer_modality(classifier)
        modality = get_modality(config.modality)
        modality.check_classifier(classifier)
        classifier.eval()  # frozen from here on; also keeps the probe free of dropout randomness
        config.fill_defaults(modality.default_options)
        modality.attach(classifier, config, processor)
        config.num_labels = int(classifier.config.num_labels)
        # a Hub id only: a local folder names no weights others can fetch (and, after fine-tuning, not even these)
        config.base_model_name_or_path = hub_repo_id(
            config.base_model_name_or_path or getattr(classifier.config, "name_or_path", None)
        )
        config.base_model_fingerprint = fingerprint(classifier)
        return cls(classifier, config, processor)

    # ------------------------------------------------------------------ nn.Module behaviour
    @property
    def config(self):
        """The classifier's config (as PEFT models expose their base model's)."""
        return self.classifier.config

    @property
    def device(self) -> torch.device:
        return next(self.scorer.parameters()).device

    def train(self, mode: bool = True) -> AutoModelWithScorer:
        """Train mode for the scorer only: the classifier stays in eval mode (no dropout, frozen norms)."""
        super().train(mode)
        self.classifier.eval()
        return self

    def _run_classifier(self, inputs: dict[str, Any], **kwargs) -> Any:
        try:
            outputs = self.classifier(**inputs, **kwargs, return_dict=True)
        except (RuntimeError, ValueError, IndexError) as error:
            shapes = {k: tuple(v.shape) for k, v in inputs.items() if isinstance(v, torch.Tensor)}
            raise InvalidInputError(
                f"{type(self.classifier).__name__} rejected inputs with shapes {shapes}: {error}. "
                "Prepare inputs with this classifier's tokenizer or image processor."
            ) from error
        require_finite(outputs.logits, f"The classifier {type(self.classifier).__name__}")
        return outputs

    def forward(
        self,
        labels: torch.Tensor | None = None,
        return_loss: bool | None = None,
        target_class: int | torch.Tensor | None = None,
        **inputs: Any,
    ) -> ScorerModelOutput:
        """Predict and explain; with ``labels`` or ``return_loss=True`` also compute the scorer loss.

        ``inputs`` are the classifier's own (``input_ids``, ``attention_mask``, ... or ``pixel_values``);
        text inputs may add ``special_tokens_mask`` from the tokenizer. ``target_class`` (an int or one per
        sample) picks the class a class-conditional scorer explains; by default it explains the prediction.
        """
        self.modality.validate_inputs(self.classifier, inputs)
        feature_mask = self.modality.feature_mask(inputs, self.scorer_config)
        config = self.scorer_config
        if target_class is not None and not config.class_conditional:
            raise InvalidInputError(
                "This scorer explains the prediction only (ScorerConfig.class_conditional=False), so it takes no "
                "target_class. Train a class-conditional scorer, or use a Captum explainer for other classes."
            )
        classifier_inputs = self.modality.classifier_inputs(inputs)
        with torch.no_grad():
            outputs = self._run_classifier(classifier_inputs, output_hidden_states=True)
        logits = outputs.logits
        target_class = check_target(target_class, len(logits), logits.shape[-1], logits.device, "target_class")
        labels = check_target(labels, len(logits), logits.shape[-1], logits.device, "labels")
        features = self.modality.scorer_features(
            self.modality.hidden_states(outputs), config.hidden_state_layers, inputs, self.classifier
        )
        wants_loss = return_loss or (return_loss is None and labels is not None)
        if config.class_conditional and target_class is None:
            target_class = self._classes_to_explain(outputs.logits, labels, for_loss=wants_loss)
        attributions = self.scorer(features, feature_mask, inputs, target_class)
        each_map(lambda scores, valid: require_finite(scores, "The scorer", valid=valid), attributions, feature_mask)
        if not wants_loss:
            return ScorerModelOutput(
                logits=outputs.logits, attributions=attributions, feature_mask=feature_mask, target_class=target_class
            )

        masked_logits = self.modality.masked_logits(self.classifier, classifier_inputs, attributions, feature_mask)
        factor = sharpening_factor(outputs.logits, config.confidence_floor)
        sharpen = (lambda logits: logits) if factor is None else (lambda logits: logits * factor)
        # one map per modality (a dict) is trained with the joint loss of eq. 3.5, one map with eq. 3.4
        loss_function = joint_scorer_loss if isinstance(attributions, dict) else scorer_loss
        terms = loss_function(
            each_map(sharpen, masked_logits),
            sharpen(outputs.logits),
            attributions,
            feature_mask,
            target_class if config.class_conditional else labels,
            # a class-conditional scorer's task is the class it was asked to explain
            target="label" if config.class_conditional else config.target,
            use_magnitude_penalty=config.use_magnitude_penalty,
            use_binary_penalty=config.use_binary_penalty,
            use_gamma=config.use_gamma,
        )
        if config.deletion_weight or config.insertion_weight or config.contrast_weight:
            reference = target_class if config.class_conditional else self._reference_classes(outputs.logits, labels)
            maskable, forward_kwargs = self.modality.split_inputs(self.classifier, classifier_inputs)

            def logits_keeping(keep: Any) -> torch.Tensor:
                masked = self.modality.apply_scores(maskable, keep, feature_mask)
                return sharpen(self.modality.forward_from_maskable(self.classifier, masked, forward_kwargs))

            total, deletion, insertion = order_terms(
                logits_keeping,
                attributions,
                feature_mask,
                reference,
                deletion_weight=config.deletion_weight,
                insertion_weight=config.insertion_weight,
                contrast_weight=config.contrast_weight,
            )
            terms = dataclasses.replace(
                terms, loss=terms.loss + total.mean(), deletion_loss=deletion, insertion_loss=insertion
            )
        return ScorerModelOutput(
            loss=terms.loss,
            logits=outputs.logits,
            attributions=attributions,
            feature_mask=feature_mask,
            masked_logits=masked_logits,
            target_class=target_class,
            loss_terms=terms,
        )

    def _reference_classes(self, logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        """The class the order terms train against: the label with ``target="label"``, else the prediction."""
        if self.scorer_config.target == "label" and labels is not None:
            return check_target(labels.view(-1), len(logits), logits.shape[-1], logits.device, "labels")
        return logits.argmax(dim=-1)

    def _classes_to_explain(self, logits: torch.Tensor, labels: torch.Tensor | None, for_loss: bool) -> torch.Tensor:
        """The classes a class-conditional scorer explains when none were asked for: the prediction; for the loss,
        the reference (label or prediction), mixed with other classes while training."""
        if not for_loss or self.scorer_config.target == "prediction":
            reference = logits.argmax(dim=-1)
        elif labels is None:
            raise InvalidInputError(
                "ScorerConfig.target='label' needs labels in the batch to train a class-conditional scorer. Add a "
                "'labels' column, pass target_class, or use target='prediction'."
            )
        else:
            reference = check_target(labels, len(logits), logits.shape[-1], logits.device, "labels")
        return draw_training_classes(reference, logits) if for_loss and self.training else reference

    # ------------------------------------------------------------------ saving
    def save_pretrained(
        self,
        save_directory: str | os.PathLike,
        *,
        scorer_only: bool = False,
        is_main_process: bool = True,
        model_card: ModelCard | None = None,
        state_dict: Mapping[str, torch.Tensor] | None = None,
    ) -> None:
        """Save classifier (root, as transformers does), scorer (``scorer/``) and model card (``README.md``),
        safetensors only.

        The whole checkpoint is written to a temporary folder first and moved into place only when
        complete, so an error midway leaves an existing checkpoint intact. ``scorer_only=True`` writes
        just ``scorer/`` and the card (the config names the base classifier, as a PEFT adapter does).
        ``model_card`` replaces the default card (:func:`hf_ssxai.model_card.build_model_card`, titled with the
        folder's name). A base classifier named by a local path is left out of the saved config: only Hub ids go
        into configs and cards. ``state_dict`` (keys ``classifier.*`` and ``scorer.*``, as ``self.state_dict()``)
        is saved instead of the modules' own tensors, as in transformers: the full weights Trainer gathers from
        sharded (FSDP, ZeRO-3) parameters; a part it lacks is taken from the module.
        """
        if not is_main_process:
            return
        config = self.scorer_config
        if config.base_model_name_or_path and hub_repo_id(config.base_model_name_or_path) is None:
            logger.warning(
                "Not saving base_model_name_or_path=%r: it is a local path, and only Hub ids go into a checkpoint. "
                "Load this scorer with from_pretrained(path, classifier=...) or name the classifier's Hub repo.",
                config.base_model_name_or_path,
            )
            config = copy.deepcopy(config)
            config.base_model_name_or_path = None
        card = model_card or build_model_card(config, Path(save_directory).resolve().name, scorer_only=scorer_only)
        parts = {name: state_dict_part(state_dict, f"{name}.") for name in ("classifier", "scorer")}
        with atomic_directory(save_directory) as staging:
            if not scorer_only:
                self.classifier.save_pretrained(staging, state_dict=parts["classifier"])
                if self.processor is not None:
                    self.processor.save_pretrained(staging)
            scorer_folder = staging / SCORER_SUBFOLDER
            config.save_pretrained(scorer_folder)
            scorer_state = parts["scorer"] or self.scorer.state_dict()
            state = {k: v.detach().contiguous().cpu() for k, v in scorer_state.items()}
            save_file(state, scorer_folder / SAFE_WEIGHTS_NAME, metadata={"format": "pt"})
            card.save(staging / "README.md")

    def push_to_hub(
        self,
        repo_id: str,
        *,
        revision: str | None = None,
        private: bool | None = None,
        token: str | bool | None = None,
        commit_message: str | None = None,
        scorer_only: bool = False,
        license: str | None = None,
        benchmark: CardBenchmark | None = None,
        training_info: Mapping[str, Any] | None = None,
    ) -> CommitInfo:
        """Upload the checkpoint with a model card (``README.md``) to ``repo_id`` in one commit.

        The repository is created if needed (``private`` applies then), as is the branch ``revision``.
        Files are those of :meth:`save_pretrained` (``scorer_only`` as there), the card
        (:func:`hf_ssxai.model_card.build_model_card`) titled ``repo_id`` with the ``license``, the ``benchmark``
        table and metrics and the ``training_info`` facts. Returns the commit info (``.commit_url``, ``.oid``).
        """
        if scorer_only and hub_repo_id(self.scorer_config.base_model_name_or_path) is None:
            logger.warning(
                "The scorer config names no Hub classifier (base_model_name_or_path=%r): others can load this "
                "scorer-only upload only by passing classifier= to from_pretrained. Set "
                "model.scorer_config.base_model_name_or_path (and base_model_revision) to the classifier's repo id.",
                self.scorer_config.base_model_name_or_path,
            )
        card = build_model_card(
            self.scorer_config,
            repo_id,
            scorer_only=scorer_only,
            benchmark=benchmark,
            training_info=training_info,
            license=license,
        )
        api = HfApi(token=token)
        api.create_repo(repo_id, private=private, exist_ok=True)
        if revision is not None:
            api.create_branch(repo_id, branch=revision, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="hf_ssxai-push-") as folder:
            self.save_pretrained(folder, scorer_only=scorer_only, model_card=card)
            default_message = "Upload hf_ssxai scorer" if scorer_only else "Upload classifier and hf_ssxai scorer"
            return api.upload_folder(
                repo_id=repo_id,
                folder_path=folder,
                revision=revision,
                commit_message=commit_message or default_message,
            )

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        pretrained_model_name_or_path: str | os.PathLike,
        classifier: nn.Module | None = None,
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike | None = None,
        token: str | bool | None = None,
        local_files_only: bool = False,
        force_download: bool = False,
        dtype: torch.dtype | str | None = None,
        device_map: str | int | torch.device | Mapping[str, Any] | None = None,
        trust_remote_code: bool | None = None,
        ignore_fingerprint_mismatch: bool = False,
        **pipeline_kwargs: Any,
    ) -> AutoModelWithScorer:
        """Load classifier and scorer from a folder or a Hub repo, in eval mode, as transformers' ``from_pretrained``.

        ``revision`` (a branch, tag or commit), ``cache_dir``, ``token``, ``local_files_only`` and ``force_download``
        reach the Hub as in transformers (a folder ignores them). For a scorer-only checkpoint the classifier comes
        from ``classifier`` if given, else from the base model the scorer config names (at its pinned revision).
        The classifier's weights must match the fingerprint the scorer was trained against;
        ``ignore_fingerprint_mismatch=True`` overrides (at your own risk). Only then is the model cast to ``dtype``
        (``torch.bfloat16``, ``"float16"``; ``"auto"`` or None keep the saved dtype) and moved to the one device
        ``device_map`` names (``"cuda"``, ``0``, ``{"": "cuda:1"}``, or ``"auto"``: the first GPU, else the CPU).
        hf_ssxai never runs code from a checkpoint: ``trust_remote_code=True`` is refused. ``transformers.pipeline``
        also passes ``config`` and ``_from_pipeline``, which are not needed; any other keyword is a
        :class:`ConfigError`.
        """
        if unknown := sorted(set(pipeline_kwargs) - PIPELINE_LOADER_KWARGS):
            raise ConfigError(
                f"AutoModelWithScorer.from_pretrained got unexpected keyword argument(s) {', '.join(unknown)}; it "
                "takes classifier, revision, cache_dir, token, local_files_only, force_download, dtype, device_map "
                "and ignore_fingerprint_mismatch."
            )
        if trust_remote_code:
            raise UnsafeCheckpointError(
                "hf_ssxai never runs code from a checkpoint: leave trust_remote_code unset (every scorer is built "
                "from hf_ssxai's own classes, every classifier from transformers')."
            )
        torch_dtype, device = _torch_dtype(dtype), _one_device(device_map)
        source = str(pretrained_model_name_or_path)
        hub_kwargs = {"cache_dir": cache_dir, "token": token, "local_files_only": local_files_only}
        hub = {"revision": revision, "force_download": force_download, **hub_kwargs}
        config = load_scorer_config(source, hub)
        weights_file = resolve_file(source, f"{SCORER_SUBFOLDER}/{SAFE_WEIGHTS_NAME}", **hub)
        if weights_file is None:
            refuse_pickles(source, SCORER_SUBFOLDER, **hub)
            raise CheckpointError(
                f"{source} has scorer/config.json but no scorer/{SAFE_WEIGHTS_NAME}; the checkpoint is "
                "incomplete. Save it again with save_pretrained()."
            )
        modality = get_modality(config.modality)
        check_scorer_weights(config, modality, weights_file)
        state_dict = load_safetensors(weights_file)
        check_weights(state_dict.items(), f"the scorer weights {weights_file}")

        processor = None
        if classifier is None:
            if resolve_file(source, "config.json", **hub) is not None:
                classifier, processor = load_classifier(source, modality, hub), load_processor(source, modality, hub)
            elif config.base_model_name_or_path:
                classifier, processor = load_base_classifier(source, config, modality, hub)
            else:
                raise CheckpointError(
                    f"{source} holds only a scorer and its config names no base classifier; pass the "
                    "classifier yourself: AutoModelWithScorer.from_pretrained(path, classifier=clf)."
                )
        check_modality(classifier, config, source)
        check_fingerprint(classifier, config.base_model_fingerprint, ignore_fingerprint_mismatch)
        check_weights(classifier.state_dict().items(), f"the classifier of {source}")

        model = cls(classifier, config, processor)
        try:
            missing, unexpected = model.scorer.load_state_dict(state_dict, strict=False)
        except RuntimeError as error:
            raise CheckpointError(
                f"Scorer weights in {source} do not fit the scorer its config describes: {error}"
            ) from error
        if missing or unexpected:
            raise CheckpointError(
                f"Scorer weights in {source} do not match its config (missing: {missing}, unexpected: "
                f"{unexpected}). The files come from different saves; save the scorer again."
            )
        if torch_dtype is not None or device is not None:  # after the fingerprint check, which hashes saved weights
            model.to(device=device, dtype=torch_dtype)
        return model.eval()
