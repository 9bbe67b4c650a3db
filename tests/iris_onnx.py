"""A tiny ONNX model made with the onnx package (no download): the built-in iris softmax
as MatMul + Add + Softmax, so its answers must equal the built-in model's. Shared by
the unit tests and the container tests."""

import json
from importlib import resources
from pathlib import Path

PARAMS = json.loads(resources.files("falcon_app.model").joinpath("iris_softmax.json").read_text())


def build_model(path: Path, *, metadata: bool = True, output: str = "probabilities",
                extra_input: bool = False, batch="batch", width=4, classes=3) -> Path:
    """``batch``, ``width``, ``classes``: the declared dims (a name is symbolic, an int fixed)."""
    import onnx
    from onnx import TensorProto, helper

    weights = [list(col) for col in zip(*PARAMS["weights"])]     # [features, classes]
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])]
    if extra_input:
        inputs.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4]))
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["logits0"]),
         helper.make_node("Add", ["logits0", "b"], ["logits"]),
         helper.make_node("Softmax", ["logits"], [output], axis=1)],
        "iris", inputs,
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, [batch, classes])],
        [helper.make_tensor("w", TensorProto.FLOAT, [4, 3], [v for row in weights for v in row]),
         helper.make_tensor("b", TensorProto.FLOAT, [3], PARAMS["bias"])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, {"model_id": "iris-onnx", "classes": ",".join(PARAMS["classes"]),
                                       "features": ",".join(PARAMS["features"])})
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path
