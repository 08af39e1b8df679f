"""Running a graph with onnxruntime (the optional extra: ``pip install 'keyglide[neural]'``).

onnxruntime is imported only when a ``Session`` is created, never by importing keyglide, and
only after ``check_onnxruntime`` has found an installed release no older than ``MINIMUM``:
the version is read from the package metadata, without importing it.

A session is set up for a keyboard: the CPU provider, one thread (a reranker scores a few
dozen candidates; a thread pool would cost more than it saves and compete with the app),
basic graph optimizations (constant folding and redundant-node removal, which keep each
operator's arithmetic; the extended levels fuse operators into kernels whose float32
results drift further from the reference), and only fatal messages logged (every error
becomes an exception with the message, so nothing needs printing).

Whatever onnxruntime raises, at creation or while running, becomes a ``NeuralModelError``
with its message.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import metadata

import numpy as np
from packaging.version import InvalidVersion, Version

from keyglide.errors import EngineUnavailable, NeuralModelError
from keyglide.neural import reference
from keyglide.neural.proto import Model, decode, encode

# The first release built against numpy 2 (1.17 and 1.18 fail to import beside numpy 2.x)
# and the oldest this SDK is tested with (see pyproject.toml's ``neural`` extra).
MINIMUM = "1.19"

# Distributions that install the ``onnxruntime`` module with the CPU provider.
_DISTRIBUTIONS = ("onnxruntime", "onnxruntime-gpu")

_FATAL = 4  # onnxruntime's log severity levels: 0 verbose .. 3 error, 4 fatal


def onnxruntime_version() -> str | None:
    """The installed onnxruntime's version, or None; onnxruntime is not imported."""
    for name in _DISTRIBUTIONS:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return None


def check_onnxruntime(minimum: str = MINIMUM) -> str | None:
    """None when onnxruntime ``minimum`` or newer is installed, else why it cannot be used."""
    installed = onnxruntime_version()
    if installed is None:
        return "onnxruntime is not installed (pip install 'keyglide[neural]')"
    try:
        if Version(installed) < Version(minimum):
            return f"onnxruntime {installed} is installed; {minimum} or newer is needed"
    except InvalidVersion:
        return f"cannot compare onnxruntime's version {installed!r} with {minimum!r}"
    return None


class Session:
    """A graph prepared by onnxruntime. ``model`` is ONNX bytes or a ``Model``.

    With ``check`` (the default) the graph is first checked by the reference
    (``reference.check``), so onnxruntime only ever sees graphs within keyglide's operator
    set, and feeds are checked against the declared inputs before each run. Raises
    ``EngineUnavailable`` when onnxruntime cannot be used here, ``NeuralModelError`` for a
    graph or feeds that cannot run."""

    def __init__(self, model: bytes | Model, *, minimum: str = MINIMUM, check: bool = True):
        reason = check_onnxruntime(minimum)
        if reason is not None:
            raise EngineUnavailable(reason)
        if check:
            self._model = model if isinstance(model, Model) else decode(model)
            reference.check(self._model)
        data = encode(model) if isinstance(model, Model) else bytes(model)
        ort = _import()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.log_severity_level = _FATAL
        try:
            self._session = ort.InferenceSession(
                data, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as e:  # onnxruntime's errors share no base class but Exception
            raise NeuralModelError(f"onnxruntime cannot load the graph: {e}") from None
        self._check = check
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self.output_names = tuple(o.name for o in self._session.get_outputs())

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The graph's outputs, by name, for ``feeds`` (graph input name -> numpy array)."""
        if self._check:
            reference.check_feeds(self._model.graph, feeds)
        try:
            outputs = self._session.run(None, dict(feeds))  # dict(): a mapping or a failure
        except Exception as e:
            raise NeuralModelError(f"onnxruntime failed to run the graph: {e}") from None
        return dict(zip(self.output_names, outputs, strict=True))


def _import():
    try:
        import onnxruntime
    except Exception as e:  # a broken install: built against another numpy, a missing library
        raise EngineUnavailable(f"onnxruntime is installed but cannot be imported: {e}") from None
    return onnxruntime
