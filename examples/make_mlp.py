#!/usr/bin/env python3
"""Build an example ONNX classifier to deploy with MODEL_PATH, and its known answers.

No download: the data are synthetic (one Gaussian cluster per class, close enough to
overlap so held-out probabilities are not all 0 or 1), the model is a small MLP (ReLU
hidden layers, softmax output) trained with plain numpy (full-batch Adam on
cross-entropy, L2 on the weights) and written with the onnx helper API. Everything
follows from --seed, so the same arguments give the same bytes.

answers.json holds held-out rows with the class and probabilities of the numpy forward
pass, an implementation independent of onnxruntime: a deployment must reproduce them
within "tolerance".

    python examples/make_mlp.py --out /tmp/mlp
    python examples/make_mlp.py --out /tmp/big --features 64 --classes 10 --hidden 512,512,512 --epochs 0

--epochs 0 skips training (random weights): a quick way to a model of a few MB for benchmarks.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

CLASS_NAMES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet",
               "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango")
CENTER_DISTANCE = 4.0      # expected distance between class centres, in noise standard deviations
TRAIN_ROWS, HELD_OUT_ROWS = 200, 100      # per class
LEARNING_RATE = 0.01
WEIGHT_DECAY = 0.03       # L2 on the weights: this little data overfits a 32x32 MLP without it
TOLERANCE = 1e-4


def names(features: int, classes: int) -> tuple[list[str], list[str]]:
    return ([f"sensor_{i}" for i in range(features)],
            [CLASS_NAMES[i] if i < len(CLASS_NAMES) else f"class_{i}" for i in range(classes)])


def make_data(rng: np.random.Generator, features: int, classes: int):
    """(x_train, y_train, x_held_out, y_held_out); values rounded to 4 decimals so the JSON
    rows are exactly the rows the answers were computed from."""
    centers = rng.normal(0.0, CENTER_DISTANCE / np.sqrt(2 * features), (classes, features))

    def sample(per_class: int):
        y = np.repeat(np.arange(classes), per_class)
        x = np.round(centers[y] + rng.normal(size=(len(y), features)), 4)
        order = rng.permutation(len(y))
        return x[order], y[order]

    return (*sample(TRAIN_ROWS), *sample(HELD_OUT_ROWS))


def init(rng: np.random.Generator, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised (weights [in, out], zero bias) per layer."""
    return [(rng.normal(0.0, np.sqrt(2.0 / n_in), (n_in, n_out)), np.zeros(n_out))
            for n_in, n_out in zip(sizes, sizes[1:])]


def softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def hidden_layers(params, x: np.ndarray) -> list[np.ndarray]:
    """The input and each hidden layer's output (after ReLU)."""
    outputs = [x]
    for w, b in params[:-1]:
        outputs.append(np.maximum(outputs[-1] @ w + b, 0.0))
    return outputs


def forward(params, x: np.ndarray) -> np.ndarray:
    """Class probabilities, [rows, classes]."""
    w, b = params[-1]
    return softmax(hidden_layers(params, x)[-1] @ w + b)


def train(params, x: np.ndarray, y: np.ndarray, epochs: int):
    """Full-batch Adam on mean cross-entropy plus L2 on the weights; returns the trained params."""
    flat = [p.copy() for layer in params for p in layer]          # w0, b0, w1, b1, ...
    m = [np.zeros_like(p) for p in flat]
    v = [np.zeros_like(p) for p in flat]
    onehot = np.eye(flat[-1].shape[0])[y]
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    for step in range(1, epochs + 1):
        layers = list(zip(flat[::2], flat[1::2]))
        outputs = hidden_layers(layers, x)
        grad = (softmax(outputs[-1] @ layers[-1][0] + layers[-1][1]) - onehot) / len(x)   # d loss/d logits
        grads = []
        for i in reversed(range(len(layers))):
            grads[:0] = [outputs[i].T @ grad + WEIGHT_DECAY * layers[i][0], grad.sum(axis=0)]
            grad = (grad @ layers[i][0].T) * (outputs[i] > 0)
        for k, g in enumerate(grads):
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            step_size = LEARNING_RATE * np.sqrt(1 - beta2 ** step) / (1 - beta1 ** step)
            flat[k] = flat[k] - step_size * m[k] / (np.sqrt(v[k]) + eps)
    return list(zip(flat[::2], flat[1::2]))


def to_onnx(params, feature_names: list[str], class_names: list[str], model_id: str):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, initializers, x = [], [], "x"
    for i, (w, b) in enumerate(params):
        initializers += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        last = i == len(params) - 1
        out = "logits" if last else f"h{i}"
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [out]))
        if not last:
            nodes.append(helper.make_node("Relu", [out], [f"{out}_relu"]))
            out = f"{out}_relu"
        x = out
    nodes.append(helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1))
    graph = helper.make_graph(
        nodes, "example_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", len(feature_names)])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", len(class_names)])],
        initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make_mlp")
    model.ir_version = 8
    helper.set_model_props(model, {"model_id": model_id, "features": ",".join(feature_names),
                                   "classes": ",".join(class_names)})
    onnx.checker.check_model(model)
    return model


def pick_answers(predicted: np.ndarray, classes: int, count: int) -> list[int]:
    """Up to ``count`` row indices, taking each predicted class in turn so all of them appear
    when the rows allow it."""
    queues = [list(np.flatnonzero(predicted == c)) for c in range(classes)]
    picked: list[int] = []
    while len(picked) < count and any(queues):
        picked += [q.pop(0) for q in queues if q][:count - len(picked)]
    return picked


def build(out_dir, *, features: int = 8, classes: int = 3, hidden: tuple[int, ...] = (32, 32),
          epochs: int = 200, seed: int = 0, answers: int = 12, verbose: bool = False) -> tuple[Path, Path]:
    """Write out_dir/model.onnx and out_dir/answers.json; returns their paths."""
    if features < 1 or classes < 2 or answers < 1 or epochs < 0 or any(h < 1 for h in hidden):
        raise ValueError("need features >= 1, classes >= 2, answers >= 1, epochs >= 0, hidden sizes >= 1")
    rng = np.random.default_rng(seed)
    x_train, y_train, x_test, y_test = make_data(rng, features, classes)
    params = init(rng, [features, *hidden, classes])
    params = train(params, x_train, y_train, epochs)
    # onnxruntime computes with float32 weights and inputs: so do the answers (in float64).
    params = [(w.astype(np.float32), b.astype(np.float32)) for w, b in params]

    def predict(x: np.ndarray) -> np.ndarray:
        return forward(params, x.astype(np.float32).astype(np.float64))

    probs_test = predict(x_test)
    predicted = probs_test.argmax(axis=1)
    if verbose:
        print(f"accuracy: training {(predict(x_train).argmax(axis=1) == y_train).mean():.3f} "
              f"({len(y_train)} rows), held-out {(predicted == y_test).mean():.3f} ({len(y_test)} rows), "
              f"{epochs} epochs")

    feature_names, class_names = names(features, classes)
    digest = hashlib.sha256(b"".join(a.tobytes() for layer in params for a in layer)).hexdigest()
    model_id = f"example-mlp-{digest[:8]}"
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path, answers_path = out_dir / "model.onnx", out_dir / "answers.json"
    model_path.write_bytes(to_onnx(params, feature_names, class_names, model_id).SerializeToString())
    known = [{"features": x_test[i].tolist(), "label": class_names[predicted[i]],
              "probabilities": {c: round(float(p), 8) for c, p in zip(class_names, probs_test[i])}}
             for i in pick_answers(predicted, classes, answers)]
    answers_path.write_text(json.dumps({"model_id": model_id, "tolerance": TOLERANCE, "answers": known},
                                       indent=1) + "\n")
    return model_path, answers_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for model.onnx and answers.json")
    parser.add_argument("--features", type=int, default=8)
    parser.add_argument("--classes", type=int, default=3)
    parser.add_argument("--hidden", default="32,32", help="hidden layer sizes, comma-separated (default 32,32)")
    parser.add_argument("--epochs", type=int, default=200, help="training steps; 0: random weights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--answers", type=int, default=12, help="known-answer rows (default 12)")
    args = parser.parse_args()
    try:
        hidden = tuple(int(h) for h in args.hidden.split(",") if h.strip())
        paths = build(args.out, features=args.features, classes=args.classes, hidden=hidden,
                      epochs=args.epochs, seed=args.seed, answers=args.answers, verbose=True)
    except ValueError as exc:
        parser.error(str(exc))
    for path in paths:
        data = path.read_bytes()
        print(f"{path}  {len(data):,} bytes  sha256 {hashlib.sha256(data).hexdigest()}")


if __name__ == "__main__":
    main()
