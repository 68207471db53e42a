#!/usr/bin/env python3
"""Checks a BERT Studio Hugging Face export with transformers itself.

Loads the folder with the class its config.json names (BertForSequenceClassification for a
fine-tuned classifier; BertForTokenClassification, BertForQuestionAnswering and BertForPreTraining
too) through `from_pretrained`, and its tokenizer with `AutoTokenizer.from_pretrained` (the fast,
Rust one), then reruns the held-out inputs of studio-examples.json, which the export wrote with the
studio's token ids and logits for each. It reports, as JSON on stdout:

  - whether from_pretrained found every weight it expects (no missing, unexpected or mismatched keys);
  - whether the fast tokenizer gives the studio's ids for each input (truncated to the same length);
  - the largest |logit difference| between transformers (run on the studio's ids) and the studio.

usage: python3 bench/transformers_check.py EXPORT_DIR [--examples FILE] [--tolerance 1e-4]
                                          [--reference transformers|numpy]

--reference numpy runs an independent NumPy BERT instead (model.safetensors parsed by hand, the
forward pass written from transformers' modeling_bert by parameter name), for machines without
torch and transformers; it checks the weights and the studio's logits, not the tokenizer.

Exit status: 0 passed, 1 a difference above the tolerance (or a tokenizer or loading mismatch),
2 bad arguments or files, 3 transformers/torch not installed (nothing was checked).
"""
import argparse
import json
import math
import struct
import sys
from pathlib import Path

EXIT_PASSED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_NO_TRANSFORMERS = 0, 1, 2, 3
ARCHITECTURES = ("BertForSequenceClassification", "BertForTokenClassification", "BertForQuestionAnswering", "BertForPreTraining")


def finite(value):
    """NaN and infinities as null: the report must be valid JSON for any reader."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def emit(report, status):
    print(json.dumps(finite(report), indent=1, allow_nan=False))
    sys.exit(status)


def load_examples(folder, path):
    source = Path(path) if path else folder / "studio-examples.json"
    try:
        examples = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        emit({"passed": False, "error": f"{source}: cannot read the studio's examples ({error})"}, EXIT_BAD_INPUT)
    if examples.get("format") != "bert-studio-examples" or examples.get("formatVersion") != 1:
        emit({"passed": False, "error": f"{source}: not a studio-examples.json (format {examples.get('format')!r}, version {examples.get('formatVersion')!r})"}, EXIT_BAD_INPUT)
    return source, examples


def difference(expected, actual):
    """Largest |expected - actual| for one example's stored outputs; actual maps the same keys (full rows for the MLM head)."""
    kind = expected["kind"]
    pairs = []
    if kind == "sequence":
        pairs.append((expected["logits"], actual["logits"]))
    elif kind == "token":
        if len(expected["logits"]) != len(actual["logits"]):
            return float("nan")
        pairs.extend(zip(expected["logits"], actual["logits"]))
    elif kind == "span":
        pairs += [(expected["start"], actual["start"]), (expected["end"], actual["end"])]
    elif kind == "pretraining":
        pairs.append((expected["nsp"], actual["nsp"]))
        if len(expected["masks"]) != len(actual["masks"]):
            return float("nan")
        for mask, row in zip(expected["masks"], actual["masks"]):
            if mask["position"] != row["position"]:
                return float("nan")
            pairs.append(([entry["logit"] for entry in mask["top"]], [row["logits"][entry["id"]] for entry in mask["top"]]))
    else:
        return float("nan")
    largest = 0.0
    for a, b in pairs:
        if len(a) != len(b):
            return float("nan")
        for x, y in zip(a, b):
            d = abs(float(x) - float(y))
            if d != d:
                return float("nan")
            largest = max(largest, d)
    return largest


def outputs_of(kind, example, rows):
    """Stored-output keys from the heads' rows for one example (rows: dict of numpy/torch arrays, batch dim removed)."""
    if kind == "sequence":
        return {"logits": [float(v) for v in rows["logits"]]}
    if kind == "token":
        return {"logits": [[float(v) for v in row] for row in rows["logits"]]}
    if kind == "span":
        return {"start": [float(v) for v in rows["start"]], "end": [float(v) for v in rows["end"]]}
    masks = [{"position": mask["position"], "logits": rows["mlm"][mask["position"]]} for mask in example["outputs"]["masks"]]
    return {"nsp": [float(v) for v in rows["nsp"]], "masks": masks}


# ---------------------------------------------------------------------------------------------
# transformers


def check_with_transformers(folder, examples, tolerance):
    try:
        import torch
        import transformers
    except ImportError as error:
        emit(
            {
                "passed": False,
                "skipped": True,
                "error": f"transformers and torch are needed for this check and are not installed here ({error}); "
                "install them (pip install torch transformers) or run with --reference numpy",
            },
            EXIT_NO_TRANSFORMERS,
        )
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architecture = (config.get("architectures") or [None])[0]
    if architecture not in ARCHITECTURES:
        emit({"passed": False, "error": f"{folder / 'config.json'}: architectures[0] is {architecture!r}, expected one of {', '.join(ARCHITECTURES)}"}, EXIT_BAD_INPUT)
    model_class = getattr(transformers, architecture)
    model, info = model_class.from_pretrained(str(folder), output_loading_info=True)
    model.eval()
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(folder))
    loading = {key: sorted(str(name) for name in info.get(key, [])) for key in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    # transformers re-creates the position_ids buffer; the tied MLM decoder is re-tied, not loaded.
    loading["missing_keys"] = [key for key in loading["missing_keys"] if not key.endswith("position_ids") and not key.startswith("cls.predictions.decoder.")]

    per_example, largest, ids_match = [], 0.0, True
    for example in examples["examples"]:
        pair = example["pair"]
        encoded = tokenizer(example["text"], pair, truncation=True, max_length=examples["maxLength"])
        same_ids = list(encoded["input_ids"]) == list(example["inputIds"]) and list(encoded.get("token_type_ids", [])) == list(example["tokenTypeIds"])
        ids_match = ids_match and same_ids
        ids = torch.tensor([example["inputIds"]])
        types = torch.tensor([example["tokenTypeIds"]])
        with torch.no_grad():
            out = model(input_ids=ids, token_type_ids=types, attention_mask=torch.ones_like(ids))
        kind = example["outputs"]["kind"]
        if kind in ("sequence", "token"):
            rows = {"logits": out.logits[0].tolist()}
        elif kind == "span":
            rows = {"start": out.start_logits[0].tolist(), "end": out.end_logits[0].tolist()}
        else:
            rows = {"mlm": out.prediction_logits[0].tolist(), "nsp": out.seq_relationship_logits[0].tolist()}
        d = difference(example["outputs"], outputs_of(kind, example, rows))
        largest = d if d != d or largest != largest else max(largest, d)
        per_example.append({"text": example["text"], "pair": pair, "ids_match": same_ids, "max_abs_diff": d})

    loaded_cleanly = not any(loading.values())
    return {
        "reference": "transformers",
        "architecture": architecture,
        "model_class": type(model).__name__,
        "tokenizer_class": type(tokenizer).__name__,
        "tokenizer_is_fast": bool(getattr(tokenizer, "is_fast", False)),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "loading": loading,
        "loaded_cleanly": loaded_cleanly,
        "tokenizer_matches": ids_match,
        "per_example": per_example,
        "max_abs_diff": largest,
        "passed": loaded_cleanly and ids_match and bool(getattr(tokenizer, "is_fast", False)) and largest <= tolerance,
    }


# ---------------------------------------------------------------------------------------------
# NumPy reference


def read_safetensors(path):
    import numpy as np

    dtypes = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "BF16": None}
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = raw[8 + n :]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        if entry["dtype"] == "BF16":
            halves = np.frombuffer(data[begin:end], dtype=np.uint16).astype(np.uint32) << 16
            array = halves.view(np.float32)
        elif entry["dtype"] in dtypes:
            array = np.frombuffer(data[begin:end], dtype=dtypes[entry["dtype"]])
        else:
            continue
        tensors[name if not name.startswith(("embeddings.", "encoder.", "pooler.")) else f"bert.{name}"] = array.astype(np.float64).reshape(entry["shape"])
    return tensors


def check_with_numpy(folder, examples, tolerance):
    try:
        import numpy as np
    except ImportError as error:
        emit({"passed": False, "skipped": True, "error": f"--reference numpy needs numpy, which is not installed here ({error})"}, EXIT_NO_TRANSFORMERS)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    architecture = (config.get("architectures") or [None])[0]
    if architecture not in ARCHITECTURES:
        emit({"passed": False, "error": f"{folder / 'config.json'}: architectures[0] is {architecture!r}, expected one of {', '.join(ARCHITECTURES)}"}, EXIT_BAD_INPUT)
    w = read_safetensors(folder / "model.safetensors")
    H, A, eps = config["hidden_size"], config["num_attention_heads"], config["layer_norm_eps"]
    d = H // A
    erf = np.vectorize(math.erf)

    def linear(x, prefix):
        return x @ w[f"{prefix}.weight"].T + w[f"{prefix}.bias"]

    def norm(x, weight, bias):
        mean = x.mean(-1, keepdims=True)
        variance = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(variance + eps) * weight + bias

    def gelu(x):
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))

    def softmax(x):
        e = np.exp(x - x.max(-1, keepdims=True))
        return e / e.sum(-1, keepdims=True)

    def encode(ids, types):
        T = len(ids)
        e = "bert.embeddings"
        x = w[f"{e}.word_embeddings.weight"][ids] + w[f"{e}.position_embeddings.weight"][:T] + w[f"{e}.token_type_embeddings.weight"][types]
        x = norm(x, w[f"{e}.LayerNorm.weight"], w[f"{e}.LayerNorm.bias"])
        for i in range(config["num_hidden_layers"]):
            p = f"bert.encoder.layer.{i}"
            heads = lambda t: t.reshape(T, A, d).transpose(1, 0, 2)
            q, k, v = (heads(linear(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
            context = (softmax(q @ k.transpose(0, 2, 1) / math.sqrt(d)) @ v).transpose(1, 0, 2).reshape(T, H)
            attention = norm(linear(context, f"{p}.attention.output.dense") + x, w[f"{p}.attention.output.LayerNorm.weight"], w[f"{p}.attention.output.LayerNorm.bias"])
            hidden = gelu(linear(attention, f"{p}.intermediate.dense"))
            x = norm(linear(hidden, f"{p}.output.dense") + attention, w[f"{p}.output.LayerNorm.weight"], w[f"{p}.output.LayerNorm.bias"])
        return x

    per_example, largest = [], 0.0
    for example in examples["examples"]:
        ids, types = np.array(example["inputIds"]), np.array(example["tokenTypeIds"])
        x = encode(ids, types)
        kind = example["outputs"]["kind"]
        if kind == "sequence":
            pooled = np.tanh(linear(x[0], "bert.pooler.dense"))
            rows = {"logits": linear(pooled, "classifier")}
        elif kind == "token":
            rows = {"logits": linear(x, "classifier")}
        elif kind == "span":
            both = linear(x, "qa_outputs")
            rows = {"start": both[:, 0], "end": both[:, 1]}
        else:
            pooled = np.tanh(linear(x[0], "bert.pooler.dense"))
            t = gelu(linear(x, "cls.predictions.transform.dense"))
            t = norm(t, w["cls.predictions.transform.LayerNorm.weight"], w["cls.predictions.transform.LayerNorm.bias"])
            rows = {"mlm": t @ w["bert.embeddings.word_embeddings.weight"].T + w["cls.predictions.bias"], "nsp": linear(pooled, "cls.seq_relationship")}
        diff = difference(example["outputs"], outputs_of(kind, example, rows))
        largest = diff if diff != diff or largest != largest else max(largest, diff)
        per_example.append({"text": example["text"], "pair": example["pair"], "max_abs_diff": diff})
    return {
        "reference": "numpy",
        "architecture": architecture,
        "numpy_version": np.__version__,
        "per_example": per_example,
        "max_abs_diff": largest,
        "passed": largest <= tolerance,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder")
    parser.add_argument("--examples", help="a studio-examples.json (default: the one in the folder)")
    parser.add_argument("--tolerance", type=float, default=None, help="largest |logit difference| allowed (default: the file's, 1e-4)")
    parser.add_argument("--reference", choices=("transformers", "numpy"), default="transformers")
    args = parser.parse_args()
    folder = Path(args.folder)
    for name in ("config.json", "model.safetensors"):
        if not (folder / name).is_file():
            emit({"passed": False, "error": f"{folder}: no {name}; expected a Hugging Face export of BERT Studio"}, EXIT_BAD_INPUT)
    source, examples = load_examples(folder, args.examples)
    tolerance = args.tolerance if args.tolerance is not None else float(examples.get("tolerance", 1e-4))
    check = check_with_transformers if args.reference == "transformers" else check_with_numpy
    report = {"folder": str(folder), "examples_file": str(source), "examples": len(examples["examples"]), "tolerance": tolerance, **check(folder, examples, tolerance)}
    emit(report, EXIT_PASSED if report["passed"] else EXIT_FAILED)


if __name__ == "__main__":
    main()
