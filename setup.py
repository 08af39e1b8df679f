"""Build hook for the C kernel: everything else about the package is in pyproject.toml.

The cffi extension ``keyglide._native`` is compiled from native/ by native/build_ffi.py.
"""

from setuptools import setup

setup(cffi_modules=["native/build_ffi.py:ffibuilder"])
