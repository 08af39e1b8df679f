"""The neural reranker's model layer: the ONNX protobuf subset, the numpy reference
interpreter, and onnxruntime checked against it.

onnxruntime computes float32 in its own kernels (other summation orders, approximations of
tanh, exp and the logistic), so float32 results are compared within RTOL and ATOL, and
rankings wherever two scores are further apart than that; integer and bool results, and
every shape and element type, must be equal. Tests that need onnxruntime skip when it is
not installed, and fail instead when KEYGLIDE_REQUIRE_NEURAL=1 (CI).
"""

from __future__ import annotations

import math
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from keyglide.errors import CorruptLangDB, EngineUnavailable, NeuralModelError
from keyglide.neural import reference, runtime
from keyglide.neural.graph import GraphBuilder
from keyglide.neural.proto import (
    Attribute,
    AttributeType,
    DataType,
    Graph,
    Model,
    Node,
    Tensor,
    ValueInfo,
    decode,
    encode,
)

RTOL = 1e-5
ATOL = 1e-5

F32, I64 = np.float32, np.int64
ORT_EXAMPLES = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def ort() -> None:
    """Skip, or with KEYGLIDE_REQUIRE_NEURAL=1 fail, unless onnxruntime can be used."""
    reason = runtime.check_onnxruntime()
    if reason is None:
        return
    if os.environ.get("KEYGLIDE_REQUIRE_NEURAL") == "1":
        pytest.fail(f"KEYGLIDE_REQUIRE_NEURAL=1 but {reason}")
    pytest.skip(reason)


# --- hand-written protobuf ------------------------------------------------------------------


def varint(value: int) -> bytes:
    value &= (1 << 64) - 1
    out = b""
    while value > 0x7F:
        out += bytes([value & 0x7F | 0x80])
        value >>= 7
    return out + bytes([value])


def key(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def vfield(number: int, value: int) -> bytes:
    return key(number, 0) + varint(value)


def lfield(number: int, payload: bytes | str) -> bytes:
    payload = payload.encode() if isinstance(payload, str) else payload
    return key(number, 2) + varint(len(payload)) + payload


def model_bytes(graph: bytes, opset: int = 17, ir: int = 8) -> bytes:
    return vfield(1, ir) + lfield(7, graph) + lfield(8, vfield(2, opset))


def tensor_type(elem: int, dims: list[int]) -> bytes:
    shape = b"".join(lfield(1, vfield(1, d)) for d in dims)
    return lfield(1, vfield(1, elem) + lfield(2, shape))


def value_info(name: str, elem: int, dims: list[int]) -> bytes:
    return lfield(1, name) + lfield(2, tensor_type(elem, dims))


def identity_graph(initializer: bytes = b"") -> bytes:
    """y = Identity(x) for a float x of shape [2], with an optional extra initializer."""
    node = lfield(1, "x") + lfield(2, "y") + lfield(4, "Identity")
    extra = lfield(5, initializer) if initializer else b""
    return (
        lfield(1, node)
        + extra
        + lfield(11, value_info("x", 1, [2]))
        + lfield(12, value_info("y", 1, [2]))
    )


# --- strategies -------------------------------------------------------------------------------

names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=8)
data_types = st.sampled_from(list(DataType))


@st.composite
def tensors(draw, name=names) -> Tensor:
    kind = draw(data_types)
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))
    return Tensor(draw(name), draw(hnp.arrays(kind.numpy, shape)))


floats32 = st.floats(width=32, allow_nan=False)
int64s = st.integers(-(1 << 63), (1 << 63) - 1)


@st.composite
def attributes(draw) -> Attribute:
    kind = draw(st.sampled_from(list(AttributeType)))
    value = {
        AttributeType.FLOAT: floats32,
        AttributeType.INT: int64s,
        AttributeType.STRING: st.binary(max_size=8),
        AttributeType.TENSOR: tensors(),
        AttributeType.FLOATS: st.lists(floats32, max_size=4),
        AttributeType.INTS: st.lists(int64s, max_size=4),
    }[kind]
    return Attribute(draw(names), kind, draw(value))


nodes = st.builds(
    Node,
    op_type=names,
    inputs=st.lists(names, max_size=3),
    outputs=st.lists(names, max_size=2),
    attributes=st.lists(attributes(), max_size=3),
    name=names,
    domain=st.sampled_from(["", "ai.onnx", "com.example"]),
)
dims = st.one_of(st.integers(0, 1 << 40), names)
value_infos = st.builds(
    ValueInfo, name=names, elem_type=data_types, shape=st.none() | st.lists(dims, max_size=4)
)
graphs = st.builds(
    Graph,
    nodes=st.lists(nodes, max_size=4),
    inputs=st.lists(value_infos, max_size=3),
    outputs=st.lists(value_infos, max_size=3),
    initializers=st.lists(tensors(), max_size=3),
    name=names,
)
models = st.builds(
    Model,
    graph=graphs,
    ir_version=int64s,
    opset_import=st.lists(st.tuples(names, int64s), max_size=3),
    producer_name=names,
    producer_version=names,
    doc_string=names,
)


def decodes_or_refuses(data: bytes) -> Model | None:
    try:
        return decode(data)
    except NeuralModelError:
        return None


# --- the protobuf subset ------------------------------------------------------------------


@given(models)
def test_models_round_trip_through_their_bytes(model):
    data = encode(model)
    assert decode(data) == model
    assert encode(decode(data)) == data


@given(tensors())
def test_tensors_keep_type_shape_and_every_bit(tensor):
    graph = Graph((), (), (), initializers=(tensor,))
    back = decode(encode(Model(graph, 8, (("", 17),)))).graph.initializers[0]
    assert back.array.dtype == tensor.array.dtype and back.array.shape == tensor.array.shape
    assert back.array.tobytes() == tensor.array.tobytes()  # NaN payloads and -0.0 included


def test_encoding_is_the_documented_bytes():
    """Field-number order, unpacked repeated numbers, little-endian raw_data."""
    tensor = Tensor("w", np.array([1.0, -2.0], np.float32))
    attribute = Attribute.of("perm", [1, -1])
    node = Node("Transpose", ["w"], ["t"], [attribute])
    graph = Graph([node], [], [ValueInfo("t", DataType.FLOAT, [2])], [tensor])
    expected_tensor = (
        vfield(1, 2) + vfield(2, 1) + lfield(8, "w") + lfield(9, struct.pack("<2f", 1, -2))
    )
    expected_attribute = lfield(1, "perm") + vfield(8, 1) + vfield(8, -1) + vfield(20, 7)
    expected_node = (
        lfield(1, "w") + lfield(2, "t") + lfield(4, "Transpose") + lfield(5, expected_attribute)
    )
    expected_graph = (
        lfield(1, expected_node)
        + lfield(5, expected_tensor)
        + lfield(12, lfield(1, "t") + lfield(2, tensor_type(1, [2])))
    )
    model = Model(graph, 8, [("", 17)], producer_name="kg")
    assert encode(model) == vfield(1, 8) + lfield(2, "kg") + lfield(7, expected_graph) + lfield(
        8, vfield(2, 17)
    )


@given(st.binary(max_size=400))
def test_arbitrary_bytes_decode_or_raise_neural_model_error(data):
    decodes_or_refuses(data)


@given(models, st.data())
def test_mutated_encodings_decode_or_raise_neural_model_error(model, data):
    encoded = bytearray(encode(model))
    for _ in range(data.draw(st.integers(1, 4))):
        action = data.draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        at = data.draw(st.integers(0, len(encoded)))
        if action == "flip" and at < len(encoded):
            encoded[at] ^= data.draw(st.integers(1, 255))
        elif action == "insert":
            encoded[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del encoded[at : at + data.draw(st.integers(1, 4))]
        else:
            del encoded[at:]
    decodes_or_refuses(bytes(encoded))


def test_every_truncation_of_a_real_model_is_refused_or_decodes():
    data = mlp_model(np.random.default_rng(0), vocab=12, width=4, context=3, hidden=5)
    for end in range(len(data)):
        decodes_or_refuses(data[:end])
    # Cutting inside the graph (field 7, after the IR version and producer) always leaves
    # it shorter than its length says.
    model = decode(data)
    head = vfield(1, 8) + lfield(2, model.producer_name) + lfield(3, model.producer_version)
    assert data.startswith(head + key(7, 2))
    graph = len(head) + 1 + len(varint(len(encode(model)) - len(head)))  # an upper bound
    for end in range(graph, len(data) - 4):  # the opset_import field is 4 bytes
        with pytest.raises(NeuralModelError, match="claims"):
            decode(data[:end])


def test_neural_model_error_is_a_corrupt_langdb():
    assert issubclass(NeuralModelError, CorruptLangDB)


@pytest.mark.parametrize(
    "data, match",
    [
        (key(1, 3), "wire type 3"),  # a group
        (key(1, 4), "wire type 4"),
        (key(7, 2) + varint(5) + b"abc", "claims 5 bytes, 3 remain"),
        (key(1, 0) + b"\xff" * 11, "longer than ten bytes"),
        (key(1, 0) + b"\xff" * 9 + b"\x7f", "larger than 64 bits"),
        (key(1, 0), "end inside a varint"),
        (key(1, 5) + b"\x00", "end inside"),
        (key(0, 0) + b"\x00", "field number 0"),
        (lfield(2, b"\xff\xfe"), "not UTF-8"),
        (lfield(1, b"x"), "field 1 has wire type 2, expected 0"),
        (vfield(1, 8) + vfield(1, 8) + lfield(7, b""), "appears more than once"),
        (vfield(1, 8), "no graph"),
        (b"\x80", "end inside a varint"),
    ],
)
def test_malformed_wire_bytes_are_refused(data, match):
    with pytest.raises(NeuralModelError, match=match):
        decode(data)


def test_unknown_fields_of_every_wire_type_are_skipped():
    plain = decode(model_bytes(identity_graph()))
    unknown = vfield(99, 5) + key(98, 1) + b"8 bytes!" + lfield(97, b"xyz") + key(96, 5) + b"4byt"
    graph = identity_graph() + unknown
    assert decode(model_bytes(graph) + unknown) == plain
    # And a real producer's extras: doc strings, value_info, metadata_props.
    extras = lfield(6, "doc") + lfield(14, lfield(1, "k") + lfield(2, "v"))
    graph = identity_graph() + lfield(10, "graph doc") + lfield(13, value_info("h", 1, []))
    assert decode(model_bytes(graph) + extras) == Model(
        plain.graph, 8, [("", 17)], doc_string="doc"
    )


def tensor_bytes(dims: list[int], data_type: int, *data: bytes) -> bytes:
    return b"".join(vfield(1, d) for d in dims) + vfield(2, data_type) + b"".join(data)


def decode_tensor(proto: bytes) -> Tensor:
    return decode(model_bytes(identity_graph(proto + lfield(8, "w")))).graph.initializers[0]


def test_typed_data_fields_packed_or_not_decode():
    packed = lfield(4, struct.pack("<3f", 1.5, -2, 0))
    unpacked = b"".join(key(4, 5) + struct.pack("<f", v) for v in (1.5, -2, 0))
    for data in (packed, unpacked):
        t = decode_tensor(tensor_bytes([3], 1, data))
        assert t.array.tolist() == [1.5, -2, 0] and t.array.dtype == np.float32
    ints = lfield(7, varint(5) + varint(-7))
    assert decode_tensor(tensor_bytes([2], 7, ints)).array.tolist() == [5, -7]
    int8s = b"".join(vfield(5, v) for v in (-128, 127))
    assert decode_tensor(tensor_bytes([2], 3, int8s)).array.tolist() == [-128, 127]
    assert decode_tensor(tensor_bytes([0, 3], 1)).array.shape == (0, 3)


@pytest.mark.parametrize(
    "proto, match",
    [
        (tensor_bytes([2], 1, lfield(9, b"\0" * 7)), "7 bytes of data for 2 FLOAT"),
        (tensor_bytes([2], 10, lfield(9, b"\0" * 4)), "element type 10"),
        (tensor_bytes([-1], 1, lfield(9, b"")), "negative dimension"),
        (tensor_bytes([1 << 62, 1 << 62], 1, lfield(9, b"")), "bytes of data for"),
        (tensor_bytes([2], 9, lfield(9, b"\x00\x02")), "neither 0 nor 1"),
        (tensor_bytes([2], 3, vfield(5, 1), vfield(5, 200)), "out of the range of INT8"),
        (tensor_bytes([2], 7, vfield(5, 1), vfield(5, 2)), "field 5, wrong for INT64"),
        (tensor_bytes([3], 7, vfield(7, 1)), "1 elements for shape"),
        (tensor_bytes([1], 1, lfield(9, b"\0" * 4), lfield(4, b"\0" * 4)), "more than one"),
        (tensor_bytes([1], 1, lfield(13, lfield(1, "location"))), "external"),
        (tensor_bytes([1], 1, vfield(14, 1)), "external"),
        (tensor_bytes([3], 1), "no data"),
        (tensor_bytes([0] + [1] * 70, 1), "numpy cannot hold"),
    ],
)
def test_bad_tensors_are_refused(proto, match):
    with pytest.raises(NeuralModelError, match=match):
        decode_tensor(proto)


def attribute_bytes(*fields: bytes) -> bytes:
    node = lfield(1, "x") + lfield(2, "y") + lfield(4, "Identity") + lfield(5, b"".join(fields))
    return model_bytes(lfield(1, node))


def test_attributes_decode_by_their_type_or_by_their_one_value():
    def attribute(*fields: bytes) -> Attribute:
        return decode(attribute_bytes(lfield(1, "a"), *fields)).graph.nodes[0].attributes[0]

    assert attribute(vfield(3, -3), vfield(20, 2)) == Attribute("a", AttributeType.INT, -3)
    assert attribute(vfield(3, 4)) == Attribute("a", AttributeType.INT, 4)  # IR version 1
    assert attribute(lfield(8, varint(1) + varint(2)), vfield(20, 7)).value == (1, 2)  # packed
    assert attribute(vfield(20, 6)).value == ()
    assert attribute(vfield(20, 1)).value == 0.0  # proto2's default, as onnxruntime reads it
    for fields, match in [
        ((vfield(20, 5),), "attribute type 5"),
        ((vfield(3, 1), vfield(20, 1)), "another type"),
        ((vfield(3, 1), key(2, 5) + b"\0\0\0\0"), "not exactly one"),
        ((vfield(20, 4),), "without a tensor"),
    ]:
        with pytest.raises(NeuralModelError, match=match):
            attribute(*fields)


def test_value_infos_are_tensors_with_a_supported_type():
    def graph_input(type_proto: bytes) -> bytes:
        return model_bytes(lfield(11, lfield(1, "x") + type_proto))

    assert decode(graph_input(lfield(2, lfield(1, vfield(1, 7))))).graph.inputs == (
        ValueInfo("x", DataType.INT64, None),
    )
    sized = lfield(
        2, lfield(1, vfield(1, 1) + lfield(2, lfield(1, b"") + lfield(1, lfield(2, "n"))))
    )
    assert decode(graph_input(sized)).graph.inputs[0].shape == ("", "n")
    for type_proto, match in [
        (b"", "no type"),
        (lfield(2, lfield(4, b"")), "not a tensor"),
        (lfield(2, lfield(1, vfield(1, 11))), "element type 11"),
        (lfield(2, lfield(1, vfield(1, 1) + lfield(2, lfield(1, vfield(1, -2))))), "negative"),
        (
            lfield(
                2, lfield(1, vfield(1, 1) + lfield(2, lfield(1, vfield(1, 2) + lfield(2, "n"))))
            ),
            "both",
        ),
    ]:
        with pytest.raises(NeuralModelError, match=match):
            decode(graph_input(type_proto))


def test_tensors_hold_read_only_native_copies():
    source = np.array([1, 2], dtype=">i8")
    tensor = Tensor("t", source)
    source[0] = 9
    assert tensor.array.dtype == np.int64 and tensor.array.tolist() == [1, 2]
    assert not tensor.array.flags.writeable
    with pytest.raises(ValueError):
        Tensor("t", np.array([1.0], np.float64))


# --- the graph builder ------------------------------------------------------------------------


def test_the_builder_is_deterministic_and_refuses_what_the_reference_refuses():
    first = mlp_model(np.random.default_rng(1), vocab=9, width=3, context=2, hidden=4)
    again = mlp_model(np.random.default_rng(1), vocab=9, width=3, context=2, hidden=4)
    assert first == again
    model = decode(first)
    assert (model.ir_version, model.opset(), model.producer_name) == (8, 17, "keyglide")
    b = GraphBuilder()
    b.input("x", np.float32, [2])
    assert b.node("Softmax", ["x"], "y") == "y"
    b.output("y", np.float32, [2])
    with pytest.raises(NeuralModelError, match="not an operator keyglide runs"):
        b.model()
    assert decode(b.model(check=False)).graph.nodes[0].op_type == "Softmax"


# --- the reference interpreter, by hand -------------------------------------------------------


def run_op(op: str, inputs: list, out_dtype=F32, **attrs) -> np.ndarray:
    """One node applied to ``inputs`` (None for an absent optional input), all fed."""
    b = GraphBuilder()
    names = []
    feeds = {}
    for i, value in enumerate(inputs):
        if value is None:
            names.append("")
            continue
        value = np.asarray(value)
        names.append(b.input(f"in{i}", value.dtype, value.shape))
        feeds[f"in{i}"] = value
    b.output(b.node(op, names, "out", **attrs), out_dtype, None)
    result = reference.run(b.model(), feeds)["out"]
    assert result.dtype == np.dtype(out_dtype)
    return result


def a(values, dtype=F32) -> np.ndarray:
    return np.array(values, dtype=dtype)


INF, NAN = math.inf, math.nan

HAND_CASES = [
    ("Gather", [a([[1, 2], [3, 4], [5, 6]]), a([[0, 2]], I64)], {}, a([[[1, 2], [5, 6]]])),
    ("Gather", [a([[1, 2], [3, 4]]), a([-1], np.int32)], {"axis": 1}, a([[2], [4]])),
    ("Gather", [a([[1, 2], [3, 4]]), a(1, I64)], {}, a([3, 4])),
    ("MatMul", [a([[1, 2], [3, 4]]), a([[5], [6]])], {}, a([[17], [39]])),
    ("MatMul", [a([1, 2, 3], I64), a([4, 5, 6], I64)], {}, a(32, I64)),
    ("MatMul", [a([[[1, 0], [0, 1]]] * 2), a([[2], [3]])], {}, a([[[2], [3]]] * 2)),
    (
        "Gemm",
        [a([[1, 2], [3, 4]]), a([[1, 0], [1, 1]]), a([10, 20])],
        {"alpha": 2.0, "beta": 0.5, "transB": 1},
        a([[2 * 1 + 5, 2 * 3 + 10], [2 * 3 + 5, 2 * 7 + 10]]),
    ),
    ("Gemm", [a([[1, 2]]), a([[3], [4]]), None], {"transA": 1, "transB": 1}, a([[3, 4], [6, 8]])),
    (
        "Add",
        [a([[1], [2]], np.int32), a([10, 20], np.int32)],
        {},
        a([[11, 21], [12, 22]], np.int32),
    ),
    ("Sub", [a([-(2**63)], I64), a([1], I64)], {}, a([2**63 - 1], I64)),  # wraps, as in C
    ("Mul", [a([1.5, -2]), a(2)], {}, a([3, -4])),
    ("Div", [a([1, -1, 0, 3]), a([0, 0, 0, 2])], {}, a([INF, -INF, NAN, 1.5])),
    ("Tanh", [a([0, 50, -50])], {}, a([0, 1, -1])),
    ("Relu", [a([-1, 0, 2])], {}, a([0, 0, 2])),
    ("Sigmoid", [a([0, 200, -200])], {}, a([0.5, 1, 0])),
    ("Exp", [a([0, 1, 200])], {}, a([1, math.e, INF])),
    ("Log", [a([1, math.e, 0])], {}, a([0, 1, -INF])),
    ("Concat", [a([[1], [2]]), a([[3, 4], [5, 6]])], {"axis": -1}, a([[1, 3, 4], [2, 5, 6]])),
    (
        "Reshape",
        [np.arange(6, dtype=F32).reshape(2, 3), a([0, -1], I64)],
        {},
        a([[0, 1, 2], [3, 4, 5]]),
    ),
    ("Reshape", [np.arange(6, dtype=F32), a([3, -1], I64)], {}, a([[0, 1], [2, 3], [4, 5]])),
    ("Reshape", [np.zeros((0, 3), F32), a([3, 0], I64)], {"allowzero": 1}, np.zeros((3, 0), F32)),
    ("Flatten", [np.zeros((2, 3, 4), F32)], {"axis": -1}, np.zeros((6, 4), F32)),
    ("Flatten", [np.zeros((2, 3, 4), F32)], {"axis": 0}, np.zeros((1, 24), F32)),
    ("Flatten", [np.zeros((2, 3), F32)], {"axis": 2}, np.zeros((6, 1), F32)),
    ("Unsqueeze", [a([1, 2, 3]), a([0, -1], I64)], {}, a([[[1], [2], [3]]])),
    ("Squeeze", [a([[[1], [2]]])], {}, a([1, 2])),
    ("Squeeze", [a([[[1], [2]]]), a([-1], I64)], {}, a([[1, 2]])),
    ("ReduceSum", [a([[1, 2], [3, 4]]), a([1], I64)], {"keepdims": 0}, a([3, 7])),
    ("ReduceSum", [a([[1, 2], [3, 4]])], {}, a([[10]])),
    (
        "ReduceSum",
        [a([[1, 2], [3, 4]]), a([], I64)],
        {"noop_with_empty_axes": 1},
        a([[1, 2], [3, 4]]),
    ),
    ("ReduceSum", [a([2**31 - 1, 1], np.int32), None], {"keepdims": 0}, a(-(2**31), np.int32)),
    ("ReduceMean", [a([[1, 2], [3, 4]])], {"axes": [0]}, a([[2, 3]])),
    ("ReduceMean", [a([[1, 2], [3, 4]])], {"keepdims": 0}, a(2.5)),
    ("ReduceMax", [a([[-1, -5], [3, -4]])], {"axes": [1], "keepdims": 0}, a([-1, 3])),
    ("ReduceMax", [a([[-1, -5], [3, -4]])], {}, a([[3]])),
    ("Equal", [a([[1], [2]], I64), a([1, 2], I64)], {}, a([[True, False], [False, True]], bool)),
    ("Cast", [a([1.7, -1.7, 0.5])], {"to": DataType.INT64}, a([1, -1, 0], I64)),
    ("Cast", [a([True, False])], {"to": DataType.FLOAT}, a([1, 0])),
    ("Cast", [a([300, -1], I64)], {"to": DataType.UINT8}, a([44, 255], np.uint8)),
    ("Cast", [a([0, -0.5, 2])], {"to": DataType.BOOL}, a([False, True, True], bool)),
    ("Where", [a([[True], [False]], bool), a([1, 2]), a([[9]])], {}, a([[1, 2], [9, 9]])),
    ("Clip", [a([-2, 0.5, 3]), a(0), a(1)], {}, a([0, 0.5, 1])),
    ("Clip", [a([-2, 5], I64), None, a(1, I64)], {}, a([-2, 1], I64)),
    ("Clip", [a([-2, 5], np.int8)], {}, a([-2, 5], np.int8)),
    ("Identity", [a([[1, 2]], np.uint8)], {}, a([[1, 2]], np.uint8)),
    ("Shape", [np.zeros((2, 3, 4), F32)], {}, a([2, 3, 4], I64)),
    ("Shape", [np.zeros((2, 3, 4), F32)], {"start": 1}, a([3, 4], I64)),
    ("Shape", [np.zeros((2, 3, 4), F32)], {"start": -10, "end": -1}, a([2, 3], I64)),
    ("Shape", [np.zeros((), F32)], {}, a([], I64)),
    ("Transpose", [a([[1, 2, 3]])], {}, a([[1], [2], [3]])),
    (
        "Transpose",
        [np.arange(6, dtype=I64).reshape(1, 2, 3)],
        {"perm": [1, 0, 2]},
        a([[[0, 1, 2]], [[3, 4, 5]]], I64),
    ),
]


@pytest.mark.parametrize(
    "op, inputs, attrs, expected",
    HAND_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(HAND_CASES)],
)
def test_each_operator_against_hand_computed_results(op, inputs, attrs, expected):
    result = run_op(op, inputs, expected.dtype, **attrs)
    assert result.shape == expected.shape
    np.testing.assert_allclose(result, expected, rtol=1e-6)


GROWING = {"Add", "Sub", "Mul", "Div", "Equal", "Where", "MatMul", "Gemm", "Gather", "Concat"}


@pytest.mark.parametrize(
    "op, inputs, attrs, expected",
    HAND_CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(HAND_CASES)],
)
def test_output_sizes_are_known_before_computing(op, inputs, attrs, expected):
    """The size guard: exact for the operators whose output can outgrow their inputs, an
    upper bound (the largest input) for the others."""
    defaults = {name: default for name, (_, default) in reference.OPS[op].attributes.items()}
    size = reference._output_size(op, list(inputs), {**defaults, **attrs})
    if op in GROWING:
        assert size == expected.size
    else:
        assert size >= expected.size


def test_a_node_too_large_is_refused_before_it_is_computed():
    rows, columns = np.zeros((5000, 1), F32), np.zeros((1, 5000), F32)  # 25M elements
    for op, inputs in (
        ("Add", [rows, columns]),
        ("MatMul", [rows, columns]),
        ("Gather", [np.zeros((2, 5000), F32), np.zeros(5000, I64)]),
    ):
        with pytest.raises(NeuralModelError, match="would make a tensor of 25,000,000"):
            run_op(op, inputs, F32)


def test_every_operator_has_a_hand_computed_case():
    assert {c[0] for c in HAND_CASES} == set(reference.OPS)


@pytest.mark.parametrize(
    "op, inputs, attrs, match",
    [
        ("Gather", [a([1, 2]), a([2], I64)], {}, "out of range"),
        ("Gather", [a(1), a(0, I64)], {}, "axis 0 is out of range for rank 0"),
        ("Reshape", [a([1, 2, 3]), a([2, -1], I64)], {}, "cannot reshape"),
        ("Reshape", [a([1, 2]), a([-1, -1], I64)], {}, "at most one -1"),
        ("MatMul", [a([[1, 2]]), a([[1, 2]])], {}, "matmul"),
        ("Add", [a([1, 2]), a([1, 2, 3])], {}, "broadcast"),
        ("Add", [a([1, 2]), a([1, 2], I64)], {}, "input 1 is int64, not float32"),
        ("Tanh", [a([1], I64)], {}, "expected one of float32"),
        ("Div", [a([1], I64), a([1], I64)], {}, "expected one of float32"),
        ("Concat", [a([1]), a([[1]])], {"axis": 0}, "ranks"),
        ("Squeeze", [a([[1, 2]]), a([1], I64)], {}, "cannot squeeze"),
        ("Unsqueeze", [a([1]), a([0, 0], I64)], {}, "repeat an axis"),
        ("Unsqueeze", [a([1]), a(0, I64)], {}, "1-D"),
        ("Transpose", [a([[1]])], {"perm": [0, 0]}, "not a permutation"),
        ("Clip", [a([1]), a([0])], {}, "scalars"),
        ("Gemm", [a([1, 2]), a([[1], [2]])], {}, "not matrices"),
        ("Gemm", [a([[1, 2]]), a([[1], [2]]), a([1, 2, 3])], {}, "broadcast"),
        ("Where", [a([True], bool), a([1]), a([1], I64)], {}, "input 2 is int64"),
        ("Flatten", [a([1])], {"axis": 2}, "axis 2 is out of range"),
        ("ReduceSum", [a([1]), a([1], I64)], {}, "axes entry 1 is out of range"),
    ],
)
def test_operators_refuse_bad_values_with_neural_model_error(op, inputs, attrs, match):
    with pytest.raises(NeuralModelError, match=match):
        run_op(op, inputs, **attrs)


def tanh_model(**changes) -> Model:
    """y = Tanh(x + w), x float [2]; ``changes`` replace Model or Graph fields."""
    graph = Graph(
        nodes=[Node("Add", ["x", "w"], ["s"]), Node("Tanh", ["s"], ["y"])],
        inputs=[ValueInfo("x", DataType.FLOAT, [2])],
        outputs=[ValueInfo("y", DataType.FLOAT, ["n"])],
        initializers=[Tensor("w", a([0.5, -0.5]))],
    )
    model_fields = {"ir_version", "opset_import"}
    graph = Graph(
        **{**graph.__dict__, **{k: v for k, v in changes.items() if k not in model_fields}}
    )
    model = {"graph": graph, "ir_version": 8, "opset_import": [("", 17)]}
    return Model(**{**model, **{k: v for k, v in changes.items() if k in model_fields}})


X = {"x": a([1, 2])}

MALFORMED_GRAPHS = {
    "unknown op": tanh_model(nodes=[Node("Add", ["x", "w"], ["s"]), Node("Tanhh", ["s"], ["y"])]),
    "dangling input": tanh_model(
        nodes=[Node("Add", ["x", "v"], ["s"]), Node("Tanh", ["s"], ["y"])]
    ),
    "unknown attribute": tanh_model(
        nodes=[
            Node("Add", ["x", "w"], ["s"]),
            Node("Tanh", ["s"], ["y"], [Attribute.of("axis", 1)]),
        ]
    ),
    "attribute of the wrong type": tanh_model(
        nodes=[
            Node("Add", ["x", "w"], ["s"]),
            Node("Gemm", ["s", "s"], ["y"], [Attribute.of("alpha", 1)]),
        ]
    ),
    "missing attribute": tanh_model(
        nodes=[Node("Add", ["x", "w"], ["s"]), Node("Concat", ["s"], ["y"])]
    ),
    "too many inputs": tanh_model(
        nodes=[Node("Add", ["x", "w", "x"], ["s"]), Node("Tanh", ["s"], ["y"])]
    ),
    "value defined twice": tanh_model(
        nodes=[Node("Add", ["x", "w"], ["x"]), Node("Tanh", ["x"], ["y"])]
    ),
    "output not computed": tanh_model(outputs=[ValueInfo("z", DataType.FLOAT, [2])]),
}
REFERENCE_ONLY = {  # onnxruntime accepts these; keyglide's reference does not
    "unsorted nodes": tanh_model(
        nodes=[Node("Tanh", ["s"], ["y"]), Node("Add", ["x", "w"], ["s"])]
    ),
    "another domain": tanh_model(
        nodes=[Node("Add", ["x", "w"], ["s"]), Node("Tanh", ["s"], ["y"], domain="com.example")]
    ),
    "opset 13": tanh_model(opset_import=[("", 13)]),
    "no opset": tanh_model(opset_import=[]),
    "duplicate initializers": tanh_model(
        initializers=[Tensor("w", a([0, 0])), Tensor("w", a([1, 1]))]
    ),
    "unsupported Cast target": tanh_model(
        nodes=[Node("Add", ["x", "w"], ["s"]), Node("Cast", ["s"], ["y"], [Attribute.of("to", 11)])]
    ),
}
BAD_FEEDS = {
    "wrong element type": {"x": a([1, 2], I64)},
    "wrong rank": {"x": a([[1, 2]])},
    "wrong size": {"x": a([1, 2, 3])},
    "missing input": {},
    "unknown input": {"x": a([1, 2]), "z": a([1, 2])},
}


def test_a_well_formed_graph_runs():
    np.testing.assert_allclose(
        reference.run(tanh_model(), X)["y"], np.tanh(a([1.5, 1.5])), rtol=1e-6
    )
    # An input named like an initializer overrides it when fed (IR version 4 and later).
    model = tanh_model(
        inputs=[ValueInfo("x", DataType.FLOAT, [2]), ValueInfo("w", DataType.FLOAT, [2])]
    )
    np.testing.assert_allclose(reference.run(model, X)["y"], np.tanh(a([1.5, 1.5])), rtol=1e-6)
    np.testing.assert_allclose(
        reference.run(model, {**X, "w": a([0, 0])})["y"], np.tanh(a([1, 2])), rtol=1e-6
    )


@pytest.mark.parametrize("case", sorted({**MALFORMED_GRAPHS, **REFERENCE_ONLY}))
def test_the_reference_refuses_malformed_graphs(case):
    model = {**MALFORMED_GRAPHS, **REFERENCE_ONLY}[case]
    with pytest.raises(NeuralModelError):
        reference.check(model)
    with pytest.raises(NeuralModelError):
        reference.run(encode(model), X)


@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
def test_the_reference_refuses_bad_feeds(case):
    with pytest.raises(NeuralModelError):
        reference.run(tanh_model(), BAD_FEEDS[case])


def test_a_declared_output_type_must_match():
    model = tanh_model(outputs=[ValueInfo("y", DataType.INT64, [2])])
    with pytest.raises(NeuralModelError, match="declared INT64"):
        reference.run(model, X)


def test_outputs_are_the_callers_to_keep():
    model = tanh_model(nodes=[Node("Identity", ["w"], ["y"])])
    reference.run(model, X)["y"][0] = 7
    assert reference.run(model, X)["y"][0] == 0.5


# --- onnxruntime ------------------------------------------------------------------------------


def test_check_onnxruntime_reports_what_is_missing(monkeypatch):
    monkeypatch.setattr(runtime, "onnxruntime_version", lambda: None)
    assert "not installed" in runtime.check_onnxruntime("1.0")
    monkeypatch.setattr(runtime, "onnxruntime_version", lambda: "1.19.2")
    assert runtime.check_onnxruntime("1.19") is None
    assert "1.19.2 is installed; 1.20 or newer" in runtime.check_onnxruntime("1.20")
    assert "cannot compare" in runtime.check_onnxruntime("not a version")
    with pytest.raises(EngineUnavailable, match="1.20 or newer"):
        runtime.Session(encode(tanh_model()), minimum="1.20")


def test_onnxruntime_is_not_imported_to_check_it():
    code = (
        "import sys, keyglide; from keyglide.neural import runtime; runtime.check_onnxruntime();"
        "assert 'onnxruntime' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_check_onnxruntime_against_the_installed_release(ort):
    import onnxruntime

    installed = runtime.onnxruntime_version()
    assert installed == onnxruntime.__version__
    assert runtime.check_onnxruntime(installed) is None
    assert f"onnxruntime {installed} is installed; 999 or newer" in runtime.check_onnxruntime("999")


def test_sessions_run_on_one_cpu_thread(ort):
    session = runtime.Session(tanh_model())  # a Model, or its bytes
    np.testing.assert_allclose(session.run(X)["y"], reference.run(tanh_model(), X)["y"])
    options = session._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert session._session.get_providers() == ["CPUExecutionProvider"]
    assert session.input_names == ("x",) and session.output_names == ("y",)


@pytest.mark.parametrize("check", [True, False], ids=["checked", "onnxruntime-only"])
@pytest.mark.parametrize("case", sorted(MALFORMED_GRAPHS))
def test_sessions_refuse_malformed_graphs(ort, case, check):
    with pytest.raises(NeuralModelError):
        runtime.Session(encode(MALFORMED_GRAPHS[case]), check=check).run(X)


@pytest.mark.parametrize("check", [True, False], ids=["checked", "onnxruntime-only"])
@pytest.mark.parametrize("case", sorted(BAD_FEEDS))
def test_sessions_refuse_bad_feeds(ort, case, check):
    session = runtime.Session(encode(tanh_model()), check=check)
    with pytest.raises(NeuralModelError):
        session.run(BAD_FEEDS[case])


def test_onnxruntime_errors_keep_their_message(ort):
    with pytest.raises(NeuralModelError, match="onnxruntime cannot load.*Tanhh"):
        runtime.Session(encode(MALFORMED_GRAPHS["unknown op"]), check=False)
    with pytest.raises(NeuralModelError, match="onnxruntime failed to run.*(index|indices)"):
        b = GraphBuilder()
        b.input("i", I64, [1])
        b.output(b.node("Gather", [b.initializer("t", a([1, 2])), "i"], "y"), F32, [1])
        runtime.Session(b.model(), check=False).run({"i": a([5], I64)})
    with pytest.raises(NeuralModelError, match="onnxruntime cannot load"):
        runtime.Session(b"\x08\x08garbage", check=False)


def values(rng: np.random.Generator, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return rng.normal(size=shape).astype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) < 0.5
    lo = 0 if dtype == np.uint8 else -5
    return rng.integers(lo, 6, size=shape).astype(dtype)


def type_cases() -> list[tuple[str, np.dtype, list[np.ndarray | None], dict]]:
    """A case for every operator and every element type the reference lets it take."""
    rng = np.random.default_rng(17)
    cases = []

    def add(op, t, inputs, **attrs):
        cases.append((op, np.dtype(t), inputs, attrs))

    for t in sorted(reference.ANY, key=str):
        add("Gather", t, [values(rng, t, (4, 3)), a([[0, -1], [2, 3]], I64)], axis=0)
        add("Concat", t, [values(rng, t, (2, 1)), values(rng, t, (2, 3))], axis=1)
        add("Reshape", t, [values(rng, t, (2, 3)), a([3, -1], I64)])
        add("Flatten", t, [values(rng, t, (2, 3, 2))], axis=2)
        add("Unsqueeze", t, [values(rng, t, (2, 3)), a([0, 3], I64)])
        add("Squeeze", t, [values(rng, t, (2, 1, 3)), a([1], I64)])
        if t in reference.OPS["Where"].types["T"]:
            cond = values(rng, np.bool_, (2, 1))
            add("Where", t, [cond, values(rng, t, (3,)), values(rng, t, (2, 3))])
        add("Identity", t, [values(rng, t, (2, 3))])
        add("Shape", t, [values(rng, t, (2, 3, 4))], start=1)
        add("Transpose", t, [values(rng, t, (2, 3, 4))], perm=[2, 0, 1])
        for to in DataType:
            # Values every type holds: small non-negative numbers (out of range is undefined).
            source = rng.integers(0, 4, (2, 3)).astype(t)
            if t == np.float32:
                source += np.float32(0.5)
            add("Cast", t, [source], to=int(to))
    add("Gather", np.int32, [values(rng, F32, (4, 3)), a([[1, -2]], np.int32)], axis=1)
    for t in sorted(reference.NUMERIC, key=str):
        for op in ("Add", "Sub", "Mul"):
            add(op, t, [values(rng, t, (2, 3)), values(rng, t, (3,))])
        add("MatMul", t, [values(rng, t, (2, 1, 3)), values(rng, t, (3, 4))])
        add("ReduceSum", t, [values(rng, t, (2, 3, 4)), a([0, -1], I64)], keepdims=0)
    for t in sorted(reference.OPS["Equal"].types["T"], key=str):
        add("Equal", t, [values(rng, t, (2, 3)), values(rng, t, (3,))])
    for t in sorted(reference.OPS["Clip"].types["T"], key=str):
        add("Clip", t, [values(rng, t, (2, 3)), np.array(1, t), np.array(3, t)])
    add("Div", F32, [values(rng, F32, (2, 3)), values(rng, F32, (3,)) + 3])
    for op in ("Tanh", "Relu", "Sigmoid", "Exp"):
        add(op, F32, [values(rng, F32, (2, 3))])
    add("Log", F32, [np.abs(values(rng, F32, (2, 3))) + 0.1])
    add(
        "Gemm",
        F32,
        [values(rng, F32, (3, 2)), values(rng, F32, (4, 3)), values(rng, F32, (1, 4))],
        alpha=0.5,
        beta=2.0,
        transA=1,
        transB=1,
    )
    add("ReduceMean", F32, [values(rng, F32, (2, 3, 4))], axes=[1], keepdims=1)
    add("ReduceMax", F32, [values(rng, F32, (2, 3, 4))], axes=[0, -1], keepdims=0)
    return cases


TYPE_CASES = type_cases()


def assert_agree(expected: np.ndarray, got: np.ndarray) -> None:
    assert got.dtype == expected.dtype and got.shape == expected.shape
    if expected.dtype == np.float32:
        np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(
    "op, dtype, inputs, attrs",
    TYPE_CASES,
    ids=[
        f"{op}-{t}" + (f"-to{attrs['to']}" if "to" in attrs else "")
        for op, t, _, attrs in TYPE_CASES
    ],
)
def test_onnxruntime_runs_every_operator_and_type_the_reference_allows(
    ort, op, dtype, inputs, attrs
):
    b = GraphBuilder()
    feeds = {f"in{i}": value for i, value in enumerate(inputs)}
    names = [b.input(name, value.dtype, value.shape) for name, value in feeds.items()]
    b.output(b.node(op, names, "out", **attrs), output_type(op, inputs, attrs), None)
    data = b.model()
    expected = reference.run(data, feeds)["out"]
    assert_agree(expected, runtime.Session(data).run(feeds)["out"])


def output_type(op: str, inputs: list[np.ndarray], attrs: dict) -> np.dtype:
    if op == "Cast":
        return DataType(attrs["to"]).numpy
    return {"Equal": np.dtype(bool), "Shape": np.dtype(I64)}.get(op, inputs[op == "Where"].dtype)


def test_every_allowed_operator_and_type_has_an_onnxruntime_case():
    covered = {(op, t) for op, t, _, _ in TYPE_CASES}
    for name, op in reference.OPS.items():
        for t in op.types["T"]:  # the data's type; indices and axes are int64 or int32
            assert (name, t) in covered, (name, t)


# --- onnxruntime against the reference on generated graphs ------------------------------------


def mlp_model(
    rng: np.random.Generator,
    vocab: int,
    width: int,
    context: int,
    hidden: int,
    activation: str = "Tanh",
    trans_b: bool = False,
    alpha: float = 1.0,
) -> bytes:
    """A reranker-shaped graph with random weights. Inputs: ``context`` int64 [1, C] of ids
    (``vocab`` pads), ``candidates`` int64 [1, L], ``ngram`` float32 [1, L]; output
    ``adjust`` float32 [1, L]: the candidates' embeddings dotted with an MLP of the context's
    embeddings and the mean of the non-padding ones, plus log(1 + count of padding) and a
    quarter of ``ngram``."""
    b = GraphBuilder("reranker")
    b.input("context", I64, [1, context])
    b.input("candidates", I64, [1, "L"])
    b.input("ngram", F32, [1, "L"])

    def weights(*shape: int) -> np.ndarray:
        return (rng.normal(size=shape) / math.sqrt(shape[0])).astype(F32)

    table = b.initializer("embedding", weights(vocab + 1, width))
    ctx = b.node("Gather", [table, "context"], "ctx")  # [1, C, E]
    flat = b.node("Flatten", [ctx], "flat", axis=1)  # [1, C*E]
    pad = b.node("Equal", ["context", b.initializer("pad", np.array(vocab, I64))], "is_pad")
    zero, one = b.initializer("zero", np.array(0, F32)), b.initializer("one", np.array(1, F32))
    keep = b.node("Where", [pad, zero, one], "keep")  # [1, C]
    axis1 = b.initializer("axis1", a([1], I64))
    count = b.node("ReduceSum", [keep, axis1], "count", keepdims=1)  # [1, 1]
    masked = b.node(
        "Mul",
        [ctx, b.node("Unsqueeze", [keep, b.initializer("axis2", a([2], I64))], "keep3")],
        "masked",
    )
    total = b.node("ReduceSum", [masked, axis1], "total", keepdims=0)  # [1, E]
    mean = b.node("Div", [total, b.node("Clip", [count, one, ""], "c1")], "mean")
    features = b.node("Concat", [flat, mean], "features", axis=1)  # [1, (C+1)*E]
    w1 = weights((context + 1) * width, hidden)
    w1 = b.initializer("w1", w1.T.copy() if trans_b else w1)
    h = b.node(
        "Gemm",
        [features, w1, b.initializer("b1", weights(hidden))],
        "h",
        alpha=alpha,
        transB=int(trans_b),
    )
    h = b.node(activation, [h], "act")
    query = b.node("MatMul", [h, b.initializer("w2", weights(hidden, width))], "query")  # [1, E]
    cands = b.node(
        "Gather",
        [table, b.node("Squeeze", ["candidates", b.initializer("axis0", a([0], I64))], "ids")],
        "cands",
    )
    dot = b.node("MatMul", [cands, b.node("Transpose", [query], "qt")], "dot")  # [L, 1]
    dot = b.node("Reshape", [dot, b.initializer("row", a([1, -1], I64))], "dotrow")
    padf = b.node("Cast", [pad], "padf", to=DataType.FLOAT)
    pads = b.node("ReduceSum", [padf], "pads", keepdims=1)  # [1, 1]
    bonus = b.node("Log", [b.node("Add", [one, pads], "onep")], "bonus")
    scaled = b.node("Mul", ["ngram", b.initializer("w3", np.array(0.25, F32))], "scaled")
    b.output(b.node("Add", [b.node("Add", [dot, bonus], "s"), scaled], "adjust"), F32, [1, "L"])
    return b.model()


@st.composite
def mlp_cases(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    vocab, width = draw(st.integers(3, 40)), draw(st.integers(1, 12))
    context, hidden = draw(st.integers(1, 6)), draw(st.integers(1, 24))
    model = mlp_model(
        rng,
        vocab,
        width,
        context,
        hidden,
        activation=draw(st.sampled_from(["Tanh", "Relu", "Sigmoid"])),
        trans_b=draw(st.booleans()),
        alpha=draw(st.sampled_from([1.0, 0.5, 3.0])),
    )
    length = draw(st.integers(1, 16))
    ids = st.integers(0, vocab)  # vocab itself pads
    feeds = {
        "context": np.array([draw(st.lists(ids, min_size=context, max_size=context))], I64),
        "candidates": np.array([draw(st.lists(ids, min_size=length, max_size=length))], I64),
        "ngram": (rng.normal(size=(1, length)) * 3).astype(F32),
    }
    return model, feeds


def assert_same_ranking(expected: np.ndarray, got: np.ndarray) -> None:
    """Any two scores further apart than the tolerance (twice over, one for each side) are
    ordered the same by both; so is the best, where it leads the next by that much."""
    tolerance = 2 * (ATOL + RTOL * np.maximum(np.abs(expected)[:, None], np.abs(expected)[None, :]))
    apart = expected[:, None] - expected[None, :] > tolerance
    assert np.all((got[:, None] - got[None, :])[apart] > 0)
    order = np.sort(expected)[::-1]
    if len(order) < 2 or order[0] - order[1] > tolerance.max():
        assert np.argmax(got) == np.argmax(expected)


@ORT_EXAMPLES
@given(mlp_cases())
def test_onnxruntime_agrees_with_the_reference_on_mlp_graphs(ort, case):
    model, feeds = case
    expected = reference.run(model, feeds)["adjust"]
    got = runtime.Session(model).run(feeds)["adjust"]
    assert_agree(expected, got)
    assert_same_ranking(expected[0], got[0])


ELEMENTWISE = ["Add", "Sub", "Mul", "Div", "Tanh", "Relu", "Sigmoid", "Clip", "Where"]


@st.composite
def elementwise_graphs(draw):
    """A random chain of float32 elementwise operators over two inputs of one shape, with
    values kept in a range where no operator overflows."""
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    b = GraphBuilder()
    live = [b.input("x", F32, shape), b.input("y", F32, shape)]
    for i in range(draw(st.integers(1, 8))):
        op = draw(st.sampled_from(ELEMENTWISE))
        pick = st.sampled_from(live)
        if op in ("Tanh", "Relu", "Sigmoid"):
            out = b.node(op, [draw(pick)], f"v{i}")
        elif op == "Div":  # a denominator kept away from zero: 1 + v*v
            v = draw(pick)
            square = b.node("Mul", [v, v], f"sq{i}")
            one = b.initializer(f"one{i}", np.array(1, F32))
            out = b.node("Div", [draw(pick), b.node("Add", [one, square], f"den{i}")], f"v{i}")
        elif op == "Clip":
            lo = b.initializer(f"lo{i}", np.array(-2, F32))
            out = b.node("Clip", [draw(pick), lo, ""], f"v{i}")
        elif op == "Where":
            cond = b.node("Equal", [draw(pick), draw(pick)], f"eq{i}")
            out = b.node("Where", [cond, draw(pick), draw(pick)], f"v{i}")
        else:
            out = b.node(op, [draw(pick), draw(pick)], f"v{i}")
        clip_bound = b.initializer(f"hi{i}", np.array(100, F32))
        live.append(b.node("Clip", [out, "", clip_bound], f"c{i}"))
    b.output(live[-1], F32, shape)
    feeds = {
        "x": draw(hnp.arrays(F32, shape, elements=st.floats(-10, 10, width=32))),
        "y": draw(hnp.arrays(F32, shape, elements=st.floats(-10, 10, width=32))),
    }
    return b.model(), feeds


@ORT_EXAMPLES
@given(elementwise_graphs())
def test_onnxruntime_agrees_with_the_reference_on_elementwise_chains(ort, case):
    model, feeds = case
    out = decode(model).graph.outputs[0].name
    assert_agree(reference.run(model, feeds)[out], runtime.Session(model).run(feeds)[out])


# --- what onnxruntime refuses to load, the reference refuses ----------------------------------


def named_tanh_model(names: list[str], ir_version: int = 8) -> Model:
    return tanh_model(
        nodes=[
            Node("Add", ["x", "w"], ["s"], name=names[0]),
            Node("Tanh", ["s"], ["y"], name=names[1]),
        ],
        ir_version=ir_version,
    )


def loads_in_onnxruntime(model: Model) -> bool:
    try:
        runtime.Session(encode(model), check=False)
    except NeuralModelError:
        return False
    return True


def passes_the_reference(model: Model) -> bool:
    try:
        reference.check(model)
    except NeuralModelError:
        return False
    return True


@ORT_EXAMPLES
@given(
    names=st.lists(st.sampled_from(["", "a", "b"]), min_size=2, max_size=2),
    ir_version=st.integers(1, 200),
)
def test_the_reference_refuses_what_onnxruntime_refuses_to_load(ort, names, ir_version):
    model = named_tanh_model(names, ir_version)
    if not loads_in_onnxruntime(model):
        assert not passes_the_reference(model)
    duplicate = names[0] and names[0] == names[1]
    valid = not duplicate and reference.MIN_IR_VERSION <= ir_version <= reference.MAX_IR_VERSION
    assert passes_the_reference(model) == valid


def test_nodes_may_be_unnamed_but_not_named_alike():
    reference.check(named_tanh_model(["", ""]))
    with pytest.raises(NeuralModelError, match="node 1 'n'.*another node has the same name"):
        reference.check(named_tanh_model(["n", "n"]))
    b = GraphBuilder()
    b.input("x", F32, [2])
    b.node("Tanh", ["x"], "h", name="n")
    b.output(b.node("Tanh", ["h"], "y", name="n"), F32, [2])
    with pytest.raises(NeuralModelError, match="same name"):
        b.model()


def test_an_ir_version_too_new_for_onnxruntime_1_19_is_refused():
    reference.check(tanh_model(ir_version=reference.MAX_IR_VERSION))
    with pytest.raises(NeuralModelError, match="IR version 11 is newer than 10"):
        reference.check(tanh_model(ir_version=11))


@pytest.mark.parametrize(
    "imports", [[("", 17), ("", 17)], [("", 17), ("ai.onnx", 17)], [("", 16), ("", 17)]]
)
def test_a_domain_is_imported_once(imports):
    with pytest.raises(NeuralModelError, match="more than once"):
        reference.check(tanh_model(opset_import=imports))


# --- weights are numbers ----------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    hnp.arrays(
        F32,
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
        elements=st.floats(width=32),
    )
)
def test_a_float_initializer_must_be_finite(weights):
    b = GraphBuilder()
    b.input("x", F32, None)
    b.output(b.node("Add", ["x", b.initializer("w", weights)], "y"), F32, None)
    model = b.build(check=False)
    if np.isfinite(weights).all():
        reference.check(model)
        return
    with pytest.raises(NeuralModelError, match="initializer 'w' holds a value that is not finite"):
        reference.check(model)
    with pytest.raises(NeuralModelError, match="not finite"):
        b.model()
    with pytest.raises(NeuralModelError, match="not finite"):
        reference.run(model, {"x": np.zeros(weights.shape, F32)})


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_a_float_attribute_must_be_finite(value):
    b = GraphBuilder()
    b.input("x", F32, [2, 2])
    b.output(b.node("Gemm", ["x", "x"], "y", alpha=value), F32, [2, 2])
    with pytest.raises(
        NeuralModelError, match="attribute 'alpha' holds a value that is not finite"
    ):
        b.model()


def test_integer_initializers_are_not_checked_for_finiteness():
    b = GraphBuilder()
    b.input("x", I64, [2])
    b.output(b.node("Add", ["x", b.initializer("w", a([-(2**63), 2**63 - 1], I64))], "y"), I64, [2])
    b.model()
