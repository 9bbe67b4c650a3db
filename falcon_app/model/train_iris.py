"""Reproduce iris_softmax.json (dev only; the service never imports this).

The built-in model is a multinomial logistic regression (softmax) on Fisher's iris
measurements, fitted with scikit-learn on the iris data set that scikit-learn ships
(sklearn.datasets.load_iris: 150 samples, 4 features, 3 classes; no download). It also
writes the model's known answers (falcon_app/model/known_answers.py reads them): every 5th
sample with scikit-learn's label and predict_proba, which the pure-Python predictor must
reproduce, and its true class.

    python -m venv /tmp/train && /tmp/train/bin/pip install scikit-learn
    /tmp/train/bin/python falcon_app/model/train_iris.py
"""

import json
from pathlib import Path

import sklearn
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

HERE = Path(__file__).resolve().parent
KNOWN_ANSWERS = HERE / "iris_known_answers.json"


def main() -> None:
    iris = load_iris()
    model = LogisticRegression(C=10.0, max_iter=5000).fit(iris.data, iris.target)
    accuracy = float(model.score(iris.data, iris.target))
    params = {
        "model_id": "iris-softmax-v1",
        "kind": "softmax",
        "features": ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"],
        "classes": [str(name) for name in iris.target_names],
        "weights": model.coef_.tolist(),
        "bias": model.intercept_.tolist(),
        "provenance": (f"scikit-learn {sklearn.__version__} LogisticRegression(C=10, lbfgs) fitted on "
                       f"sklearn.datasets.load_iris (Fisher 1936, 150 samples); training accuracy "
                       f"{accuracy:.4f}; reproduce with falcon_app/model/train_iris.py"),
    }
    (HERE / "iris_softmax.json").write_text(json.dumps(params, indent=2) + "\n")
    rows = range(0, len(iris.data), 5)
    answers = [{"features": iris.data[i].tolist(),
                "label": str(iris.target_names[model.predict(iris.data[i:i + 1])[0]]),
                "true_label": str(iris.target_names[iris.target[i]]),
                "probabilities": model.predict_proba(iris.data[i:i + 1])[0].tolist()} for i in rows]
    known = {"model_id": params["model_id"], "tolerance": 1e-6,
             "about": "every 5th iris sample: the model's label and scikit-learn's predict_proba, and the "
                      "true class (true_label); written by train_iris.py",
             "answers": answers}
    KNOWN_ANSWERS.write_text(json.dumps(known, indent=1) + "\n")
    print(f"accuracy {accuracy:.4f}; wrote {HERE / 'iris_softmax.json'} and {KNOWN_ANSWERS}")


if __name__ == "__main__":
    main()
