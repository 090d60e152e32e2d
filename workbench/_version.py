"""The version, in one place (pyproject.toml reads it; the CLI and metadata print it)."""
__version__ = "0.1.0"
