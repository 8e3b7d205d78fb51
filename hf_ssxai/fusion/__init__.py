"""A text-image fusion classifier usable like any transformers model.

Importing this package (``import hf_ssxai`` does) registers it with the Auto classes, so
``AutoConfig``, ``AutoModel``, ``AutoModelForSequenceClassification`` and ``AutoProcessor`` load its
checkpoints from a folder or the Hub without ``trust_remote_code``.
"""

from transformers import AutoConfig, AutoModel, AutoModelForSequenceClassification, AutoProcessor

from .configuration_fusion import FusionConfig
from .modeling_fusion import (
    FusionClassifierOutput,
    FusionForSequenceClassification,
    FusionModel,
    FusionModelOutput,
    FusionPreTrainedModel,
)
from .processing_fusion import FusionProcessor, read_image

AutoConfig.register(FusionConfig.model_type, FusionConfig, exist_ok=True)
AutoModel.register(FusionConfig, FusionModel, exist_ok=True)
AutoModelForSequenceClassification.register(FusionConfig, FusionForSequenceClassification, exist_ok=True)
AutoProcessor.register(FusionConfig, FusionProcessor, exist_ok=True)

__all__ = [
    "FusionClassifierOutput",
    "FusionConfig",
    "FusionForSequenceClassification",
    "FusionModel",
    "FusionModelOutput",
    "FusionPreTrainedModel",
    "FusionProcessor",
    "read_image",
]
