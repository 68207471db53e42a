#!/usr/bin/env python3
"""Several stratified splits of one labelled CSV, for bench/pytorch_finetune.py, each scored by TF-IDF + LR.

For each split seed: 10% of every class held out as test (by random.Random(1000 + seed)), the rest
training; the folder DIR/sSEED gets train/test .jsonl (rows of the tokenized file) and .labels. The
baseline is bench/sklearn_baseline.py's (the benchmark's), its C chosen on the rows
pytorch_finetune.py holds out as validation for its seed 7, then refitted on all training rows. One JSON line per split.

  bert-studio tokenize --tokenizer T --input texts.txt --max-length 512 --output all.jsonl   # one text a line, CSV order
  /usr/bin/python3 bench/splits.py --csv data.csv --tokenized all.jsonl --out DIR --seeds 1,2,3
  /usr/bin/python3 bench/pytorch_finetune.py --model HF_DIR --data DIR/s1 --seeds 7
"""
import argparse, csv, json, random, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sklearn_baseline import baseline  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--csv", required=True, help="text,label rows")
    ap.add_argument("--tokenized", required=True, help="JSON lines, one per CSV row, in order")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--grid", default="0.1,0.3,1,3,10,30,100,300,1000")
    args = ap.parse_args()
    csv.field_size_limit(10**9)
    rows = list(csv.DictReader(open(args.csv, encoding="utf8")))
    tokenized = [line for line in open(args.tokenized, encoding="utf8").read().splitlines() if line.strip()]
    if len(tokenized) != len(rows):
        raise SystemExit(f"{args.tokenized} has {len(tokenized)} lines, {args.csv} {len(rows)} rows")
    grid = [float(c) for c in args.grid.split(",")]
    part = lambda indices: {"texts": [rows[i]["text"] for i in indices], "labels": [rows[i]["label"] for i in indices]}

    for seed in [int(s) for s in args.seeds.split(",")]:
        rng = random.Random(1000 + seed)
        by_class = {}
        for i, row in enumerate(rows):
            by_class.setdefault(row["label"], []).append(i)
        test, train = [], []
        for label in sorted(by_class):
            members = by_class[label][:]
            rng.shuffle(members)
            k = round(len(members) * 0.1)
            test += members[:k]
            train += members[k:]
        test.sort()
        train.sort()
        folder = Path(args.out) / f"s{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, indices in (("train", train), ("test", test)):
            (folder / f"{name}.jsonl").write_text("".join(tokenized[i] + "\n" for i in indices))
            (folder / f"{name}.labels").write_text("\n".join(rows[i]["label"] for i in indices) + "\n")
        # pytorch_finetune.py's validation rows for its seed 7: the baseline chooses C on the same rows.
        order = list(range(len(train)))
        random.Random(7).shuffle(order)
        validation = [train[j] for j in order[: len(order) // 10]]
        rest = [train[j] for j in order[len(order) // 10 :]]
        result = baseline(part(rest), part(validation), part(test), grid)
        print(json.dumps({"split": seed, "folder": str(folder), "train": len(train), "test": len(test), "C": result["C"],
                          "tfidf_accuracy": result["test"]["accuracy"], "tfidf_macro_f1": result["test"]["macro_f1"]}), flush=True)


if __name__ == "__main__":
    main()
