"""Writing a graph: ``GraphBuilder``, for the training code.

    b = GraphBuilder("reranker")
    ids = b.input("ids", np.int64, [1, "n"])
    table = b.initializer("embedding", weights)            # a float32 numpy array
    h = b.node("Gather", [table, ids], "h", axis=0)
    b.output(b.node("Tanh", [h], "out"), np.float32, [1, "n", 16])
    onnx_bytes = b.model()

Attribute values are plain Python: an int, a float, a str, a numpy array, or a list of ints
or of floats (``Attribute.of`` reads the type off the value; ``Cast``'s ``to`` is a
``DataType``). Nodes are kept in the order they are added, which must be a topological
order, as ONNX requires.

``model()`` refuses (``NeuralModelError``) a graph the reference would not run, as the
langdb writer never writes a file ``verify()`` would refuse.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from keyglide._version import __version__
from keyglide.neural import reference
from keyglide.neural.proto import (
    Attribute,
    DataType,
    Dim,
    Graph,
    Model,
    Node,
    Tensor,
    ValueInfo,
    encode,
)


class GraphBuilder:
    def __init__(self, name: str = "") -> None:
        self.name = name
        self._nodes: list[Node] = []
        self._initializers: list[Tensor] = []
        self._inputs: list[ValueInfo] = []
        self._outputs: list[ValueInfo] = []

    def initializer(self, name: str, array: np.ndarray) -> str:
        """A constant of the graph; returns its name, to use as a node input."""
        self._initializers.append(Tensor(name, np.asarray(array)))
        return name

    def input(self, name: str, dtype: object, shape: Sequence[Dim] | None) -> str:
        """A graph input; ``shape`` mixes sizes and symbolic names, None for any rank."""
        self._inputs.append(ValueInfo(name, DataType.of(dtype), _shape(shape)))
        return name

    def output(self, name: str, dtype: object, shape: Sequence[Dim] | None) -> str:
        self._outputs.append(ValueInfo(name, DataType.of(dtype), _shape(shape)))
        return name

    def node(
        self,
        op_type: str,
        inputs: Sequence[str],
        outputs: str | Sequence[str],
        *,
        name: str | None = None,
        **attributes: object,
    ) -> str | tuple[str, ...]:
        """Append a node; returns its output name (a tuple when ``outputs`` is a list).
        Nodes are named ``{op_type}_{index}`` unless ``name`` is given, so that an error
        from either runtime names a node one can find."""
        single = isinstance(outputs, str)
        names = (outputs,) if single else tuple(outputs)
        self._nodes.append(
            Node(
                op_type=op_type,
                inputs=tuple(inputs),
                outputs=names,
                attributes=tuple(Attribute.of(k, v) for k, v in sorted(attributes.items())),
                name=f"{op_type}_{len(self._nodes)}" if name is None else name,
            )
        )
        return names[0] if single else names

    def graph(self) -> Graph:
        return Graph(
            nodes=tuple(self._nodes),
            inputs=tuple(self._inputs),
            outputs=tuple(self._outputs),
            initializers=tuple(self._initializers),
            name=self.name,
        )

    def build(
        self,
        opset: int = reference.OPSET,
        ir_version: int = reference.IR_VERSION,
        check: bool = True,
    ) -> Model:
        """The model; with ``check``, refuses one ``keyglide.neural.reference`` cannot run."""
        model = Model(
            graph=self.graph(),
            ir_version=ir_version,
            opset_import=(("", opset),),
            producer_name="keyglide",
            producer_version=__version__,
        )
        if check:
            reference.check(model)
        return model

    def model(
        self,
        opset: int = reference.OPSET,
        ir_version: int = reference.IR_VERSION,
        check: bool = True,
    ) -> bytes:
        """The ONNX bytes of ``build()``: the same graph always gives the same bytes."""
        return encode(self.build(opset, ir_version, check))


def _shape(shape: Sequence[Dim] | None) -> tuple[Dim, ...] | None:
    if shape is None:
        return None
    return tuple(d if isinstance(d, str) else int(d) for d in shape)
