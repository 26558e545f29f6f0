#!/usr/bin/env python3
"""Reference figures for the worker models, computed with scikit-learn.

Run by hand (not in CI), from the repository root:

    pip install scikit-learn
    python3 scripts/sklearn_reference.py > tests/data/sklearn_reference.json

It fits each model the tests check on the red-wine split in tests/data/winequality_red
(scikit-learn's train_test_split(test_size=0.2, random_state=42)), with the same parameters
the tests give the Rust worker, and records the held-out score: R^2 for regression on
`quality`, accuracy for classification of `good` (quality >= 6) against `bad`.
The tests (tests/tests/sklearn_parity.rs) hold each Rust model within 0.03 R^2 or 2 accuracy
points of these figures.
"""
import json
import platform
import sys

import numpy as np
import sklearn
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, r2_score
from sklearn.naive_bayes import GaussianNB
from sklearn.svm import SVC, SVR
from sklearn.neighbors import KNeighborsClassifier, KNeighborsRegressor
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

DATA = "tests/data/winequality_red"


def load(name):
    return np.loadtxt(f"{DATA}/{name}", delimiter=",", skiprows=1)


X_train, X_test = load("X_train.csv"), load("X_test.csv")
q_train, q_test = load("y_train.csv"), load("y_test.csv")
label = lambda q: np.where(q >= 6, "good", "bad")

# (task, model name in chimera, params as written in the worker's YAML, scikit-learn estimator)
CASES = [
    ("regression", "decision_tree", {"max_depth": 5}, DecisionTreeRegressor(max_depth=5, random_state=0)),
    ("regression", "random_forest", {"n_estimators": 25}, RandomForestRegressor(n_estimators=25, random_state=0)),
    ("regression", "extra_trees", {"n_estimators": 25}, ExtraTreesRegressor(n_estimators=25, random_state=0)),
    ("regression", "gradient_boosting", {}, GradientBoostingRegressor(random_state=0)),
    ("regression", "k_neighbors", {"n_neighbors": 5}, KNeighborsRegressor(n_neighbors=5)),
    ("regression", "linear_regression", {}, LinearRegression()),
    ("regression", "ridge", {"alpha": 1.0}, Ridge(alpha=1.0)),
    ("regression", "lasso", {"alpha": 0.01}, Lasso(alpha=0.01)),
    ("regression", "elastic_net", {"alpha": 0.01, "l1_ratio": 0.5}, ElasticNet(alpha=0.01, l1_ratio=0.5)),
    ("regression", "svm", {}, SVR()),
    ("regression", "svm", {"kernel": "linear", "C": 0.1}, SVR(kernel="linear", C=0.1)),
    ("classification", "decision_tree", {"max_depth": 5}, DecisionTreeClassifier(max_depth=5, random_state=0)),
    ("classification", "random_forest", {"n_estimators": 25}, RandomForestClassifier(n_estimators=25, random_state=0)),
    ("classification", "extra_trees", {"n_estimators": 25}, ExtraTreesClassifier(n_estimators=25, random_state=0)),
    ("classification", "gradient_boosting", {}, GradientBoostingClassifier(random_state=0)),
    ("classification", "k_neighbors", {"n_neighbors": 5, "weights": "distance"}, KNeighborsClassifier(n_neighbors=5, weights="distance")),
    ("classification", "gaussian_nb", {}, GaussianNB()),
    ("classification", "gaussian_nb", {"priors": [0.5, 0.5]}, GaussianNB(priors=[0.5, 0.5])),
    ("classification", "decision_tree", {"max_depth": 5, "criterion": "entropy"}, DecisionTreeClassifier(max_depth=5, criterion="entropy", random_state=0)),
    ("classification", "random_forest", {"n_estimators": 25, "criterion": "entropy"}, RandomForestClassifier(n_estimators=25, criterion="entropy", random_state=0)),
    ("classification", "svm", {}, SVC(random_state=0)),
    ("classification", "svm", {"kernel": "linear", "C": 0.1}, SVC(kernel="linear", C=0.1, random_state=0)),
    ("classification", "logistic_regression", {"C": 1.0, "max_iter": 1000}, LogisticRegression(C=1.0, max_iter=1000)),
]

out = []
for task, model, params, estimator in CASES:
    if task == "regression":
        estimator.fit(X_train, q_train)
        score = r2_score(q_test, estimator.predict(X_test))
    else:
        estimator.fit(X_train, label(q_train))
        score = accuracy_score(label(q_test), estimator.predict(X_test))
    out.append({"task": task, "model": model, "params": params, "score": round(float(score), 4)})

json.dump(
    {
        "scikit_learn": sklearn.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "data": DATA,
        "metric": {"regression": "r2", "classification": "accuracy"},
        "cases": out,
    },
    sys.stdout,
    indent=2,
)
print()
