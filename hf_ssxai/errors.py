"""Typed errors raised by hf_ssxai.

Every error names what is wrong and how to fix it. They subclass the built-in exception a
user would catch anyway (``ValueError``, ``TypeError``, ``OSError``), so existing handlers keep
working, and all share :class:`SSXAIError` for code that wants to catch only ours.
"""


class SSXAIError(Exception):
    """Base class of every error raised by hf_ssxai."""


class UnsupportedClassifierError(SSXAIError, TypeError):
    """The classifier cannot carry a scorer (no hidden states, no maskable input, unknown modality)."""


class InvalidInputError(SSXAIError, ValueError):
    """Inputs given to a model, explainer or metric do not match what it needs."""


class CheckpointError(SSXAIError, OSError):
    """A checkpoint is missing, incomplete, corrupted or does not match its classifier."""


class FingerprintMismatchError(CheckpointError):
    """A scorer was loaded onto a classifier other than the one it was trained against."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint asks for something we refuse to do: unpickling weights or running remote code."""


class ConfigError(InvalidInputError):
    """A configuration (a ScorerConfig, a FusionConfig, a training recipe) holds a value or a key it cannot take.

    ``huggingface_hub``'s strict dataclasses wrap a validator's ``ValueError`` into their own
    ``StrictDataclassClassValidationError`` (this error is its ``__cause__``);
    :func:`hf_ssxai.configuration.build_config` turns that back into a ConfigError where hf_ssxai builds configs
    from user data (recipes, the command line).
    """


class UnknownKeyError(ConfigError):
    """A configuration names a key that is no field of its section; the message names the nearest valid key."""


class NonFiniteLossError(SSXAIError, FloatingPointError):
    """The scorer loss became NaN or infinite; training stops at that step."""


class NonFiniteOutputError(InvalidInputError):
    """A classifier, scorer or explainer gave NaN or Inf: the inputs are out of range or the weights are broken."""
