"""Build hook for the C kernel: everything else about the package is in pyproject.toml.

The cffi extension ``keyglide._native`` is compiled from native/ by native/build_ffi.py.
Where it cannot be compiled (no C compiler, say), keyglide installs without it and says so:
the reference engine answers instead, with a warning at run time that says why. Set
``KEYGLIDE_REQUIRE_NATIVE_BUILD=1`` to make a failed compilation fail the install instead
(release wheels and CI do).
"""

import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext

# What a missing or failing compiler raises while an extension is built.
try:
    from setuptools.errors import CCompilerError, CompileError, ExecError, LinkError, PlatformError

    BUILD_ERRORS = (CCompilerError, CompileError, ExecError, LinkError, PlatformError, OSError)
except ImportError:  # an older setuptools: distutils' names
    from distutils.errors import (
        CCompilerError,
        CompileError,
        DistutilsExecError,
        DistutilsPlatformError,
        LinkError,
    )

    BUILD_ERRORS = (
        CCompilerError,
        CompileError,
        DistutilsExecError,
        DistutilsPlatformError,
        LinkError,
        OSError,
    )


class OptionalBuildExt(build_ext):
    """build_ext that installs without the kernel when it cannot be compiled."""

    def run(self):
        try:
            super().run()
        except BUILD_ERRORS as e:
            self._skip(e)

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as e:
            self._skip(e)

    def _skip(self, error):
        if os.environ.get("KEYGLIDE_REQUIRE_NATIVE_BUILD") == "1":
            raise error
        if getattr(self, "_keyglide_warned", False):
            return
        self._keyglide_warned = True
        print(
            "WARNING: keyglide: the C kernel could not be compiled "
            f"({type(error).__name__}: {error}); installing without it. keyglide will answer "
            "with its reference engine, about 100 times slower, and say so when it opens a "
            "langdb. Install a C compiler and reinstall to get the kernel.",
            file=sys.stderr,
        )


setup(
    cffi_modules=["native/build_ffi.py:ffibuilder"],
    cmdclass={"build_ext": OptionalBuildExt},
    # The kernel uses the limited API only (cffi builds it as _native.abi3.so): one wheel
    # serves CPython 3.11 and every later release.
    options={"bdist_wheel": {"py_limited_api": "cp311"}},
)
