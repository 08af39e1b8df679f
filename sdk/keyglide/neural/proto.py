"""The part of ONNX's protobuf schema (``onnx/onnx.proto``) that the neural reranker uses.

A model is a tree of small frozen dataclasses: ``Model`` holds a ``Graph`` of ``Node``s,
initializers (``Tensor``: a name and a numpy array) and typed inputs and outputs
(``ValueInfo``). ``encode`` writes it as the bytes of an ONNX ``ModelProto``; ``decode`` reads
those bytes back, and reads the same messages written by other producers. Neither needs the
``onnx`` or ``protobuf`` packages.

The wire format, in one paragraph: a message is a sequence of fields, each a varint key
``field_number << 3 | wire_type`` and a value. Wire type 0 is a varint (7 bits a byte, least
significant group first, high bit set on every byte but the last; an int64 is its 64-bit
two's complement, so a negative one takes ten bytes), 1 is 8 little-endian bytes, 5 is 4,
and 2 is a varint length followed by that many bytes: a string, raw bytes, an embedded
message, or a "packed" run of repeated numbers. Wire types 3 and 4 (groups) are not used by
ONNX and are refused.

Encoding is deterministic: fields in field-number order, repeated numbers unpacked (as
``onnx.proto``, a proto2 file, declares them), tensor data as little-endian ``raw_data``,
and empty optional strings left out. So the same model always gives the same bytes.

Decoding is total: whatever the bytes, it returns a ``Model`` or raises
``NeuralModelError`` saying where and why. Every length is checked against the bytes that
remain before it is used, so memory stays proportional to the input. Fields this schema
does not name are skipped by their wire type (a real ONNX file carries doc strings,
metadata and value_info we do not need), but a field it names must have its declared wire
type, and a singular field may appear only once. Protobuf itself lets the last copy win or
merges messages there; no producer writes that, and refusing it means a crafted file cannot
decode one way here and another way in onnxruntime.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from keyglide.errors import NeuralModelError

# --- element types ------------------------------------------------------------------------


class DataType(IntEnum):
    """``TensorProto.DataType``: the element types keyglide stores and runs. BOOL is the
    type of ``Equal``'s result and ``Where``'s condition."""

    FLOAT = 1
    UINT8 = 2
    INT8 = 3
    INT32 = 6
    INT64 = 7
    BOOL = 9

    @property
    def numpy(self) -> np.dtype:
        return _NUMPY[self]

    @classmethod
    def of(cls, dtype: object) -> DataType:
        """The data type of a numpy dtype (or anything ``np.dtype`` accepts)."""
        if isinstance(dtype, DataType):
            return dtype
        native = np.dtype(dtype).newbyteorder("=")
        found = _BY_NUMPY.get(native)
        if found is None:
            raise ValueError(f"no ONNX data type keyglide supports holds {native}")
        return found


_NUMPY = {
    DataType.FLOAT: np.dtype(np.float32),
    DataType.UINT8: np.dtype(np.uint8),
    DataType.INT8: np.dtype(np.int8),
    DataType.INT32: np.dtype(np.int32),
    DataType.INT64: np.dtype(np.int64),
    DataType.BOOL: np.dtype(np.bool_),
}
_BY_NUMPY = {dtype: t for t, dtype in _NUMPY.items()}


class AttributeType(IntEnum):
    """``AttributeProto.AttributeType``, the kinds of attribute keyglide's operators take."""

    FLOAT = 1
    INT = 2
    STRING = 3
    TENSOR = 4
    FLOATS = 6
    INTS = 7


# --- the model ----------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Tensor:
    """A named constant. ``array`` is a read-only copy with a ``DataType``'s dtype."""

    name: str
    array: np.ndarray

    def __post_init__(self) -> None:
        array = np.array(self.array, dtype=DataType.of(np.asarray(self.array).dtype).numpy)
        array.setflags(write=False)
        object.__setattr__(self, "array", array)

    @property
    def data_type(self) -> DataType:
        return DataType.of(self.array.dtype)

    def _key(self) -> tuple:
        # Bytes, not values: NaN equals itself and -0.0 differs from 0.0, as in the encoding.
        return (self.name, self.array.dtype, self.array.shape, self.array.tobytes())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tensor) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return f"Tensor({self.name!r}, {self.array.dtype}{list(self.array.shape)})"


AttributeValue = float | int | bytes | Tensor | tuple[float, ...] | tuple[int, ...]


@dataclass(frozen=True)
class Attribute:
    """A node's named attribute; ``value``'s Python type follows ``type``. Floats are held
    as the float32 they are stored as, so a round trip compares equal."""

    name: str
    type: AttributeType
    value: AttributeValue

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", AttributeType(self.type))
        object.__setattr__(self, "value", _normalized(self.type, self.value))

    @classmethod
    def of(cls, name: str, value: object) -> Attribute:
        """An attribute whose type is read off a Python value: int (or bool), float, str or
        bytes, a numpy array or ``Tensor``, or a list of ints or of floats (an empty list is
        INTS)."""
        if isinstance(value, bool | int | np.integer | np.bool_):
            return cls(name, AttributeType.INT, int(value))
        if isinstance(value, float | np.floating):
            return cls(name, AttributeType.FLOAT, float(value))
        if isinstance(value, str | bytes):
            return cls(name, AttributeType.STRING, value)
        if isinstance(value, Tensor | np.ndarray):
            return cls(name, AttributeType.TENSOR, value)
        if isinstance(value, list | tuple):
            if all(isinstance(v, bool | int | np.integer | np.bool_) for v in value):
                return cls(name, AttributeType.INTS, value)
            return cls(name, AttributeType.FLOATS, value)
        raise TypeError(f"attribute {name!r}: no ONNX attribute type holds {type(value)}")


def _normalized(kind: AttributeType, value: object) -> AttributeValue:
    if kind is AttributeType.FLOAT:
        return _float32(value)
    if kind is AttributeType.INT:
        return _int64(value)
    if kind is AttributeType.STRING:
        return value.encode() if isinstance(value, str) else bytes(value)
    if kind is AttributeType.TENSOR:
        return value if isinstance(value, Tensor) else Tensor("", value)
    if kind is AttributeType.FLOATS:
        return tuple(_float32(v) for v in value)
    return tuple(_int64(v) for v in value)


def _float32(value: object) -> float:
    return float(np.float32(value))


def _int64(value: object) -> int:
    value = int(value)
    if not -(1 << 63) <= value < 1 << 63:
        raise OverflowError(f"{value} is not an int64")
    return value


@dataclass(frozen=True)
class Node:
    """One operator application. An empty input name stands for an omitted optional input.
    ``domain`` "" is the standard operator set (``ai.onnx``)."""

    op_type: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attributes: tuple[Attribute, ...] = ()
    name: str = ""
    domain: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "attributes", tuple(self.attributes))


Dim = int | str  # a size, or a symbolic name ("" for a dimension nothing is known about)


@dataclass(frozen=True)
class ValueInfo:
    """A graph input or output: a tensor's name, element type and shape. ``shape`` None
    means the rank is unknown; () is a scalar."""

    name: str
    elem_type: DataType
    shape: tuple[Dim, ...] | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "elem_type", DataType(self.elem_type))
        if self.shape is not None:
            object.__setattr__(self, "shape", tuple(self.shape))


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    inputs: tuple[ValueInfo, ...]
    outputs: tuple[ValueInfo, ...]
    initializers: tuple[Tensor, ...] = ()
    name: str = ""

    def __post_init__(self) -> None:
        for name in ("nodes", "inputs", "outputs", "initializers"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


@dataclass(frozen=True)
class Model:
    """A ``ModelProto``. ``opset_import`` pairs a domain ("" for ``ai.onnx``) with its
    operator set version."""

    graph: Graph
    ir_version: int
    opset_import: tuple[tuple[str, int], ...]
    producer_name: str = ""
    producer_version: str = ""
    doc_string: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "opset_import", tuple(map(tuple, self.opset_import)))

    def opset(self, domain: str = "") -> int | None:
        """The imported version of ``domain`` ("" and "ai.onnx" are the same), or None."""
        found = [v for d, v in self.opset_import if _domain(d) == _domain(domain)]
        return found[-1] if found else None


def _domain(domain: str) -> str:
    return "" if domain == "ai.onnx" else domain


# --- field numbers (onnx/onnx.proto) ------------------------------------------------------

VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

# ModelProto
MODEL_IR_VERSION, MODEL_PRODUCER_NAME, MODEL_PRODUCER_VERSION = 1, 2, 3
MODEL_DOC_STRING, MODEL_GRAPH, MODEL_OPSET_IMPORT = 6, 7, 8
# OperatorSetIdProto
OPSET_DOMAIN, OPSET_VERSION = 1, 2
# GraphProto
GRAPH_NODE, GRAPH_NAME, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT = 1, 2, 5, 11, 12
# NodeProto
NODE_INPUT, NODE_OUTPUT, NODE_NAME, NODE_OP_TYPE, NODE_ATTRIBUTE, NODE_DOMAIN = 1, 2, 3, 4, 5, 7
# AttributeProto
ATTR_NAME, ATTR_F, ATTR_I, ATTR_S, ATTR_T, ATTR_FLOATS, ATTR_INTS, ATTR_TYPE = (
    1,
    2,
    3,
    4,
    5,
    7,
    8,
    20,
)
# TensorProto
TENSOR_DIMS, TENSOR_DATA_TYPE, TENSOR_SEGMENT, TENSOR_FLOAT_DATA, TENSOR_INT32_DATA = 1, 2, 3, 4, 5
TENSOR_INT64_DATA, TENSOR_NAME, TENSOR_RAW_DATA = 7, 8, 9
TENSOR_EXTERNAL_DATA, TENSOR_DATA_LOCATION = 13, 14
# ValueInfoProto, TypeProto, TypeProto.Tensor, TensorShapeProto, TensorShapeProto.Dimension
VALUE_NAME, VALUE_TYPE = 1, 2
TYPE_TENSOR = 1
TENSOR_TYPE_ELEM_TYPE, TENSOR_TYPE_SHAPE = 1, 2
SHAPE_DIM = 1
DIM_VALUE, DIM_PARAM = 1, 2

# The value field of each attribute type.
_ATTRIBUTE_FIELD = {
    AttributeType.FLOAT: ATTR_F,
    AttributeType.INT: ATTR_I,
    AttributeType.STRING: ATTR_S,
    AttributeType.TENSOR: ATTR_T,
    AttributeType.FLOATS: ATTR_FLOATS,
    AttributeType.INTS: ATTR_INTS,
}

_UINT64 = (1 << 64) - 1
_FLOAT32 = struct.Struct("<f")

# --- encoding -----------------------------------------------------------------------------


class _Message:
    """Fields appended in the order written; every caller writes in field-number order."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def varint(self, number: int, value: int) -> None:
        self._parts += [_varint(number << 3 | VARINT), _varint(value & _UINT64)]

    def float(self, number: int, value: float) -> None:
        self._parts += [_varint(number << 3 | FIXED32), _FLOAT32.pack(value)]

    def bytes(self, number: int, value: bytes) -> None:
        self._parts += [_varint(number << 3 | LENGTH), _varint(len(value)), value]

    def string(self, number: int, value: str) -> None:
        self.bytes(number, value.encode("utf-8"))

    def optional_string(self, number: int, value: str) -> None:
        if value:
            self.string(number, value)

    def done(self) -> bytes:
        return b"".join(self._parts)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode(model: Model) -> bytes:
    """The ``ModelProto`` bytes of ``model``."""
    m = _Message()
    m.varint(MODEL_IR_VERSION, model.ir_version)
    m.optional_string(MODEL_PRODUCER_NAME, model.producer_name)
    m.optional_string(MODEL_PRODUCER_VERSION, model.producer_version)
    m.optional_string(MODEL_DOC_STRING, model.doc_string)
    m.bytes(MODEL_GRAPH, _encode_graph(model.graph))
    for domain, version in model.opset_import:
        opset = _Message()
        opset.optional_string(OPSET_DOMAIN, domain)
        opset.varint(OPSET_VERSION, version)
        m.bytes(MODEL_OPSET_IMPORT, opset.done())
    return m.done()


def _encode_graph(graph: Graph) -> bytes:
    m = _Message()
    for node in graph.nodes:
        m.bytes(GRAPH_NODE, _encode_node(node))
    m.optional_string(GRAPH_NAME, graph.name)
    for tensor in graph.initializers:
        m.bytes(GRAPH_INITIALIZER, _encode_tensor(tensor))
    for value in graph.inputs:
        m.bytes(GRAPH_INPUT, _encode_value_info(value))
    for value in graph.outputs:
        m.bytes(GRAPH_OUTPUT, _encode_value_info(value))
    return m.done()


def _encode_node(node: Node) -> bytes:
    m = _Message()
    for name in node.inputs:
        m.string(NODE_INPUT, name)
    for name in node.outputs:
        m.string(NODE_OUTPUT, name)
    m.optional_string(NODE_NAME, node.name)
    m.string(NODE_OP_TYPE, node.op_type)
    for attribute in node.attributes:
        m.bytes(NODE_ATTRIBUTE, _encode_attribute(attribute))
    m.optional_string(NODE_DOMAIN, node.domain)
    return m.done()


def _encode_attribute(attribute: Attribute) -> bytes:
    m = _Message()
    m.string(ATTR_NAME, attribute.name)
    kind, value = attribute.type, attribute.value
    if kind is AttributeType.FLOAT:
        m.float(ATTR_F, value)
    elif kind is AttributeType.INT:
        m.varint(ATTR_I, value)
    elif kind is AttributeType.STRING:
        m.bytes(ATTR_S, value)
    elif kind is AttributeType.TENSOR:
        m.bytes(ATTR_T, _encode_tensor(value))
    elif kind is AttributeType.FLOATS:
        for v in value:
            m.float(ATTR_FLOATS, v)
    else:
        for v in value:
            m.varint(ATTR_INTS, v)
    m.varint(ATTR_TYPE, kind)
    return m.done()


def _encode_tensor(tensor: Tensor) -> bytes:
    m = _Message()
    for size in tensor.array.shape:
        m.varint(TENSOR_DIMS, size)
    m.varint(TENSOR_DATA_TYPE, tensor.data_type)
    m.optional_string(TENSOR_NAME, tensor.name)
    little = tensor.array.astype(tensor.array.dtype.newbyteorder("<"), copy=False)
    m.bytes(TENSOR_RAW_DATA, little.tobytes())
    return m.done()


def _encode_value_info(value: ValueInfo) -> bytes:
    tensor_type = _Message()
    tensor_type.varint(TENSOR_TYPE_ELEM_TYPE, value.elem_type)
    if value.shape is not None:
        shape = _Message()
        for dim in value.shape:
            d = _Message()
            if isinstance(dim, str):
                d.optional_string(DIM_PARAM, dim)
            else:
                d.varint(DIM_VALUE, dim)
            shape.bytes(SHAPE_DIM, d.done())
        tensor_type.bytes(TENSOR_TYPE_SHAPE, shape.done())
    type_proto = _Message()
    type_proto.bytes(TYPE_TENSOR, tensor_type.done())
    m = _Message()
    m.string(VALUE_NAME, value.name)
    m.bytes(VALUE_TYPE, type_proto.done())
    return m.done()


# --- decoding: the wire -------------------------------------------------------------------

# How a known field's value is read. INT64 is any varint field (int32 ones included: a
# negative int32 is written sign-extended, so reading it as int64 gives its value).
INT64, FLOAT, BYTES, STRING, MESSAGE = "int64", "float", "bytes", "string", "message"
_WIRE = {INT64: VARINT, FLOAT: FIXED32, BYTES: LENGTH, STRING: LENGTH, MESSAGE: LENGTH}


def _read_varint(data: memoryview, at: int, where: str) -> tuple[int, int]:
    """The varint at ``at`` and the position after it."""
    value = shift = 0
    while True:
        if at >= len(data):
            raise NeuralModelError(f"{where}: the bytes end inside a varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift >= 70:
            raise NeuralModelError(f"{where}: a varint longer than ten bytes")
    if value > _UINT64:
        raise NeuralModelError(f"{where}: a varint larger than 64 bits")
    return value, at


def _signed(value: int) -> int:
    return value - (1 << 64) if value >> 63 else value


def _fields(data: memoryview, where: str) -> Iterator[tuple[int, int, int | memoryview]]:
    """(field number, wire type, value) of each field of one message, in order."""
    at = 0
    while at < len(data):
        key, at = _read_varint(data, at, where)
        number, wire = key >> 3, key & 7
        if not 1 <= number < 1 << 29:
            raise NeuralModelError(f"{where}: field number {number} is out of range")
        if wire == VARINT:
            value, at = _read_varint(data, at, where)
        elif wire in (FIXED64, FIXED32):
            width = 8 if wire == FIXED64 else 4
            if at + width > len(data):
                raise NeuralModelError(f"{where}: field {number}: the bytes end inside it")
            value, at = data[at : at + width], at + width
        elif wire == LENGTH:
            length, at = _read_varint(data, at, where)
            if length > len(data) - at:
                raise NeuralModelError(
                    f"{where}: field {number} claims {length} bytes, {len(data) - at} remain"
                )
            value, at = data[at : at + length], at + length
        else:
            raise NeuralModelError(f"{where}: field {number} has wire type {wire}, not allowed")
        yield number, wire, value


def _parse(data: memoryview, schema: dict[int, tuple[str, bool]], where: str) -> dict[int, list]:
    """The known fields of one message: field number -> its values, in order. ``schema``
    maps a field number to (kind, repeated). Messages stay as bytes for the caller."""
    found: dict[int, list] = {}
    for number, wire, value in _fields(data, where):
        if number not in schema:
            continue
        kind, repeated = schema[number]
        if wire == _WIRE[kind]:
            values = [_scalar(kind, value, f"{where}: field {number}")]
        elif repeated and wire == LENGTH and kind in (INT64, FLOAT):
            values = list(_packed(kind, value, f"{where}: field {number}"))
        else:
            raise NeuralModelError(
                f"{where}: field {number} has wire type {wire}, expected {_WIRE[kind]}"
            )
        if not repeated and number in found:
            raise NeuralModelError(f"{where}: field {number} appears more than once")
        found.setdefault(number, []).extend(values)
    return found


def _scalar(kind: str, value: int | memoryview, where: str):
    if kind == INT64:
        return _signed(value)
    if kind == FLOAT:
        return _FLOAT32.unpack(value)[0]
    if kind == STRING:
        try:
            return str(value, "utf-8")
        except UnicodeDecodeError:
            raise NeuralModelError(f"{where}: a string that is not UTF-8") from None
    return value  # BYTES and MESSAGE


def _packed(kind: str, data: memoryview, where: str) -> Iterator[int | float]:
    if kind == FLOAT:
        if len(data) % 4:
            raise NeuralModelError(f"{where}: packed floats of {len(data)} bytes")
        yield from (v for (v,) in _FLOAT32.iter_unpack(data))
        return
    at = 0
    while at < len(data):
        value, at = _read_varint(data, at, where)
        yield _signed(value)


def _one(found: dict[int, list], number: int, default=None):
    return found[number][0] if number in found else default


# --- decoding: the messages ---------------------------------------------------------------


def decode(data: bytes | bytearray | memoryview) -> Model:
    """The model in ONNX ``ModelProto`` bytes. Raises ``NeuralModelError`` and nothing else."""
    try:
        view = memoryview(data).cast("B")
    except (TypeError, ValueError):
        raise NeuralModelError("an ONNX model is bytes") from None
    return _decode_model(view)


_MODEL = {
    MODEL_IR_VERSION: (INT64, False),
    MODEL_PRODUCER_NAME: (STRING, False),
    MODEL_PRODUCER_VERSION: (STRING, False),
    MODEL_DOC_STRING: (STRING, False),
    MODEL_GRAPH: (MESSAGE, False),
    MODEL_OPSET_IMPORT: (MESSAGE, True),
}
_OPSET = {OPSET_DOMAIN: (STRING, False), OPSET_VERSION: (INT64, False)}


def _decode_model(data: memoryview) -> Model:
    f = _parse(data, _MODEL, "model")
    if MODEL_GRAPH not in f:
        raise NeuralModelError("model: no graph")
    opsets = []
    for i, chunk in enumerate(f.get(MODEL_OPSET_IMPORT, [])):
        o = _parse(chunk, _OPSET, f"model: opset_import[{i}]")
        opsets.append((_one(o, OPSET_DOMAIN, ""), _one(o, OPSET_VERSION, 0)))
    return Model(
        graph=_decode_graph(f[MODEL_GRAPH][0]),
        ir_version=_one(f, MODEL_IR_VERSION, 0),
        opset_import=tuple(opsets),
        producer_name=_one(f, MODEL_PRODUCER_NAME, ""),
        producer_version=_one(f, MODEL_PRODUCER_VERSION, ""),
        doc_string=_one(f, MODEL_DOC_STRING, ""),
    )


_GRAPH = {
    GRAPH_NODE: (MESSAGE, True),
    GRAPH_NAME: (STRING, False),
    GRAPH_INITIALIZER: (MESSAGE, True),
    GRAPH_INPUT: (MESSAGE, True),
    GRAPH_OUTPUT: (MESSAGE, True),
}


def _decode_graph(data: memoryview) -> Graph:
    f = _parse(data, _GRAPH, "graph")

    def each(number: int, what: str, decoder) -> tuple:
        return tuple(
            decoder(chunk, f"graph: {what}[{i}]") for i, chunk in enumerate(f.get(number, []))
        )

    return Graph(
        nodes=each(GRAPH_NODE, "node", _decode_node),
        inputs=each(GRAPH_INPUT, "input", _decode_value_info),
        outputs=each(GRAPH_OUTPUT, "output", _decode_value_info),
        initializers=each(GRAPH_INITIALIZER, "initializer", _decode_tensor),
        name=_one(f, GRAPH_NAME, ""),
    )


_NODE = {
    NODE_INPUT: (STRING, True),
    NODE_OUTPUT: (STRING, True),
    NODE_NAME: (STRING, False),
    NODE_OP_TYPE: (STRING, False),
    NODE_ATTRIBUTE: (MESSAGE, True),
    NODE_DOMAIN: (STRING, False),
}


def _decode_node(data: memoryview, where: str) -> Node:
    f = _parse(data, _NODE, where)
    return Node(
        op_type=_one(f, NODE_OP_TYPE, ""),
        inputs=tuple(f.get(NODE_INPUT, [])),
        outputs=tuple(f.get(NODE_OUTPUT, [])),
        attributes=tuple(
            _decode_attribute(chunk, f"{where}.attribute[{i}]")
            for i, chunk in enumerate(f.get(NODE_ATTRIBUTE, []))
        ),
        name=_one(f, NODE_NAME, ""),
        domain=_one(f, NODE_DOMAIN, ""),
    )


_ATTRIBUTE = {
    ATTR_NAME: (STRING, False),
    ATTR_F: (FLOAT, False),
    ATTR_I: (INT64, False),
    ATTR_S: (BYTES, False),
    ATTR_T: (MESSAGE, False),
    ATTR_FLOATS: (FLOAT, True),
    ATTR_INTS: (INT64, True),
    ATTR_TYPE: (INT64, False),
}


def _decode_attribute(data: memoryview, where: str) -> Attribute:
    f = _parse(data, _ATTRIBUTE, where)
    name = _one(f, ATTR_NAME, "")
    where = f"{where} {name!r}"
    present = [kind for kind, number in _ATTRIBUTE_FIELD.items() if number in f]
    if ATTR_TYPE in f:
        try:
            kind = AttributeType(f[ATTR_TYPE][0])
        except ValueError:
            code = f[ATTR_TYPE][0]
            raise NeuralModelError(f"{where}: attribute type {code} is not supported") from None
        if any(k is not kind for k in present):
            raise NeuralModelError(f"{where}: holds a value of another type than its own")
    elif len(present) == 1:
        kind = present[0]  # IR version 1 had no type field: the one value present says it
    else:
        raise NeuralModelError(f"{where}: no type, and not exactly one value to tell it by")
    number = _ATTRIBUTE_FIELD[kind]
    if kind is AttributeType.TENSOR:
        if number not in f:
            raise NeuralModelError(f"{where}: a tensor attribute without a tensor")
        value = _decode_tensor(f[number][0], f"{where}.t")
    elif kind in (AttributeType.FLOATS, AttributeType.INTS):
        value = tuple(f.get(number, []))
    else:
        # proto2 defaults, as onnxruntime reads an absent scalar.
        value = _one(f, number, {ATTR_F: 0.0, ATTR_I: 0, ATTR_S: b""}[number])
        value = bytes(value) if kind is AttributeType.STRING else value
    return Attribute(name, kind, value)


_TENSOR = {
    TENSOR_DIMS: (INT64, True),
    TENSOR_DATA_TYPE: (INT64, False),
    TENSOR_SEGMENT: (MESSAGE, False),
    TENSOR_FLOAT_DATA: (FLOAT, True),
    TENSOR_INT32_DATA: (INT64, True),
    TENSOR_INT64_DATA: (INT64, True),
    TENSOR_NAME: (STRING, False),
    TENSOR_RAW_DATA: (BYTES, False),
    TENSOR_EXTERNAL_DATA: (MESSAGE, True),
    TENSOR_DATA_LOCATION: (INT64, False),
}

# The typed field that may hold each data type's elements instead of raw_data.
_TYPED_FIELD = {
    DataType.FLOAT: TENSOR_FLOAT_DATA,
    DataType.UINT8: TENSOR_INT32_DATA,
    DataType.INT8: TENSOR_INT32_DATA,
    DataType.INT32: TENSOR_INT32_DATA,
    DataType.BOOL: TENSOR_INT32_DATA,
    DataType.INT64: TENSOR_INT64_DATA,
}


def _decode_tensor(data: memoryview, where: str) -> Tensor:
    f = _parse(data, _TENSOR, where)
    name = _one(f, TENSOR_NAME, "")
    where = f"{where} {name!r}" if name else where
    kind = _data_type(_one(f, TENSOR_DATA_TYPE, 0), where)
    if TENSOR_SEGMENT in f:
        raise NeuralModelError(f"{where}: segmented tensors are not supported")
    if TENSOR_EXTERNAL_DATA in f or _one(f, TENSOR_DATA_LOCATION, 0) != 0:
        raise NeuralModelError(f"{where}: data in an external file is not supported")
    dims = tuple(f.get(TENSOR_DIMS, []))
    if any(d < 0 for d in dims):
        raise NeuralModelError(f"{where}: negative dimension in {list(dims)}")
    count = math.prod(dims)  # a Python int: never allocated before it is checked
    sources = [n for n in (TENSOR_RAW_DATA, *set(_TYPED_FIELD.values())) if n in f]
    if len(sources) > 1:
        raise NeuralModelError(f"{where}: data in more than one field")
    dtype = kind.numpy
    if TENSOR_RAW_DATA in sources:
        raw = f[TENSOR_RAW_DATA][0]
        if len(raw) != count * dtype.itemsize:
            raise NeuralModelError(
                f"{where}: {len(raw)} bytes of data for {count} {kind.name} elements"
            )
        if kind is DataType.BOOL and count and np.frombuffer(raw, np.uint8).max() > 1:
            raise NeuralModelError(f"{where}: a bool byte that is neither 0 nor 1")
        array = np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype)
    elif sources:
        if sources[0] != _TYPED_FIELD[kind]:
            raise NeuralModelError(f"{where}: data in field {sources[0]}, wrong for {kind.name}")
        values = f[sources[0]]
        if len(values) != count:
            raise NeuralModelError(f"{where}: {len(values)} elements for shape {list(dims)}")
        array = _typed_array(values, kind, where)
    elif count == 0:
        array = np.zeros(0, dtype)
    else:
        raise NeuralModelError(f"{where}: no data for shape {list(dims)}")
    try:
        return Tensor(name, array.reshape(dims))
    except ValueError:  # more dimensions than numpy allows, or sizes past its index range
        raise NeuralModelError(f"{where}: numpy cannot hold shape {list(dims)}") from None


def _typed_array(values: list, kind: DataType, where: str) -> np.ndarray:
    dtype = kind.numpy
    if kind is DataType.FLOAT:
        return np.array(values, dtype=dtype)
    lo, hi = (0, 1) if kind is DataType.BOOL else (np.iinfo(dtype).min, np.iinfo(dtype).max)
    if any(not lo <= v <= hi for v in values):
        raise NeuralModelError(f"{where}: a value out of the range of {kind.name}")
    return np.array(values, dtype=dtype)


def _data_type(code: int, where: str) -> DataType:
    try:
        return DataType(code)
    except ValueError:
        raise NeuralModelError(f"{where}: element type {code} is not supported") from None


_VALUE_INFO = {VALUE_NAME: (STRING, False), VALUE_TYPE: (MESSAGE, False)}
_TYPE = {TYPE_TENSOR: (MESSAGE, False)}
_TENSOR_TYPE = {TENSOR_TYPE_ELEM_TYPE: (INT64, False), TENSOR_TYPE_SHAPE: (MESSAGE, False)}
_SHAPE = {SHAPE_DIM: (MESSAGE, True)}
_DIM = {DIM_VALUE: (INT64, False), DIM_PARAM: (STRING, False)}


def _decode_value_info(data: memoryview, where: str) -> ValueInfo:
    f = _parse(data, _VALUE_INFO, where)
    name = _one(f, VALUE_NAME, "")
    where = f"{where} {name!r}"
    if VALUE_TYPE not in f:
        raise NeuralModelError(f"{where}: no type")
    t = _parse(f[VALUE_TYPE][0], _TYPE, where)
    if TYPE_TENSOR not in t:
        raise NeuralModelError(f"{where}: not a tensor (sequences and maps are not supported)")
    tensor_type = _parse(t[TYPE_TENSOR][0], _TENSOR_TYPE, where)
    kind = _data_type(_one(tensor_type, TENSOR_TYPE_ELEM_TYPE, 0), where)
    shape = None
    if TENSOR_TYPE_SHAPE in tensor_type:
        dims = _parse(tensor_type[TENSOR_TYPE_SHAPE][0], _SHAPE, where).get(SHAPE_DIM, [])
        shape = tuple(_decode_dim(chunk, f"{where}: dim[{i}]") for i, chunk in enumerate(dims))
    return ValueInfo(name, kind, shape)


def _decode_dim(data: memoryview, where: str) -> Dim:
    f = _parse(data, _DIM, where)
    if DIM_VALUE in f and DIM_PARAM in f:
        raise NeuralModelError(f"{where}: both a size and a name")
    if DIM_VALUE in f:
        if f[DIM_VALUE][0] < 0:
            raise NeuralModelError(f"{where}: negative size {f[DIM_VALUE][0]}")
        return f[DIM_VALUE][0]
    return _one(f, DIM_PARAM, "")


def dims_of(shape: Sequence[Dim] | None) -> str:
    """A shape as people write it: [batch, 3], or ? for an unknown rank."""
    if shape is None:
        return "?"
    return "[" + ", ".join(str(d) if d != "" else "?" for d in shape) + "]"
