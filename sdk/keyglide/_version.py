"""The SDK version: the one place it is written. Semantic versioning; see CHANGELOG.md."""

__version__ = "1.6.0"
