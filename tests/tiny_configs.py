"""Tiny random configs for any architecture transformers registers, built from the config class itself.

``tiny_config(model_type)`` starts from the config class's own defaults and shrinks every field it recognizes by
name: layer counts, widths, heads, feed-forward sizes, vocabularies, experts, low-rank and state sizes, image,
patch and window sizes, and the per-stage lists of hierarchical vision models (depths, widths, heads). Nested
configs (``text_config``, ``vision_config``, encoder/decoder sections: the config class's ``sub_configs``) are
shrunk by the same rules, recursively. Nothing here names an architecture to test: the architectures come from
transformers' registries (see ``tests/support_matrix.py``); the few per-model fixes below say why each is needed.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Any

from transformers import CONFIG_MAPPING, PreTrainedConfig

#: every registered field that counts layers (or blocks of layers)
LAYERS = {
    "num_hidden_layers": 2,
    "n_layer": 2,
    "n_layers": 2,
    "num_layers": 2,
    "encoder_layers": 2,
    "decoder_layers": 2,
    "num_decoder_layers": 2,
    "num_self_attends_per_block": 1,
}
#: widths (model dimension) and the sizes tied to them
WIDTHS = {
    "hidden_size": 32,
    "d_model": 32,
    "n_embd": 32,
    "dim": 32,
    "emb_dim": 32,
    "embedding_size": 32,
    "input_embedding_size": 32,
    "output_embedding_size": 32,
    "projection_dim": 32,
    "d_latents": 32,
    "entity_emb_size": 16,
    "pronunciation_embed_dim": 16,
    "shape_embed_dim": 16,
    "decoder_hidden_size": 32,
    "prediction_head_size": 32,
    "dim_model_base": 32,
    "out_hidden_size": 32,
    "axial_pos_embds_dim": (16, 16),
    "embed_dim": 32,
}
HEADS = {
    "num_attention_heads": 2,
    "n_head": 2,
    "n_heads": 2,
    "num_heads": 2,
    "encoder_attention_heads": 2,
    "decoder_attention_heads": 2,
    "num_cross_attention_heads": 1,
    "num_self_attention_heads": 2,
    "num_key_value_heads": 1,
    "linear_num_key_heads": 2,
    "linear_num_value_heads": 2,
    "n_mamba_heads": 2,
    "index_n_heads": 2,
}
#: feed-forward, head and low-rank sizes
INNER = {
    "intermediate_size": 64,
    "ffn_dim": 64,
    "encoder_ffn_dim": 64,
    "decoder_ffn_dim": 64,
    "d_ff": 64,
    "dff": 64,
    "d_inner": 64,
    "n_inner": 64,
    "hidden_dim": 64,
    "moe_intermediate_size": 32,
    "shared_expert_intermediate_size": 32,
    "feed_forward_size": 64,
    "d_kv": 16,
    "d_head": 16,
    "head_dim": 16,
    "kv_channels": 16,
    "attention_head_size": 16,
    "kv_lora_rank": 16,
    "q_lora_rank": 16,
    "qk_nope_head_dim": 8,
    "qk_rope_head_dim": 8,
    "v_head_dim": 16,
    "index_head_dim": 16,
    "rotary_dim": 8,
    "linear_key_head_dim": 16,
    "linear_value_head_dim": 16,
    "mamba_d_state": 8,
    "mamba_headdim": 8,
    "adapter_rank": 8,
    "query_pre_attn_scalar": 16,
    "lddt_head_hid_dim": 16,
    "prompt_mid_dim": 16,
    "prompt_length": 4,
    "gated_norm_rank": 4,
    "coordinate_size": 4,
    "shape_size": 8,
}
#: sizes a config may leave unset (None) although its model needs them: set as real checkpoints set them
UNSET = {"head_dim": 16, "num_key_value_heads": 2}
#: hybrid models: one layer of each kind in two layers (attention after a state-space or linear-attention layer)
HYBRID = {"attn_layer_period": 2, "attn_layer_offset": 1, "expert_layer_period": 2, "expert_layer_offset": 1}
#: fields listing each layer's kind; a tiny model keeps one layer of each kind the default model has
LAYER_KINDS = ("layer_types", "layers_block_type")
#: mixtures of experts: few experts, few per token
EXPERTS = {
    "num_experts": 4,
    "num_local_experts": 4,
    "n_routed_experts": 4,
    "num_experts_per_tok": 2,
    "n_shared_experts": 1,
    "n_group": 1,
    "topk_group": 1,
    "moe_topk": 1,
    "index_topk": 4,
}
#: vocabularies and other lookup tables
TABLES = {
    "vocab_size": 128,
    "entity_vocab_size": 16,
    "pronunciation_vocab_size": 16,
    "shape_vocab_size": 16,
    "num_hash_buckets": 64,
    "max_2d_position_embeddings": 64,
    "num_latents": 8,
    "num_patches": 64,
    "mm_tokens_per_image": 4,
    "num_position_embeddings": 64,
}
#: images: small, in few patches; windows and local attention of a few patches
IMAGES = {"image_size": 64, "input_size": 64, "patch_size": 8, "window_size": 2, "encoder_stride": 8}
#: grouped convolutions and norms: one group
GROUPS = {"num_groups": 1, "groups_width": 8}
#: per-stage lists of hierarchical vision models: one block per stage, narrow stages, one head per stage
STAGE_DEPTHS = ("depths", "depth", "num_block_repeats", "stage_num_blocks", "n_attn_blocks", "stage_numb_of_layers")
STAGE_WIDTHS = (
    "hidden_sizes",
    "embed_dims",
    "embed_dim",
    "neck_hidden_sizes",
    "base_attn_unit_dims",
    "key_dim",
    "stem_out_channels",
)
STAGE_HEADS = ("num_heads",)
#: the widest stage of a tiny hierarchical model
STAGE_WIDTH = 64

#: fields whose value is a token id (they must stay inside the tiny vocabulary)
TOKEN_ID_SUFFIXES = ("_token_id", "_token_index", "_index", "_token_ids")

#: fixes one rule cannot make, by model type, each with its reason
PER_MODEL = {
    # LSH/local attention chunks must divide the sequence; the axial position shape must multiply to its length
    "reformer": {
        "axial_pos_shape": (4, 8),
        "max_position_embeddings": 32,
        "local_attn_chunk_length": 8,
        "lsh_attn_chunk_length": 8,
        "num_buckets": 4,
        "attn_layers": ("local", "lsh"),
    },
    # the attention window is one of the sequence's blocks: a multiple of 2 no longer than a tiny input
    "longformer": {"attention_window": 4},
    # block-sparse attention needs a sequence of many blocks: tiny inputs use full attention
    "big_bird": {"attention_type": "original_full"},
    "bigbird_pegasus": {"attention_type": "original_full"},
    # the expert count is a square (product-key routing)
    "doge": {"num_experts": 16, "num_experts_per_tok": 2, "keep_window_size": 8},
    # a hash of a few bits, attention in blocks of a tiny sequence
    "yoso": {"hash_code_len": 4, "num_hash": 4},
    "mra": {"block_per_row": 1},
    # one block of global and local attention per layer pair
    "gpt_neo": {"attention_types": [[["global", "local"], 1]]},
    # rotary settings are given per layer kind, and its config has no default for them
    "cohere_compass_text": {"rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 10000.0}}},
    # the router picks no expert unless told how many
    "deepseek_v2": {"num_experts_per_tok": 2},
    # no vocabulary by default (a protein alphabet is given with each checkpoint)
    "esm": {"vocab_size": 33, "pad_token_id": 1, "mask_token_id": 32},
    # the layout embeddings are a sixth of the width each
    "lilt": {"hidden_size": 48},
    # the shared attention block is tied across its layers: at least two of them
    # the yes/no answer tokens are no config fields (the model falls back to ids of the full vocabulary)
    "shieldgemma2": {"yes_token_index": 100, "no_token_index": 101},
    "zamba": {"layers_block_type": ["linear_attention", "hybrid", "hybrid"], "num_hidden_layers": 3},
    # the stochastic-depth schedule of stage i indexes its blocks with i: stage i needs i + 1 blocks
    "cvt": {"depth": [1, 2, 3]},
    # the patch embedding is four stride-2 convolutions (16 pixels) whatever patch_size says
    "levit": {"patch_size": 16},
    # narrow by the width coefficient; the last convolution's width is 1280 times it, which hidden_dim must equal
    "efficientnet": {"width_coefficient": 0.25, "depth_coefficient": 0.5, "hidden_dim": 320},
    # the stages' channels are given twice (hidden_sizes and stage_out_channels): keep them matched
    "hgnet_v2": {"hidden_sizes": [128, 512, 1024, 2048]},
}

#: optional packages an architecture needs to be built at all
NEEDS = {"timm_wrapper": "timm", "layoutlmv2": "detectron2", "dinat": "natten"}


class CannotBuild(Exception):
    """The builder cannot make a tiny config or model of this architecture; the message says why."""


def _defaults(config_class: type[PreTrainedConfig]) -> dict[str, Any]:
    """The config class's own fields with their default values (a field without a default is left out)."""
    values = {}
    for field in dataclasses.fields(config_class):
        if field.default is not dataclasses.MISSING:
            values[field.name] = field.default
        elif field.default_factory is not dataclasses.MISSING:
            values[field.name] = field.default_factory()
    return values


def _is_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _shrink_scalar(name: str, value: Any, rules: dict[str, Any]) -> Any:
    target = rules[name]
    if _is_number(value) and _is_number(target):
        return min(value, target) if value > 0 else value
    if isinstance(value, (list, tuple)) and isinstance(target, tuple):
        return list(target)
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(map(_is_number, value)) and _is_number(target):
        return [min(v, target) for v in value]  # (height, width) pairs
    return value


def _stage_lists(values: dict[str, Any]) -> dict[str, Any]:
    """One block per stage, the widest stage :data:`STAGE_WIDTH` wide (every width scaled alike, so widths that
    match stay matched), one head per stage."""
    changes: dict[str, Any] = {}
    lists = [values.get(name) for name in STAGE_WIDTHS]
    widths = [w for value in lists if isinstance(value, (list, tuple)) for w in value if _is_number(w)]
    scale = max(1, max(widths, default=1) // STAGE_WIDTH)
    for name in STAGE_DEPTHS:
        if isinstance(value := values.get(name), (list, tuple)) and all(map(_is_number, value)):
            changes[name] = [min(v, 1) for v in value]

    def narrow(width: int) -> int:
        return max(8, round(width / scale / 8) * 8)

    for name in STAGE_WIDTHS:
        value = values.get(name)
        if isinstance(value, (list, tuple)) and value and all(map(_is_number, value)):
            changes[name] = [narrow(v) for v in value]
        elif _is_number(value) and scale > 1:
            changes[name] = narrow(value)
    for name in STAGE_HEADS:
        if isinstance(value := values.get(name), (list, tuple)):
            changes[name] = [1 for _ in value]
    return changes


def _layer_kinds(config_class: type[PreTrainedConfig], values: dict[str, Any], init_kwargs: Any) -> dict[str, Any]:
    """One layer of each kind the default model has, in their first order (a hybrid model of two layers would
    otherwise have state-space or linear-attention layers only)."""
    names = [name for name in LAYER_KINDS if name in values]
    layers = next((name for name in LAYERS if name in values), None)
    if not names or layers is None:
        return {}
    try:
        default = config_class(**(init_kwargs or {}))
    except Exception:  # noqa: BLE001  (a class without usable defaults keeps its own layer pattern)
        return {}
    kinds = getattr(default, names[0], None)
    if not isinstance(kinds, (list, tuple)) or len(set(kinds)) < 2:
        return {}
    distinct = list(dict.fromkeys(kinds))
    return {names[0]: distinct, layers: len(distinct)}


def _token_ids(values: dict[str, Any], vocab_size: int) -> dict[str, Any]:
    """Token ids outside the tiny vocabulary moved to its top, equal ids kept equal (pad may equal eos)."""
    large = sorted(
        {
            v
            for name, value in values.items()
            if name.endswith(TOKEN_ID_SUFFIXES)
            for v in (value if isinstance(value, (list, tuple)) else [value])
            if _is_number(v) and v >= vocab_size
        }
    )
    moved = {old: vocab_size - 1 - rank for rank, old in enumerate(reversed(large))}
    changes = {}
    for name, value in values.items():
        if not name.endswith(TOKEN_ID_SUFFIXES):
            continue
        if _is_number(value) and value in moved:
            changes[name] = moved[value]
        elif isinstance(value, (list, tuple)) and any(_is_number(v) and v in moved for v in value):
            changes[name] = [moved.get(v, v) for v in value]
    return changes


def tiny_kwargs(config_class: type[PreTrainedConfig], init_kwargs: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keyword arguments of a tiny ``config_class`` (whose defaults ``init_kwargs`` override): its defaults
    shrunk, nested configs (``sub_configs_defaults``) as tiny dicts."""
    values = {**_defaults(config_class), **(init_kwargs or {})}
    changes: dict[str, Any] = {}
    for rules in (LAYERS, WIDTHS, HEADS, INNER, EXPERTS, TABLES, IMAGES, GROUPS, HYBRID):
        for name in rules.keys() & values.keys():
            if values[name] is not None:
                changes[name] = _shrink_scalar(name, values[name], rules)
    changes.update({name: value for name, value in UNSET.items() if name in values and values[name] is None})
    if "kv_lora_rank" in values and "num_key_value_heads" in values:  # latent attention: one key/value per head
        changes["num_key_value_heads"] = changes.get("num_attention_heads", values.get("num_attention_heads"))
    changes.update(_stage_lists(values))
    changes.update(_layer_kinds(config_class, values, init_kwargs))
    sections = {}
    for key, spec in config_class.sub_configs_defaults.items():
        sub_class = spec.config_class
        if not (isinstance(sub_class, type) and dataclasses.is_dataclass(sub_class)):  # an AutoConfig spec
            sub_class = CONFIG_MAPPING[spec.model_type]
        sections[key] = {**spec.init_kwargs, **tiny_kwargs(sub_class, spec.init_kwargs)}
    # token ids of a composite config (image, yes/no tokens) index its text section's vocabulary
    vocab_size = changes.get("vocab_size", values.get("vocab_size"))
    vocab_size = vocab_size if _is_number(vocab_size) else sections.get("text_config", {}).get("vocab_size")
    if _is_number(vocab_size):
        changes.update(_token_ids(values, vocab_size))
    changes = {name: value for name, value in changes.items() if name in values}
    return {**changes, **sections, **PER_MODEL.get(config_class.model_type, {})}


def tiny_config(model_type: str, num_labels: int = 3) -> PreTrainedConfig:
    """A tiny random config of ``model_type`` (a key of ``CONFIG_MAPPING``), or :class:`CannotBuild`."""
    if (package := NEEDS.get(model_type)) and importlib.util.find_spec(package) is None:
        raise CannotBuild(f"needs the optional package {package}, which is not installed")
    config_class = CONFIG_MAPPING[model_type]
    kwargs = tiny_kwargs(config_class)
    try:
        config = config_class(**kwargs, num_labels=num_labels)
    except Exception as error:  # noqa: BLE001  (any refusal of the config class is a reason to report)
        raise CannotBuild(f"the config class refuses the tiny sizes: {type(error).__name__}: {error}") from error
    for section in {id(c): c for c in (config, *(getattr(config, key) for key in config.sub_configs))}.values():
        if isinstance(section, PreTrainedConfig) and _is_number(vocab := getattr(section, "vocab_size", None)):
            for name, value in _token_ids(section.to_diff_dict(), vocab).items():  # ids its __post_init__ set
                setattr(section, name, value)
    text = config.get_text_config()
    if getattr(text, "pad_token_id", "absent") is None:  # decoder-only classifiers pool the last non-pad token
        eos = getattr(text, "eos_token_id", None)
        text.pad_token_id = (eos[0] if isinstance(eos, list) else eos) if eos is not None else 0
    if config.is_encoder_decoder and getattr(config, "decoder_start_token_id", None) is None:
        config.decoder_start_token_id = text.pad_token_id  # as T5 checkpoints say (the class has no default)
    return config
