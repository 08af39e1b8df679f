"""The neural reranker's model layer: an ONNX graph stored in a langdb, and two ways to run it.

- ``proto``: the ONNX protobuf subset, as dataclasses, encoded and decoded without ``onnx``.
- ``graph``: ``GraphBuilder``, how the training code writes a graph.
- ``reference``: the operators keyglide allows, run in numpy. The definition, as the
  reference engine is for the C kernel; it also validates a graph before anything runs it.
- ``runtime``: the same graph run by onnxruntime (``pip install 'keyglide[neural]'``).
- ``rerank``: format 1.3's reranker (FORMAT.md section 11) around an engine: the graph's
  feeds, its scores and the reordered answers.

Only ``runtime`` touches onnxruntime, and only when a session is created.
"""
