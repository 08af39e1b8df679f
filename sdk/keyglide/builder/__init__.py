"""The langdb builder: corpus -> n-gram counts -> interpolated modified Kneser-Ney ->
quantized fixed-point model -> langdb file.

    from keyglide.builder import Recipe, build
    result = build(Recipe.from_toml("langdb/recipes/novels-3.toml"), "novels-3.langdb")

Stages, each its own module: ``recipe`` (what to build), ``inputs`` (its files, located and
hashed), ``count`` (shard, count, merge), ``estimate`` (Kneser-Ney in backoff form),
``quantize`` (fixed-point codes), ``write`` (the file), ``pipeline`` (all of them, with
provenance).
"""

from keyglide.builder.pipeline import BuildResult, build, builder_source_commit, print_progress
from keyglide.builder.recipe import HeldOutText, Input, InputFile, Recipe, Source

__all__ = [
    "BuildResult",
    "HeldOutText",
    "Input",
    "InputFile",
    "Recipe",
    "Source",
    "build",
    "builder_source_commit",
    "print_progress",
]
