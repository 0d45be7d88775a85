"""Python's xgboost on the same data, split and parameters as a train recipe,
for tests/train_test.cc and bench/train.

usage: xgboost_train.py DATA.csv PARAMS.json
DATA.csv: a header, then rows of float features with the 0/1 target last.
PARAMS.json: {"seed": split seed, "validation": fraction, "rounds": n,
"params": {xgboost params}}. Rows go to validation as the recipe sends them:
row i when splitmix64(splitmix64(seed) ^ i) >> 11, divided by 2**53, is below
the fraction. Prints "auc A", "validation_rows N" and "seconds S" (training time)."""
import json
import sys
import time

import numpy as np
import xgboost as xgb
from sklearn.metrics import roc_auc_score

M = (1 << 64) - 1


def splitmix64(x):
    x = (x + 0x9E3779B97F4A7C15) & M
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)


data = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, dtype=np.float32, ndmin=2)
cfg = json.load(open(sys.argv[2]))
x, y = data[:, :-1], data[:, -1]
key = splitmix64(cfg["seed"])
u = np.array([(splitmix64(key ^ i) >> 11) / 2.0**53 for i in range(len(y))])
valid = u < cfg["validation"]
dtrain = xgb.DMatrix(x[~valid], label=y[~valid], missing=np.nan)
dvalid = xgb.DMatrix(x[valid], label=y[valid], missing=np.nan)
start = time.perf_counter()
booster = xgb.train(cfg["params"], dtrain, num_boost_round=cfg["rounds"])
seconds = time.perf_counter() - start
p = booster.predict(dvalid)
print("auc", repr(float(roc_auc_score(y[valid], p))))
print("validation_rows", int(valid.sum()))
print("seconds", seconds)
