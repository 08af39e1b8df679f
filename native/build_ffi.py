"""cffi (API mode) build of the C kernel as the extension module ``keyglide._native``.

setuptools runs this through ``cffi_modules=["native/build_ffi.py:ffibuilder"]`` (see
setup.py) whenever the package is installed; by hand:

    python native/build_ffi.py            # builds keyglide/_native*.so in the current dir

The cdef is derived from the public header ``native/include/keyglide.h`` itself (comments
and preprocessor lines dropped, integer macros passed as ``...`` so the compiler gives their
values, and so are the lengths of arrays they size), so the binding cannot drift from the C
interface. The extension is stamped with the SDK version (``keyglide._version.__version__``):
``keyglide.engines.native`` refuses an extension built for another version. The C library
keeps its own version (the header's KG_VERSION_*, which follows the C interface: see
native/README.md), independent of the SDK's.

With ``KEYGLIDE_SANITIZE=1`` in the environment the kernel is compiled and linked with
AddressSanitizer and UndefinedBehaviorSanitizer (``SANITIZE_FLAGS``; every report aborts).
Such an extension only loads into a Python started with the sanitizer runtimes preloaded
(``LD_PRELOAD``); ``nox -s sanitize`` builds and runs it that way. ``kg_py_sanitized()``
says which kind of build an extension is.
"""

from __future__ import annotations

import os
import re
import sys

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HEADER = os.path.join(HERE, "include", "keyglide.h")
SOURCES = ["crc32.c", "db.c", "decode.c", "json.c", "open_path.c", "predict.c", "text.c"]
VERSION_FILE = os.path.join(ROOT, "sdk", "keyglide", "_version.py")
SANITIZE_FLAGS = [
    "-O1",
    "-g",
    "-fno-omit-frame-pointer",
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    # Python compiles extensions with its own CFLAGS, which include -fwrapv: that defines
    # signed overflow and so turns its check off. The kernel is C99 without it elsewhere.
    "-fno-wrapv",
]


def sanitizing() -> bool:
    """Whether this build instruments the kernel (``KEYGLIDE_SANITIZE=1``)."""
    value = os.environ.get("KEYGLIDE_SANITIZE", "")
    if value not in ("", "0", "1"):
        raise RuntimeError(f"KEYGLIDE_SANITIZE must be 0 or 1, not {value!r}")
    return value == "1"


def sdk_version() -> str:
    """``__version__`` from _version.py, read without importing the package."""
    with open(VERSION_FILE, encoding="utf-8") as f:
        match = re.search(r'^__version__\s*=\s*"([^"]+)"', f.read(), re.M)
    if not match:
        raise RuntimeError(f"no __version__ in {VERSION_FILE}")
    return match.group(1)


def cdef_from_header(header: str) -> str:
    """The declarations of keyglide.h in the form cffi's cdef() reads."""
    text = re.sub(r"/\*.*?\*/", "", header, flags=re.S)
    lines: list[str] = []
    skipping_cplusplus = False
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            directive = stripped[1:].strip()
            if directive.startswith("ifdef __cplusplus"):
                skipping_cplusplus = True
            elif skipping_cplusplus and directive.startswith("endif"):
                skipping_cplusplus = False
            define = re.match(r"define\s+(KG_\w+)\s+(\S.*)$", directive)
            if define and define.group(1) not in ("KG_API",) and not skipping_cplusplus:
                lines.append(f"#define {define.group(1)} ...")
            continue
        if skipping_cplusplus:
            continue
        # An array sized by the header's macros (kg_layout's): cffi takes its length from
        # the compiler.
        line = re.sub(r"\[[^\]]*\bKG_\w+[^\]]*\]", "[...]", line)
        lines.append(line.replace("KG_API ", ""))
    return "\n".join(line for line in lines if line.strip()) + "\n"


def make_builder() -> FFI:
    with open(HEADER, encoding="utf-8") as f:
        header = f.read()
    version = sdk_version()
    ffibuilder = FFI()
    ffibuilder.cdef(cdef_from_header(header))
    ffibuilder.cdef("const char *kg_py_build_version(void);")
    ffibuilder.cdef("int kg_py_sanitized(void);")
    sanitize = sanitizing()
    if sanitize and os.name != "posix":
        raise RuntimeError("KEYGLIDE_SANITIZE=1 needs gcc or clang")
    # The kernel's symbols stay private to the extension: another copy of the library
    # loaded in the same process cannot clash with them.
    compile_args = ["-O2", "-fvisibility=hidden"] if os.name == "posix" else []
    if sanitize:
        compile_args += SANITIZE_FLAGS
    # setuptools wants source paths relative to the directory it runs in.
    relative = os.path.relpath(HERE, os.getcwd())
    ffibuilder.set_source(
        "keyglide._native",
        # The kind of build is part of the generated source, not only of the flags, so
        # that switching KEYGLIDE_SANITIZE changes the source and setuptools never reuses
        # an extension compiled the other way from its build directory.
        '#include "keyglide.h"\n'
        "static const char *kg_py_build_version(void) { return KG_PY_SDK_VERSION; }\n"
        f"static int kg_py_sanitized(void) {{ return {int(sanitize)}; }}\n",
        sources=[os.path.join(relative, "src", name) for name in SOURCES],
        include_dirs=[os.path.join(relative, "include"), os.path.join(relative, "src")],
        define_macros=[("KG_PY_SDK_VERSION", f'"{version}"')],
        extra_compile_args=compile_args,
        extra_link_args=["-fsanitize=address,undefined"] if sanitize else [],
    )
    return ffibuilder


ffibuilder = make_builder()

if __name__ == "__main__":
    ffibuilder.compile(verbose="-v" in sys.argv)
