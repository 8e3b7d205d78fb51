"""The version of hf_ssxai (read by pyproject.toml, the package and the benchmark metadata)."""

__version__ = "0.1.0"
