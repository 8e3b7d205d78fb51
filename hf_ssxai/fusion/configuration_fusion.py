"""FusionConfig: a text encoder, a vision encoder and the small transformer that fuses their tokens."""

from __future__ import annotations

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from ..errors import ConfigError


@strict
class FusionConfig(PreTrainedConfig):
    r"""Configuration of :class:`FusionForSequenceClassification`.

    The two encoders are any transformers models (their configs are kept as ``text_config`` and
    ``vision_config``, so a saved checkpoint rebuilds them without their original repositories). Their
    last hidden states are projected to ``fusion_hidden_size``, tagged with a learned modality embedding
    and mixed, behind one learned fusion token, by ``fusion_num_layers`` pre-norm transformer layers.

    Args:
        text_config: config of the text encoder (any ``AutoModel`` text model; default BERT).
        vision_config: config of the vision encoder (any ``AutoModel`` vision model; default ViT).
        fusion_hidden_size: width of the fusion layers.
        fusion_num_layers: number of fusion transformer layers.
        fusion_num_attention_heads: attention heads of the fusion layers.
        fusion_intermediate_size: width of their feed-forward blocks.
        fusion_dropout: dropout inside the fusion layers.
        classifier_dropout: dropout before the classification head.
        initializer_range: standard deviation of the initialisation of the fusion weights.
    """

    model_type = "ssxai_fusion"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert"),
        "vision_config": SubConfigSpec(config_class=AutoConfig, model_type="vit"),
    }

    text_config: PreTrainedConfig | dict | None = None
    vision_config: PreTrainedConfig | dict | None = None
    fusion_hidden_size: int = 256
    fusion_num_layers: int = 2
    fusion_num_attention_heads: int = 4
    fusion_intermediate_size: int = 1024
    fusion_dropout: float = 0.1
    classifier_dropout: float = 0.1
    initializer_range: float = 0.02

    def validate_architecture(self) -> None:
        """The fusion width must split evenly into attention heads."""
        if self.fusion_hidden_size % self.fusion_num_attention_heads:
            raise ConfigError(
                f"FusionConfig.fusion_hidden_size ({self.fusion_hidden_size}) must be divisible by "
                f"fusion_num_attention_heads ({self.fusion_num_attention_heads})."
            )
