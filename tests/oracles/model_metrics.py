"""scikit-learn's metrics on fixed predictions, for tests/model_metrics_test.cc.

Reads "kind" on the first line (binary, multiclass or regression), then for
binary: "label prob" lines (threshold 0.5); multiclass: "label p0 p1 ... pk-1";
regression: "truth prediction". Prints "name value" lines."""
import sys

import numpy as np
from sklearn import metrics

lines = sys.stdin.read().split("\n")
kind = lines[0].strip()
rows = [list(map(float, l.split())) for l in lines[1:] if l.strip()]
a = np.array(rows, dtype=np.float64)
out = {}
if kind == "binary":
    y, p = a[:, 0].astype(int), a[:, 1]
    pred = (p >= 0.5).astype(int)
    out["auc"] = metrics.roc_auc_score(y, p)
    out["logloss"] = metrics.log_loss(y, p)
    out["accuracy"] = metrics.accuracy_score(y, pred)
    out["precision"] = metrics.precision_score(y, pred, zero_division=0)
    out["recall"] = metrics.recall_score(y, pred, zero_division=0)
    out["f1"] = metrics.f1_score(y, pred, zero_division=0)
    cm = metrics.confusion_matrix(y, pred, labels=[0, 1])
    for t in range(2):
        for q in range(2):
            out[f"cm_{t}_{q}"] = cm[t][q]
elif kind == "multiclass":
    y, p = a[:, 0].astype(int), a[:, 1:]
    k = p.shape[1]
    pred = p.argmax(axis=1)
    out["auc"] = metrics.roc_auc_score(y, p, multi_class="ovr", average="macro")
    out["logloss"] = metrics.log_loss(y, p, labels=list(range(k)))
    out["accuracy"] = metrics.accuracy_score(y, pred)
    out["precision"] = metrics.precision_score(y, pred, average="macro", zero_division=0)
    out["recall"] = metrics.recall_score(y, pred, average="macro", zero_division=0)
    out["f1"] = metrics.f1_score(y, pred, average="macro", zero_division=0)
    cm = metrics.confusion_matrix(y, pred, labels=list(range(k)))
    for t in range(k):
        for q in range(k):
            out[f"cm_{t}_{q}"] = cm[t][q]
else:
    y, p = a[:, 0], a[:, 1]
    out["rmse"] = metrics.mean_squared_error(y, p) ** 0.5
    out["mae"] = metrics.mean_absolute_error(y, p)
    out["r2"] = metrics.r2_score(y, p)
for k, v in out.items():
    print(k, repr(float(v)))
