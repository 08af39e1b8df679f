"""The reference forward pass: ONNX opset 17, restricted to the operators keyglide allows.

This is the definition the onnxruntime session is checked against, as the Python reference
engine is the definition for the C kernel, so it follows the operator specifications of
opset 17 (https://onnx.ai/onnx/operators/) rather than chasing speed.

``check(model)`` validates a graph without running it: IR version and opset (each domain
imported once), every operator in ``OPS``, every node input defined by a graph input, an
initializer or an earlier node (ONNX requires topological order), every name defined once,
node names distinct, attributes known and of the right type, and every float initializer
and float attribute finite. It refuses at least what onnxruntime refuses when it loads a
graph (onnxruntime checks node names and IR versions too), so that a graph either runtime
would refuse is refused the same way by both. ``run(model, feeds)`` checks the graph and
the feeds (every input fed, with its declared element type, rank and fixed sizes), then
runs the nodes in order.

Element types follow the specifications, narrowed to what onnxruntime's CPU kernels
implement, so that a graph this module runs, onnxruntime runs too (``OPS`` lists the types
each operator takes). Arithmetic stays in its type: float32 is computed in float32, integers
in their own width (wrapping on overflow, as in C). Division is float32 only: an integer
division by zero kills the process in onnxruntime 1.19 (SIGFPE; later releases raise).
Broadcasting is numpy's, which is ONNX's multidirectional broadcasting.

Every failure, static or while running (an index out of range, shapes that do not
broadcast), is a ``NeuralModelError`` naming the node. A node whose output would hold more
than ``MAX_ELEMENTS`` is refused before it is computed (``TensorTooLarge``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from keyglide.errors import NeuralModelError
from keyglide.neural.proto import (
    AttributeType,
    DataType,
    Graph,
    Model,
    Node,
    decode,
    dims_of,
)

OPSET = 17
IR_VERSION = 8  # the IR version that came with opset 17
MIN_IR_VERSION = 3  # the first with opset_import
# The newest IR version onnxruntime 1.19 (the oldest release keyglide runs graphs with)
# loads; a later one is refused there, so it is refused here whatever is installed.
MAX_IR_VERSION = 10
# The largest tensor a graph may make (64 MB of float32): a node whose output would be larger
# is an error before anything is allocated. A reranker's tensors are a few hundred thousand
# elements; a crafted graph could otherwise broadcast its way to gigabytes.
MAX_ELEMENTS = 1 << 24

F32, U8, I8, I32, I64, BOOL = (
    np.dtype(t) for t in (np.float32, np.uint8, np.int8, np.int32, np.int64, np.bool_)
)
ANY = frozenset(t.numpy for t in DataType)
NUMERIC = frozenset({F32, I32, I64})
FLOAT = frozenset({F32})
INDEX = frozenset({I32, I64})
AXES = frozenset({I64})

REQUIRED = object()  # an attribute without a default


class TensorTooLarge(NeuralModelError):
    """A node would make a tensor of more than ``MAX_ELEMENTS`` elements."""


@dataclass(frozen=True)
class Op:
    """An operator: the type variable of each input position (a variadic operator repeats
    its last), how many inputs are required (later ones may be absent or ""), the
    attributes with their types and defaults (``REQUIRED``, or None for "absent"), the
    element types each type variable admits, and the computation."""

    inputs: tuple[str, ...]
    required: int
    types: dict[str, frozenset[np.dtype]]
    compute: Callable[..., np.ndarray]
    attributes: dict[str, tuple[AttributeType, object]] = field(default_factory=dict)
    variadic: bool = False


# --- operators ------------------------------------------------------------------------------


def _axis(axis: int, rank: int, what: str = "axis", extra: int = 0) -> int:
    """``axis`` in [-rank, rank - 1 + extra], made non-negative."""
    if not -rank <= axis < rank + extra:
        raise NeuralModelError(f"{what} {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def _axes(axes: np.ndarray | list[int], rank: int) -> tuple[int, ...]:
    """Distinct axes in [-rank, rank - 1], made non-negative."""
    if isinstance(axes, np.ndarray) and axes.ndim != 1:
        raise NeuralModelError(f"axes must be 1-D, not of shape {list(axes.shape)}")
    found = tuple(_axis(int(a), rank, "axes entry") for a in axes)
    if len(set(found)) != len(found):
        raise NeuralModelError(f"axes {[int(a) for a in axes]} repeat an axis")
    return found


def _gather(data: np.ndarray, indices: np.ndarray, *, axis: int) -> np.ndarray:
    axis = _axis(axis, data.ndim)
    size = data.shape[axis]
    if indices.size and not (-size <= indices.min() and indices.max() < size):
        raise NeuralModelError(f"an index is out of range [{-size}, {size - 1}]")
    return np.take(data, indices.astype(np.int64), axis=axis)


def _matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.ndim == 0 or b.ndim == 0:
        raise NeuralModelError("MatMul of a scalar")
    return np.matmul(a, b)  # numpy's matmul is the spec's, 1-D promotion included


def _gemm(
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray | None = None,
    *,
    alpha: float,
    beta: float,
    transA: int,
    transB: int,
) -> np.ndarray:
    if a.ndim != 2 or b.ndim != 2:
        raise NeuralModelError(f"Gemm of shapes {list(a.shape)} and {list(b.shape)}, not matrices")
    a = a.T if transA else a  # any non-zero value means true, as onnxruntime reads it
    b = b.T if transB else b
    y = np.float32(alpha) * np.matmul(a, b)
    if c is not None:
        # C broadcasts one way only: to Y's shape.
        y = y + np.float32(beta) * np.broadcast_to(c, y.shape)
    return y


def _concat(*inputs: np.ndarray, axis: int) -> np.ndarray:
    rank = inputs[0].ndim
    if any(x.ndim != rank for x in inputs):
        raise NeuralModelError(f"Concat of ranks {[x.ndim for x in inputs]}")
    return np.concatenate(inputs, axis=_axis(axis, rank))


def _reshape(data: np.ndarray, shape: np.ndarray, *, allowzero: int) -> np.ndarray:
    if shape.ndim != 1:
        raise NeuralModelError(f"the shape must be 1-D, not of shape {list(shape.shape)}")
    target = [int(s) for s in shape]
    if any(s < -1 for s in target) or target.count(-1) > 1:
        raise NeuralModelError(f"shape {target}: sizes are >= 0, with at most one -1")
    if allowzero and 0 in target and -1 in target:
        raise NeuralModelError(f"shape {target}: with allowzero, 0 and -1 cannot both appear")
    if not allowzero:
        for i, s in enumerate(target):
            if s == 0:  # 0 copies the input's size there
                if i >= data.ndim:
                    raise NeuralModelError(
                        f"shape {target}: a 0 at index {i} past the input's rank"
                    )
                target[i] = data.shape[i]
    if -1 in target:
        known = math.prod(s for s in target if s != -1)
        if known == 0 or data.size % known:
            raise NeuralModelError(f"cannot reshape {list(data.shape)} to {list(shape)}")
        target[target.index(-1)] = data.size // known
    if math.prod(target) != data.size:
        raise NeuralModelError(f"cannot reshape {list(data.shape)} to {list(shape)}")
    return data.reshape(target)


def _flatten(data: np.ndarray, *, axis: int) -> np.ndarray:
    axis = _axis(axis, data.ndim, extra=1)  # axis may equal the rank
    return data.reshape(math.prod(data.shape[:axis]), math.prod(data.shape[axis:]))


def _unsqueeze(data: np.ndarray, axes: np.ndarray) -> np.ndarray:
    shape = list(data.shape)
    for axis in sorted(_axes(axes, data.ndim + axes.size)):  # axes index the output
        shape.insert(axis, 1)
    return data.reshape(shape)


def _squeeze(data: np.ndarray, axes: np.ndarray | None = None) -> np.ndarray:
    if axes is None:
        axes = tuple(i for i, size in enumerate(data.shape) if size == 1)
    else:
        axes = _axes(axes, data.ndim)
        if any(data.shape[a] != 1 for a in axes):
            raise NeuralModelError(f"cannot squeeze axes {list(axes)} of shape {list(data.shape)}")
    return data.reshape([size for i, size in enumerate(data.shape) if i not in axes])


def _reduce_sum(
    data: np.ndarray, axes: np.ndarray | None = None, *, keepdims: int, noop_with_empty_axes: int
) -> np.ndarray:
    if axes is None or axes.size == 0:
        if noop_with_empty_axes:
            return data
        axes = np.arange(data.ndim)
    # dtype: numpy would widen an int32 sum to int64; ONNX keeps the input's type.
    return np.sum(data, axis=_axes(axes, data.ndim), keepdims=bool(keepdims), dtype=data.dtype)


def _reduce_mean(data: np.ndarray, *, axes: tuple[int, ...] | None, keepdims: int) -> np.ndarray:
    # Opset 17's ReduceMean is version 13: axes is an attribute, and absent or empty means all.
    found = _axes(axes, data.ndim) if axes else tuple(range(data.ndim))
    return np.mean(data, axis=found, keepdims=bool(keepdims), dtype=data.dtype)


def _reduce_max(data: np.ndarray, *, axes: tuple[int, ...] | None, keepdims: int) -> np.ndarray:
    # Opset 17's ReduceMax is version 13: axes is an attribute, and absent or empty means all.
    found = _axes(axes, data.ndim) if axes else tuple(range(data.ndim))
    return np.max(data, axis=found, keepdims=bool(keepdims))


def _cast(data: np.ndarray, *, to: int) -> np.ndarray:
    # Out-of-range float to integer conversions are undefined in ONNX, as in C.
    return data.astype(DataType(to).numpy)


def _clip(x: np.ndarray, lo: np.ndarray | None = None, hi: np.ndarray | None = None):
    for bound in (lo, hi):
        if bound is not None and bound.ndim != 0:
            raise NeuralModelError(f"Clip's bounds are scalars, not of shape {list(bound.shape)}")
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


def _shape(data: np.ndarray, *, start: int, end: int | None) -> np.ndarray:
    # Opset 15: negative start or end count from the rank, and both are clamped to
    # [0, rank], which is exactly what a Python slice does.
    return np.array(data.shape[start:end], dtype=np.int64)


def _transpose(data: np.ndarray, *, perm: tuple[int, ...] | None) -> np.ndarray:
    if perm is None:
        perm = tuple(reversed(range(data.ndim)))
    if sorted(perm) != list(range(data.ndim)):
        raise NeuralModelError(f"perm {list(perm)} is not a permutation of the {data.ndim} axes")
    return np.transpose(data, perm)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.float32(1) / (np.float32(1) + np.exp(-x))


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, np.float32(0))


def _same(*args: np.ndarray) -> np.ndarray:
    return args[0]


def _binary(ufunc: np.ufunc, types: frozenset[np.dtype]) -> Op:
    return Op(("T", "T"), 2, {"T": types}, ufunc)


def _unary(ufunc: Callable[[np.ndarray], np.ndarray]) -> Op:
    return Op(("T",), 1, {"T": FLOAT}, ufunc)


INT, INTS = AttributeType.INT, AttributeType.INTS

OPS: dict[str, Op] = {
    "Gather": Op(("T", "Tind"), 2, {"T": ANY, "Tind": INDEX}, _gather, {"axis": (INT, 0)}),
    "MatMul": Op(("T", "T"), 2, {"T": NUMERIC}, _matmul),
    "Gemm": Op(
        ("T", "T", "T"),
        2,
        {"T": FLOAT},
        _gemm,
        {
            "alpha": (AttributeType.FLOAT, 1.0),
            "beta": (AttributeType.FLOAT, 1.0),
            "transA": (INT, 0),
            "transB": (INT, 0),
        },
    ),
    "Add": _binary(np.add, NUMERIC),
    "Sub": _binary(np.subtract, NUMERIC),
    "Mul": _binary(np.multiply, NUMERIC),
    "Div": _binary(np.divide, FLOAT),
    "Tanh": _unary(np.tanh),
    "Relu": _unary(_relu),
    "Sigmoid": _unary(_sigmoid),
    "Exp": _unary(np.exp),
    "Log": _unary(np.log),
    "Concat": Op(("T",), 1, {"T": ANY}, _concat, {"axis": (INT, REQUIRED)}, variadic=True),
    "Reshape": Op(("T", "S"), 2, {"T": ANY, "S": AXES}, _reshape, {"allowzero": (INT, 0)}),
    "Flatten": Op(("T",), 1, {"T": ANY}, _flatten, {"axis": (INT, 1)}),
    "Unsqueeze": Op(("T", "S"), 2, {"T": ANY, "S": AXES}, _unsqueeze),
    "Squeeze": Op(("T", "S"), 1, {"T": ANY, "S": AXES}, _squeeze),
    "ReduceSum": Op(
        ("T", "S"),
        1,
        {"T": NUMERIC, "S": AXES},
        _reduce_sum,
        {"keepdims": (INT, 1), "noop_with_empty_axes": (INT, 0)},
    ),
    "ReduceMean": Op(
        ("T",), 1, {"T": FLOAT}, _reduce_mean, {"axes": (INTS, None), "keepdims": (INT, 1)}
    ),
    "ReduceMax": Op(
        ("T",), 1, {"T": FLOAT}, _reduce_max, {"axes": (INTS, None), "keepdims": (INT, 1)}
    ),
    "Equal": Op(("T", "T"), 2, {"T": frozenset({BOOL, I32, I64, F32})}, np.equal),
    "Cast": Op(("T",), 1, {"T": ANY}, _cast, {"to": (INT, REQUIRED)}),
    # onnxruntime's CPU Where has no bool kernel, and none for int8 before 1.20.
    "Where": Op(("B", "T", "T"), 3, {"B": frozenset({BOOL}), "T": ANY - {BOOL, I8}}, np.where),
    "Clip": Op(("T", "T", "T"), 1, {"T": frozenset({F32, I32, I64, I8, U8})}, _clip),
    "Identity": Op(("T",), 1, {"T": ANY}, _same),
    "Shape": Op(("T",), 1, {"T": ANY}, _shape, {"start": (INT, 0), "end": (INT, None)}),
    "Transpose": Op(("T",), 1, {"T": ANY}, _transpose, {"perm": (INTS, None)}),
}

# --- checking -------------------------------------------------------------------------------


def check(model: Model) -> None:
    """Raise ``NeuralModelError`` unless ``model`` is a graph this module can run."""
    if model.ir_version < MIN_IR_VERSION:
        raise NeuralModelError(f"IR version {model.ir_version} is older than {MIN_IR_VERSION}")
    if model.ir_version > MAX_IR_VERSION:
        raise NeuralModelError(
            f"IR version {model.ir_version} is newer than {MAX_IR_VERSION}, the newest "
            "every supported onnxruntime loads"
        )
    domains = [_domain_name(d) for d, _ in model.opset_import]
    if len(set(domains)) != len(domains):
        raise NeuralModelError("the graph imports an operator set domain more than once")
    opset = model.opset("")
    if opset != OPSET:
        found = "no opset" if opset is None else f"opset {opset}"
        raise NeuralModelError(f"the graph imports {found} of ai.onnx; keyglide runs opset {OPSET}")
    graph = model.graph
    defined: set[str] = set()

    def define(name: str, what: str) -> None:
        if not name:
            raise NeuralModelError(f"{what} has no name")
        if name in defined:
            raise NeuralModelError(f"{what} {name!r}: the name is defined twice")
        defined.add(name)

    for tensor in graph.initializers:
        define(tensor.name, "an initializer")
        _check_finite(tensor.array, f"initializer {tensor.name!r}")
    inputs = set()
    for value in graph.inputs:
        if value.name in inputs:
            raise NeuralModelError(f"graph input {value.name!r} is declared twice")
        inputs.add(value.name)
        if value.name not in defined:  # an input may override an initializer of its name
            define(value.name, "a graph input")
    node_names: set[str] = set()
    for i, node in enumerate(graph.nodes):
        # Node names are optional, but those given are distinct (onnxruntime refuses a
        # graph with two nodes of one name).
        if node.name and node.name in node_names:
            raise NeuralModelError(f"{_describe(i, node)}: another node has the same name")
        node_names.add(node.name)
        _check_node(node, _describe(i, node), defined)
        define(node.outputs[0], f"{_describe(i, node)}: output")
    outputs = set()
    for value in graph.outputs:
        if value.name not in defined:
            raise NeuralModelError(f"graph output {value.name!r} is not computed by the graph")
        if value.name in outputs:
            raise NeuralModelError(f"graph output {value.name!r} is declared twice")
        outputs.add(value.name)


def _domain_name(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


def _check_finite(array: np.ndarray, what: str) -> None:
    """A float constant holds no NaN and no infinity: a weight that is not a number is
    damage, and what a runtime makes of it is not defined the same way by all (onnxruntime's
    ReduceMax skips a NaN where numpy's propagates it)."""
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise NeuralModelError(f"{what} holds a value that is not finite (NaN or infinity)")


def _describe(i: int, node: Node) -> str:
    named = f" {node.name!r}" if node.name else ""
    return f"node {i}{named} ({node.op_type})"


def _check_node(node: Node, where: str, defined: set[str]) -> None:
    if node.domain not in ("", "ai.onnx"):
        raise NeuralModelError(
            f"{where}: domain {node.domain!r}; keyglide runs ai.onnx operators only"
        )
    op = OPS.get(node.op_type)
    if op is None:
        raise NeuralModelError(f"{where}: not an operator keyglide runs ({', '.join(sorted(OPS))})")
    most = None if op.variadic else len(op.inputs)
    count = len(node.inputs)
    if count < op.required or (most is not None and count > most):
        expected = f"{op.required}" + ("+" if most is None else f" to {most}")
        raise NeuralModelError(f"{where}: {count} inputs, expected {expected}")
    for position, name in enumerate(node.inputs):
        if not name and (position < op.required or op.variadic):
            raise NeuralModelError(f"{where}: input {position} is required")
        if name and name not in defined:
            raise NeuralModelError(
                f"{where}: input {name!r} is not defined by a graph input, an initializer "
                "or an earlier node (nodes must be in topological order)"
            )
    if len(node.outputs) != 1 or not node.outputs[0]:
        raise NeuralModelError(f"{where}: {len(node.outputs)} outputs, expected exactly one")
    names = [a.name for a in node.attributes]
    if len(set(names)) != len(names):
        raise NeuralModelError(f"{where}: an attribute appears twice")
    for attribute in node.attributes:
        if attribute.type in (AttributeType.FLOAT, AttributeType.FLOATS):
            values = np.array(attribute.value, dtype=np.float64)
            _check_finite(values, f"{where}: attribute {attribute.name!r}")
        spec = op.attributes.get(attribute.name)
        if spec is None:
            raise NeuralModelError(f"{where}: unknown attribute {attribute.name!r}")
        if attribute.type is not spec[0]:
            raise NeuralModelError(
                f"{where}: attribute {attribute.name!r} is {attribute.type.name}, "
                f"expected {spec[0].name}"
            )
    for name, (_, default) in op.attributes.items():
        if default is REQUIRED and name not in names:
            raise NeuralModelError(f"{where}: attribute {name!r} is required")
    if node.op_type == "Cast":
        to = _attributes(op, node)["to"]
        if to not in set(DataType):
            raise NeuralModelError(
                f"{where}: Cast to element type {to}, which keyglide does not run"
            )


def _attributes(op: Op, node: Node) -> dict[str, object]:
    values = {name: default for name, (_, default) in op.attributes.items()}
    values.update((a.name, a.value) for a in node.attributes)
    return values


# --- running --------------------------------------------------------------------------------


def run(
    model: Model | bytes,
    feeds: Mapping[str, np.ndarray],
    made: dict[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """The graph's outputs, by name, for ``feeds`` (graph input name -> numpy array). With
    ``made``, every node's output is also stored there, by name (not copied)."""
    if not isinstance(model, Model):
        model = decode(model)
    check(model)
    values = _fed(model.graph, feeds)
    for i, node in enumerate(model.graph.nodes):
        values[node.outputs[0]] = _evaluate(node, _describe(i, node), values)
        if made is not None:
            made[node.outputs[0]] = values[node.outputs[0]]
    results = {}
    for value in model.graph.outputs:
        result = values[value.name]
        if result.dtype != value.elem_type.numpy:
            raise NeuralModelError(
                f"graph output {value.name!r} is {result.dtype}, declared {value.elem_type.name}"
            )
        results[value.name] = np.array(result)  # a copy: the caller may write to it
    return results


def check_feeds(graph: Graph, feeds: Mapping[str, np.ndarray]) -> None:
    """Raise ``NeuralModelError`` unless ``feeds`` suit the graph's declared inputs."""
    _fed(graph, feeds)


def _fed(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The values every node may read before the first runs: initializers, then feeds."""
    if not isinstance(feeds, Mapping):
        raise NeuralModelError("feeds are a mapping of input names to numpy arrays")
    declared = {value.name for value in graph.inputs}
    unknown = sorted(set(feeds) - declared, key=str)
    if unknown:
        raise NeuralModelError(
            f"fed {unknown}, which the graph does not take (it takes {sorted(declared)})"
        )
    values = {tensor.name: tensor.array for tensor in graph.initializers}
    for value in graph.inputs:
        if value.name not in feeds:
            if value.name in values:
                continue  # an initializer gives its default
            raise NeuralModelError(f"input {value.name!r} is not fed")
        array = feeds[value.name]
        where = f"input {value.name!r}"
        if not isinstance(array, np.ndarray):
            raise NeuralModelError(f"{where} is a {type(array).__name__}, not a numpy array")
        if array.dtype != value.elem_type.numpy:
            raise NeuralModelError(f"{where} is {array.dtype}, declared {value.elem_type.name}")
        if value.shape is not None and not _fits(array.shape, value.shape):
            raise NeuralModelError(
                f"{where} has shape {list(array.shape)}, declared {dims_of(value.shape)}"
            )
        values[value.name] = array
    return values


def _fits(shape: tuple[int, ...], declared: tuple[int | str, ...]) -> bool:
    """Same rank, and the same size wherever the declaration gives one (a name matches any)."""
    if len(shape) != len(declared):
        return False
    return all(isinstance(d, str) or d == s for d, s in zip(declared, shape, strict=True))


def _evaluate(node: Node, where: str, values: dict[str, np.ndarray]) -> np.ndarray:
    op = OPS[node.op_type]
    args = [values[name] if name else None for name in node.inputs]
    _check_types(op, args, where)
    attributes = _attributes(op, node)
    size = _output_size(node.op_type, args, attributes)
    if size > MAX_ELEMENTS:
        raise TensorTooLarge(
            f"{where}: would make a tensor of {size:,} elements; keyglide allows {MAX_ELEMENTS:,}"
        )
    try:
        # IEEE semantics: inf and NaN are values, not warnings.
        with np.errstate(all="ignore"):
            return op.compute(*args, **attributes)
    except NeuralModelError as e:
        raise NeuralModelError(f"{where}: {e}") from None
    except (ValueError, IndexError, TypeError, OverflowError, MemoryError) as e:
        raise NeuralModelError(f"{where}: {e}") from None


def _output_size(op_type: str, args: list[np.ndarray | None], attributes: dict) -> int:
    """How many elements the node's output will have, found before it is computed, for the
    operators whose output can be larger than their inputs; for the others, the size of
    their largest input (which bounds the output). Shapes that do not fit give 0: the
    operator itself then raises."""
    present = [a for a in args if a is not None]
    try:
        if op_type in ("Add", "Sub", "Mul", "Div", "Equal", "Where"):
            return math.prod(np.broadcast_shapes(*(a.shape for a in present)))
        if op_type == "MatMul":
            a, b = present[0].shape, present[1].shape
            rows = a[-2] if len(a) > 1 else 1
            columns = b[-1] if len(b) > 1 else 1
            batch = np.broadcast_shapes(a[:-2], b[:-2])
            return math.prod(batch) * rows * columns
        if op_type == "Gemm":
            a, b = present[0].shape, present[1].shape
            if len(a) != 2 or len(b) != 2:
                return 0
            return a[1 if attributes["transA"] else 0] * b[0 if attributes["transB"] else 1]
        if op_type == "Gather":
            data, indices = present
            axis = _axis(attributes["axis"], data.ndim)
            return math.prod(data.shape[:axis] + data.shape[axis + 1 :]) * indices.size
        if op_type == "Concat":
            return sum(a.size for a in present)
    except (ValueError, IndexError, NeuralModelError):
        return 0
    return max((a.size for a in present), default=0)


def _check_types(op: Op, args: list[np.ndarray | None], where: str) -> None:
    bound: dict[str, np.dtype] = {}
    for position, arg in enumerate(args):
        if arg is None:
            continue
        variable = op.inputs[min(position, len(op.inputs) - 1)]
        if arg.dtype not in op.types[variable]:
            allowed = ", ".join(sorted(str(t) for t in op.types[variable]))
            raise NeuralModelError(
                f"{where}: input {position} is {arg.dtype}, expected one of {allowed}"
            )
        if bound.setdefault(variable, arg.dtype) != arg.dtype:
            raise NeuralModelError(
                f"{where}: input {position} is {arg.dtype}, not {bound[variable]}"
            )
