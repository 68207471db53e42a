#!/usr/bin/env python3
"""The fine-tuning benchmark's baseline in scikit-learn: TF-IDF (word 1-2-grams, sublinear tf) +
multinomial logistic regression, C chosen on the validation rows (macro F1, then accuracy, then the
smaller C), refitted on train + validation, scored on the test rows.

bench/finetune-quality.mjs runs it as an independent check of its hand-written baseline (JSON
{grid, train, validation, test} on stdin, each part {texts, labels}; one JSON object out), and
bench/splits.py imports `baseline`.
"""
import json
import sys

import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score


def fit(texts, labels, C):
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2))
    model = LogisticRegression(C=C, max_iter=5000, tol=1e-6).fit(vectorizer.fit_transform(texts), labels)
    return lambda other: model.predict(vectorizer.transform(other))


def baseline(train, validation, test, grid):
    scores = []
    for C in grid:
        guessed = fit(train["texts"], train["labels"], C)(validation["texts"])
        scores.append({"C": C, "accuracy": accuracy_score(validation["labels"], guessed), "macro_f1": f1_score(validation["labels"], guessed, average="macro")})
    best = scores[0]
    for score in scores[1:]:
        if (score["macro_f1"], score["accuracy"]) > (best["macro_f1"], best["accuracy"]):
            best = score
    predicted = fit(train["texts"] + validation["texts"], train["labels"] + validation["labels"], best["C"])(test["texts"])
    return {
        "version": sklearn.__version__,
        "C": best["C"],
        "validation": scores,
        "test": {"accuracy": accuracy_score(test["labels"], predicted), "macro_f1": f1_score(test["labels"], predicted, average="macro")},
        "predictions": list(predicted),
    }


if __name__ == "__main__":
    request = json.load(sys.stdin)
    print(json.dumps(baseline(request["train"], request["validation"], request["test"], request["grid"])))
