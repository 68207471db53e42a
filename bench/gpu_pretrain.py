#!/usr/bin/env python3
"""Pre-trains a BERT encoder (MLM + NSP) on a GPU from a tokenised corpus, with dynamic masking,
and writes a Hugging Face BertForPreTraining folder that `bert-studio import-model` reads.

The studio's model and recipe: the model, weight-decay rule and safetensors writer imported from the
bundle trainer (resources/bundle/train.py), attention through scaled_dot_product_attention where
torch has it (the same math); post-LN BERT,
exact-erf GELU, LayerNorm eps 1e-12, MLM decoder tied to the word embeddings (own bias) applied
at the gathered masked positions, NSP on the pooled [CLS]; objective Σ w·CE / (Σ w + 1e-5) + mean
NSP CE; AdamW 0.9/0.999, eps 1e-6, weight decay 0.01 except biases and LayerNorm; global-norm
clipping at 1.0; linear warm-up over 10% then linear decay to 0; learning rate and dropout by model
width as the studio's defaults (contract/index.ts defaultPretrainLearningRate / Dropout).

Data: `bert-studio tokenize` output (one JSON line per document: {"input_ids": [CLS ... SEP], ...}),
plain or .gz/.xz, or the same packed by `--pack` (uint16/int32 token ids; 5-10× smaller, loads in
a second). Instances are made on the fly on the training device with vectorised torch ops, fresh
pairs and masks every step (nothing materialised, so a small corpus can run many epochs):
- a document is drawn with weight ceil(len / (seq - 3)) (about one instance per seq's worth of
  text, like BERT's chunking); a window of the target length (seq - 3, or with probability 0.1 a
  uniform 2..seq-3 as BERT's short_seq_prob) at a random offset; A is its first 1..w-1 tokens;
- B is the rest of the window (IsNext, label 0) or, half the time (or when the document has one
  token), as many tokens as A left room for from another document at a random offset (label 1);
- [CLS] A [SEP] B [SEP] [PAD]...; max(1, round(0.15 × length)) positions (at most round(0.15 × seq))
  chosen among A and B tokens, 80% [MASK], 10% a random non-special token, 10% unchanged.
A fixed 1% of the documents (a permutation independent of --seed) is held out, never trained on;
--eval-batches fixed batches from it give the validation MLM loss and accuracy.
(The studio's own generator splits documents at sentence boundaries; this one at any token.)

Schedule: with --steps only, the studio's step schedule exactly. With --minutes, the schedule runs
on the fraction of the time budget used (max of it and step/--steps when both are given), so the
rate reaches 0 when time is up and training stops there; the budget counts from the start of the
process and keeps back time for the final evaluation and the save. Not reproducible step for step.

  node bin/bert-studio.js tokenize --home H --tokenizer 1 --input corpus.txt --output ids.jsonl
  python3 bench/gpu_pretrain.py --ids ids.jsonl --tokenizer HF_DIR --pack ids.bin.xz   # optional
  python3 bench/gpu_pretrain.py --ids ids.bin.xz --tokenizer HF_DIR --preset mini --minutes 8 \\
      --bf16 --out OUT
  node bin/bert-studio.js import-model OUT --home H --name NAME

Prints one JSON line per evaluation on stdout (also written to OUT/metrics.jsonl): step, seconds,
train_loss (mean since the last evaluation), validation_mlm_loss, validation_mlm_accuracy,
validation_nsp_accuracy, learning_rate, tokens_per_s (batch × seq per second of training).
"""
import time

STARTED = time.time()  # --minutes counts from here, before torch is imported

import argparse
import ctypes
import gzip
import importlib.util
import inspect
import json
import lzma
import math
import os
import re
import shutil
import struct
import sys
from array import array

import torch
import torch.nn as nn
import torch.nn.functional as F

# The studio's bundle trainer: its model (Hugging Face's BertForPreTraining), weight-decay rule and
# safetensors writer, so that this script trains and saves exactly what the bundles do.
_spec = importlib.util.spec_from_file_location("bundle_train", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "resources", "bundle", "train.py"))
bundle = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bundle)

PRESETS = {"tiny": (2, 128, 2), "mini": (4, 256, 4), "small": (4, 512, 8), "medium": (8, 512, 8), "base": (12, 768, 12)}
TOKENIZER_FILES = bundle.TOKENIZER_FILES
PACK_MAGIC = b"BSTOK1\n"
TRANSFORMERS_VERSION = "4.44.2"  # what the studio's exports say (core/io/huggingface.ts)
HELD_OUT_SEED = 0x5EED  # the held-out documents do not depend on --seed
MiB = 1024 * 1024


def log(message):
    print(f"[{time.time() - STARTED:7.1f}s] {message}", file=sys.stderr, flush=True)


def fail(message, code=2):
    print(f"error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


# ---------------------------------------------------------------------------------------------
# Input: tokenizer vocabulary, tokenised documents


def read_vocab(folder):
    """Token → id from vocab.txt (one token a line) or tokenizer.json (model.vocab), and the special ids."""
    vocab, special = None, set()
    path = os.path.join(folder, "vocab.txt")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            vocab = {line.rstrip("\n"): i for i, line in enumerate(f)}
    tj = os.path.join(folder, "tokenizer.json")
    if os.path.exists(tj):
        with open(tj, encoding="utf-8") as f:
            spec = json.load(f)
        if vocab is None:
            vocab = dict(spec["model"]["vocab"])
        special |= {t["id"] for t in spec.get("added_tokens", []) if t.get("special")}
    if vocab is None:
        fail(f"{folder}: no vocab.txt or tokenizer.json")
    ids = {}
    for name in ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"):
        if name not in vocab:
            fail(f"{folder}: the vocabulary has no {name}")
        ids[name] = vocab[name]
    special |= set(ids.values())
    return len(vocab), ids, sorted(special)


def open_maybe_compressed(path):
    with open(path, "rb") as f:
        head = f.read(6)
    if head[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if head == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    return open(path, "rb")


_IDS = re.compile(rb'"input_ids"\s*:\s*\[([^\]]*)\]')


def read_documents(path, cls_id, sep_id):
    """(tokens int32 [N], starts int64 [D], lengths int64 [D]) without each line's [CLS]/[SEP]; empty lines skipped."""
    with open_maybe_compressed(path) as f:
        head = f.read(len(PACK_MAGIC))
        if head == PACK_MAGIC:
            header = json.loads(f.readline())
            D, N = header["documents"], header["tokens"]
            lengths = torch.frombuffer(bytearray(f.read(8 * D)), dtype=torch.int64) if D else torch.zeros(0, dtype=torch.int64)
            width = 2 if header["dtype"] == "uint16" else 4
            raw = bytearray(f.read(width * N))
            if len(raw) != width * N or lengths.numel() != D:
                fail(f"{path}: the packed file is truncated")
            if width == 2:
                tokens = torch.frombuffer(raw, dtype=torch.int16).to(torch.int32) & 0xFFFF
            else:
                tokens = torch.frombuffer(raw, dtype=torch.int32).clone()
            starts = torch.cumsum(lengths, 0) - lengths
            return tokens, starts, lengths.clone()
        flat, lengths = array("i"), array("q")
        line_number = 0
        for line in _chain(head, f):
            line_number += 1
            m = _IDS.search(line)
            if m is None:
                if line.strip():
                    fail(f"{path} line {line_number}: no \"input_ids\" (expected `bert-studio tokenize` output)")
                continue
            body = m.group(1).strip()
            ids = [int(x) for x in body.split(b",")] if body else []
            if ids and ids[0] == cls_id:
                ids = ids[1:]
            if ids and ids[-1] == sep_id:
                ids = ids[:-1]
            if ids:
                flat.extend(ids)
                lengths.append(len(ids))
    tokens = torch.tensor(flat, dtype=torch.int32) if len(flat) else torch.zeros(0, dtype=torch.int32)
    lengths = torch.tensor(lengths, dtype=torch.int64)
    return tokens, torch.cumsum(lengths, 0) - lengths, lengths


def _chain(head, f):
    """Lines of a binary file whose first bytes were already read."""
    first = head + f.readline()
    yield first
    for line in f:
        yield line


def pack(tokens, lengths, vocab_size, out):
    """Writes the documents compactly: magic, a JSON line, int64 lengths, uint16 (or int32) tokens."""
    dtype = "uint16" if vocab_size <= 65536 else "int32"
    body = tokens.to(torch.int16 if dtype == "uint16" else torch.int32).contiguous()
    header = json.dumps({"documents": int(lengths.numel()), "tokens": int(tokens.numel()), "dtype": dtype, "vocab_size": vocab_size}).encode() + b"\n"
    opener = lzma.open if out.endswith(".xz") else gzip.open if out.endswith(".gz") else open
    with opener(out, "wb") as f:
        f.write(PACK_MAGIC)
        f.write(header)
        f.write(_bytes(lengths.contiguous()))
        f.write(_bytes(body))


def _bytes(t):
    return ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()) if t.numel() else b""


# ---------------------------------------------------------------------------------------------
# Dynamic instances, vectorised on the training device


class Pool:
    """A set of documents held on the device: the flat tokens and each document's start and length."""

    def __init__(self, tokens, starts, lengths, seq, device):
        self.tokens = tokens.to(device)
        self.starts = starts.to(device)
        self.lengths = lengths.to(device)
        self.count = int(lengths.numel())
        self.cum = torch.cumsum((lengths + (seq - 4)) // (seq - 3), 0).to(device)  # ceil(len / (seq - 3))
        self.total = int(self.cum[-1])


class Instances:
    def __init__(self, seq, vocab_size, special_ids, special, device):
        self.T, self.V, self.device = seq, vocab_size, device
        self.P = max(1, round(0.15 * seq))
        self.CLS, self.SEP, self.MASK, self.PAD = special["[CLS]"], special["[SEP]"], special["[MASK]"], special["[PAD]"]
        keep = torch.ones(vocab_size, dtype=torch.bool)
        keep[torch.tensor(special_ids, dtype=torch.long)] = False
        self.normal = torch.nonzero(keep).flatten().to(device)  # random replacements: never a special token
        self.j = torch.arange(seq, device=device)[None, :]
        self.p = torch.arange(self.P, device=device)[None, :]

    def batch(self, pool, B, g):
        dev, T, P, j = self.device, self.T, self.P, self.j
        n = T - 3
        rand = lambda *shape: torch.rand(*shape, generator=g, device=dev)
        below = lambda m: torch.minimum((rand(m.shape) * m).long(), m - 1)  # uniform in [0, m), m ≥ 1
        docs = lambda: torch.searchsorted(pool.cum, torch.randint(0, pool.total, (B,), generator=g, device=dev), right=True)

        d = docs()
        L, S = pool.lengths[d], pool.starts[d]
        full = torch.full_like(L, n)
        target = torch.where(rand(B) < 0.1, 2 + below(full - 1), full)
        w = torch.minimum(target, L)
        s = S + below(L - w + 1)
        la = torch.where(w >= 2, 1 + below((w - 1).clamp(min=1)), w)
        is_random = (rand(B) < 0.5) | (w < 2)
        if pool.count > 1:
            d2 = docs()
            d2 = torch.where(d2 == d, (d + 1 + below(torch.full_like(d, pool.count - 1))) % pool.count, d2)
        else:
            d2 = d
        L2 = pool.lengths[d2]
        lb_random = torch.minimum(target - la, L2)
        bs_random = pool.starts[d2] + below(L2 - lb_random + 1)
        lb = torch.where(is_random, lb_random, w - la)
        bs = torch.where(is_random, bs_random, s + la)

        la_, lb_ = la[:, None], lb[:, None]
        in_a = (j >= 1) & (j <= la_)
        in_b = (j >= la_ + 2) & (j < la_ + 2 + lb_)
        length = la + lb + 3
        valid = j < length[:, None]
        index = torch.where(in_a, s[:, None] + j - 1, torch.where(in_b, bs[:, None] + j - la_ - 2, torch.zeros_like(j)))
        ids = torch.where(in_a | in_b, pool.tokens[index].long(), torch.full_like(index, self.PAD))
        ids = torch.where((j == la_ + 1) | (j == la_ + 2 + lb_), torch.full_like(ids, self.SEP), ids)
        ids[:, 0] = self.CLS
        types = ((j >= la_ + 2) & valid).long()
        mask = valid.long()

        # Masking: the P smallest random keys among A and B tokens; the first `num` of them count.
        num = torch.clamp(torch.round(length.float() * 0.15).long(), 1, P)
        keys = torch.where(in_a | in_b, rand(B, T), torch.full((B, T), 2.0, device=dev))
        positions = torch.topk(keys, P, dim=1, largest=False).indices
        weights = self.p < num[:, None]
        positions = torch.where(weights, positions, torch.zeros_like(positions))
        labels = ids.gather(1, positions)
        u = rand(B, P)
        random_tokens = self.normal[torch.randint(0, self.normal.numel(), (B, P), generator=g, device=dev)]
        new = torch.where(u < 0.8, torch.full_like(labels, self.MASK), torch.where(u < 0.9, random_tokens, labels))
        ids = ids.scatter(1, positions, torch.where(weights, new, labels))
        labels = torch.where(weights, labels, torch.zeros_like(labels))
        return ids, types, mask, positions, labels, weights.float(), is_random.long()


# ---------------------------------------------------------------------------------------------
# The model: Hugging Face's BertForPreTraining, parameter for parameter (names as in train.py)

HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


class FastSelfAttention(bundle.SelfAttention):
    """The bundle's self-attention through scaled_dot_product_attention (fused kernels on CUDA): the
    same softmax(q·kᵀ/√d + mask) · v with the same additive mask, dropout on the probabilities."""

    def forward(self, x, mask_add):
        B, T, H = x.shape
        d = H // self.heads
        split = lambda t: t.view(B, T, self.heads, d).transpose(1, 2)
        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        p = self.dropout.p if self.training else 0.0
        ctx = F.scaled_dot_product_attention(q, k, v, attn_mask=mask_add.to(q.dtype), dropout_p=p)
        return ctx.transpose(1, 2).reshape(B, T, H)


def new_model(c):
    """The bundle's BertForPreTraining (Hugging Face's names and shapes, the studio's forward pass),
    attention through SDPA where torch has it, weights drawn as BERT's (truncated normal, zero biases)."""
    model = bundle.BertForPreTraining(c)
    if HAS_SDPA:
        for layer in model.bert.encoder.layer:
            layer.attention.self.__class__ = FastSelfAttention
    r = c["initializer_range"]
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.trunc_normal_(m.weight, std=r, a=-2 * r, b=2 * r)
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)
    return model


def objective(model, batch, sums=False):
    """The studio's per-batch loss, and with `sums` what the metrics need (MLM loss·w, hits·w, w, NSP hits, n)."""
    ids, types, mask, positions, labels, weights, nsp_labels = batch
    mlm, nsp = model(ids, types, mask, positions)
    ce = F.cross_entropy(mlm.reshape(-1, mlm.shape[-1]).float(), labels.reshape(-1), reduction="none").view_as(weights)
    mlm_loss = (ce * weights).sum() / (weights.sum() + 1e-5)
    nsp_loss = F.cross_entropy(nsp.float(), nsp_labels)
    if not sums:
        return mlm_loss + nsp_loss, None
    with torch.no_grad():
        totals = torch.stack([
            (ce * weights).sum(), ((mlm.argmax(-1) == labels).float() * weights).sum(), weights.sum(),
            (nsp.argmax(-1) == nsp_labels).float().sum(), torch.tensor(float(nsp_labels.numel()), device=ids.device),
        ])
    return mlm_loss + nsp_loss, totals


# ---------------------------------------------------------------------------------------------
# Output: safetensors (F32 or F16, the bundle's writer), config.json, tokenizer files, README


def write_safetensors(path, tensors, dtype):
    """The bundle's writer, atomically (a temporary file renamed); the file's size."""
    tmp = f"{path}.tmp-{os.getpid()}"
    bundle.write_safetensors(tmp, tensors, {"format": "pt"}, dtype=dtype)
    os.replace(tmp, path)
    return os.path.getsize(path)


def hf_config(c, dtype):
    json_ = dict(c)
    json_.update({
        "architectures": ["BertForPreTraining"], "classifier_dropout": None, "model_type": "bert", "position_embedding_type": "absolute",
        "torch_dtype": "float16" if dtype == torch.float16 else "float32", "transformers_version": TRANSFORMERS_VERSION, "use_cache": True,
    })
    return {k: json_[k] for k in sorted(json_)}


def save(out, model, config, args, tokenizer_dir, history, summary):
    os.makedirs(out, exist_ok=True)
    state = model.state_dict()
    params = sum(t.numel() for t in state.values())
    limit = args.max_file_mb * MiB
    if args.save_dtype == "auto":
        dtype = torch.float32 if params * 4 + 64 * 1024 <= limit else torch.float16
    else:
        dtype = torch.float32 if args.save_dtype == "float32" else torch.float16
    for stale in [p for p in os.listdir(out) if p.startswith("model.safetensors")]:
        os.remove(os.path.join(out, stale))
    path = os.path.join(out, "model.safetensors")
    size = write_safetensors(path, state, dtype)
    parts = []
    if args.split_mb and size > args.split_mb * MiB:
        # For a transport that caps file sizes: `cat model.safetensors.part-* > model.safetensors` joins them.
        chunk = args.split_mb * MiB
        with open(path, "rb") as f:
            i = 0
            while True:
                data = f.read(chunk)
                if not data:
                    break
                parts.append(f"model.safetensors.part-{i:02d}")
                with open(os.path.join(out, parts[-1]), "wb") as g:
                    g.write(data)
                i += 1
        os.remove(path)
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump(hf_config(config, dtype), f, indent=2)
        f.write("\n")
    copied = []
    for name in TOKENIZER_FILES:
        source = os.path.join(tokenizer_dir, name)
        if os.path.exists(source):
            shutil.copyfile(source, os.path.join(out, name))
            copied.append(name)
    with open(os.path.join(out, "metrics.jsonl"), "w", encoding="utf-8") as f:
        for line in history:
            f.write(json.dumps(line) + "\n")
    last = history[-1] if history else {}
    card = [
        "---", "library_name: transformers", "pipeline_tag: fill-mask", "tags:", '  - "bert"', '  - "bert-studio"', '  - "pre-training"', "---", "",
        f"# {os.path.basename(os.path.abspath(out))}", "",
        "Pre-trained by `bench/gpu_pretrain.py` (PyTorch, the studio's BertForPreTraining recipe with dynamic masking).", "",
        "## Task", "", "fill-mask — `BertForPreTraining`.", "",
        "## Model", "",
        f"{config['num_hidden_layers']} layers, hidden size {config['hidden_size']}, {config['num_attention_heads']} attention heads, "
        f"intermediate size {config['intermediate_size']}, vocabulary {config['vocab_size']}, up to {config['max_position_embeddings']} positions; "
        f"{params:,} parameters, saved as {'float16' if dtype == torch.float16 else 'float32'}.", "",
        "## Evaluation", "", "| Metric | Value |", "| --- | --- |",
    ]
    for key in ("step", "validation_mlm_loss", "validation_mlm_accuracy", "validation_nsp_accuracy", "train_loss"):
        if key in last:
            card.append(f"| {key} | {last[key]:.6g} |" if isinstance(last[key], float) else f"| {key} | {last[key]} |")
    card += ["", "## Training", "", "```json", json.dumps(summary, indent=2), "```", ""]
    if parts:
        card += ["## Joining the weights", "", f"model.safetensors was split into {len(parts)} parts for transport; before importing:", "",
                 "```sh", "cat model.safetensors.part-* > model.safetensors && rm model.safetensors.part-*", "```", ""]
    with open(os.path.join(out, "README.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(card))
    files = sorted(os.listdir(out))
    return {"params": params, "dtype": str(dtype).replace("torch.", ""), "safetensors_bytes": size, "parts": parts, "tokenizer_files": copied,
            "files": {name: os.path.getsize(os.path.join(out, name)) for name in files}}


# ---------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description="Pre-train a BERT (MLM + NSP) with dynamic masking; write a Hugging Face folder.")
    ap.add_argument("--ids", required=True, help="`bert-studio tokenize` output (.jsonl, .gz, .xz) or a --pack file")
    ap.add_argument("--tokenizer", required=True, help="folder with vocab.txt and/or tokenizer.json (+ tokenizer_config.json, special_tokens_map.json)")
    ap.add_argument("--pack", default=None, help="write the documents of --ids packed into this file (.xz/.gz compress it) and exit")
    ap.add_argument("--out", default=None, help="output folder (Hugging Face BertForPreTraining)")
    ap.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=None, help="peak rate; default by width as the studio: 1e-3 up to hidden 256, 5e-4 up to 512, else 1e-4")
    ap.add_argument("--dropout", type=float, default=None, help="hidden and attention dropout; default 0 up to hidden 256, else 0.1 (the studio's)")
    ap.add_argument("--warmup", type=float, default=0.1, help="fraction of the schedule spent warming up")
    ap.add_argument("--steps", type=int, default=None, help="optimizer steps (the schedule's length)")
    ap.add_argument("--minutes", type=float, default=None, help="wall-clock budget from the process start, evaluation and save included")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast on CUDA")
    ap.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA; compiles before the clock starts)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (CPU device)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--eval-batches", type=int, default=8, help="fixed held-out batches of --batch instances")
    ap.add_argument("--save-every", type=int, default=0, help="also save the folder every N steps (0: at the end only)")
    ap.add_argument("--save-dtype", default="auto", choices=["auto", "float32", "float16"], help="auto: float32 if it fits --max-file-mb, else float16")
    ap.add_argument("--max-file-mb", type=float, default=16)
    ap.add_argument("--split-mb", type=int, default=0, help="split a model.safetensors larger than this into raw parts (transport only; 0: never)")
    a = ap.parse_args()

    vocab_size, special, special_ids = read_vocab(a.tokenizer)
    tokens, starts, lengths = read_documents(a.ids, special["[CLS]"], special["[SEP]"])
    if tokens.numel() and int(tokens.max()) >= vocab_size:
        fail(f"{a.ids} has token id {int(tokens.max())} but {a.tokenizer} has {vocab_size} tokens: another tokenizer's ids?")
    log(f"{a.ids}: {lengths.numel():,} documents, {tokens.numel():,} tokens (median document {int(lengths.median()) if lengths.numel() else 0})")
    if a.pack:
        pack(tokens, lengths, vocab_size, a.pack)
        log(f"packed into {a.pack}: {os.path.getsize(a.pack):,} bytes")
        return
    if a.out is None:
        fail("--out is needed (or --pack)")
    if a.steps is None and a.minutes is None:
        fail("give --steps N and/or --minutes M")
    if lengths.numel() < 2:
        fail("need at least two non-empty documents (one is held out)")
    if not 8 <= a.seq <= 512:
        fail("--seq must be 8..512")

    if a.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(a.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            fail("--device cuda, but PyTorch sees no GPU")
    if device.type == "cpu" and a.threads:
        torch.set_num_threads(a.threads)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    autocast = a.bf16 and device.type == "cuda"

    # A fixed 1% of the documents is held out.
    D = lengths.numel()
    order = torch.randperm(D, generator=torch.Generator().manual_seed(HELD_OUT_SEED))
    held_n = max(1, round(0.01 * D))
    held, train = order[:held_n].sort().values, order[held_n:].sort().values

    def subset(docs):
        ls = lengths[docs]
        pieces = [tokens[int(s) : int(s) + int(n)] for s, n in zip(starts[docs].tolist(), ls.tolist())]
        flat = torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.int32)
        return Pool(flat, torch.cumsum(ls, 0) - ls, ls, a.seq, device)

    train_pool, held_pool = subset(train), subset(held)
    log(f"train {train_pool.count:,} documents ({train_pool.tokens.numel():,} tokens), held out {held_pool.count:,} ({held_pool.tokens.numel():,} tokens)")

    L, H, A = PRESETS[a.preset]
    dropout = a.dropout if a.dropout is not None else (0.0 if H <= 256 else 0.1)
    lr = a.lr if a.lr is not None else (1e-3 if H <= 256 else 5e-4 if H <= 512 else 1e-4)
    config = {
        "attention_probs_dropout_prob": dropout, "hidden_act": "gelu", "hidden_dropout_prob": dropout, "hidden_size": H,
        "initializer_range": 0.02, "intermediate_size": 4 * H, "layer_norm_eps": 1e-12, "max_position_embeddings": 512,
        "num_attention_heads": A, "num_hidden_layers": L, "pad_token_id": special["[PAD]"], "type_vocab_size": 2, "vocab_size": vocab_size,
    }
    torch.manual_seed(a.seed)
    model = new_model(config).to(device)
    params = sum(p.numel() for p in model.parameters())
    named = list(model.named_parameters())
    groups = [{"params": [p for n, p in named if bundle.decays(n)], "weight_decay": 0.01}, {"params": [p for n, p in named if not bundle.decays(n)], "weight_decay": 0.0}]
    kw = {}
    if device.type == "cuda" and "fused" in inspect.signature(torch.optim.AdamW).parameters:
        kw["fused"] = True
    opt = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), eps=1e-6, **kw)
    step_fn = torch.compile(model) if (a.compile and device.type == "cuda" and hasattr(torch, "compile")) else model
    log(f"{a.preset}: {L} layers × {H} hidden × {A} heads, vocabulary {vocab_size:,}, {params:,} parameters ({params * 4 / MiB:.1f} MiB float32); "
        f"seq {a.seq}, batch {a.batch}, lr {lr:g}, dropout {dropout:g}, device {device}{' ' + torch.cuda.get_device_name(device) if device.type == 'cuda' else ''}, "
        f"torch {torch.__version__}, sdpa {HAS_SDPA}, bf16 {autocast}, fused AdamW {bool(kw)}, compile {step_fn is not model}")

    maker = Instances(a.seq, vocab_size, special_ids, special, device)
    g_eval = torch.Generator(device=device).manual_seed(HELD_OUT_SEED)
    eval_batches = [maker.batch(held_pool, a.batch, g_eval) for _ in range(a.eval_batches)]
    fill = float(sum(b[2].float().mean() for b in eval_batches) / len(eval_batches))
    log(f"non-padding share of a batch (held-out sample): {fill:.2f}")
    g = torch.Generator(device=device).manual_seed(a.seed)
    amp = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if autocast else (lambda: _Null())
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    def evaluate():
        model.eval()
        total = torch.zeros(5, device=device)
        with torch.no_grad():
            for b in eval_batches:
                with amp():
                    _, sums = objective(step_fn, b, sums=True)
                total += sums
        model.train()
        ce, hits, w, nsp_hits, n = total.tolist()
        return {"validation_mlm_loss": ce / w, "validation_mlm_accuracy": hits / w, "validation_nsp_accuracy": nsp_hits / n}

    model.train()
    if device.type == "cuda":  # compile / initialise kernels before the clock starts: one forward and backward, no update
        with amp():
            loss, _ = objective(step_fn, maker.batch(train_pool, a.batch, torch.Generator(device=device).manual_seed(a.seed + 1)))
        loss.backward()
        opt.zero_grad(set_to_none=True)
        sync()
    t_eval = time.time()
    history = []
    first = {"step": 0, "seconds": round(time.time() - STARTED, 2), "train_loss": None, **evaluate(), "learning_rate": 0.0, "tokens_per_s": None}
    eval_seconds = time.time() - t_eval
    print(json.dumps(first), flush=True)
    history.append(first)

    train_start = time.time()
    deadline = None
    if a.minutes is not None:
        save_seconds = 2 + params * 4 / (100 * MiB)
        deadline = STARTED + a.minutes * 60 - 2 * eval_seconds - save_seconds - 2
        if deadline <= train_start:
            fail(f"--minutes {a.minutes}: no time left to train after loading ({train_start - STARTED:.0f} s)")

    def progress(step):
        p = step / a.steps if a.steps else 0.0
        if deadline is not None:
            p = max(p, (time.time() - train_start) / (deadline - train_start))
        return p

    def rate(step):
        if a.steps and deadline is None:  # the studio's step schedule (core/train/schedule.ts)
            warm = int(math.floor(a.steps * a.warmup))
            return lr * step / max(1, warm) if step < warm else lr * max(0.0, (a.steps - step) / max(1, a.steps - warm))
        p = min(1.0, progress(step))
        return lr * p / a.warmup if p < a.warmup else lr * max(0.0, (1 - p) / (1 - a.warmup))

    params_list = [p for p in model.parameters()]
    loss_sum = torch.zeros((), device=device)
    since, since_time, train_time = 0, time.time(), 0.0
    summary = {"preset": a.preset, "seq": a.seq, "batch": a.batch, "peak_lr": lr, "dropout": dropout, "warmup": a.warmup, "steps": a.steps,
               "minutes": a.minutes, "bf16": autocast, "compile": step_fn is not model, "seed": a.seed, "device": str(device),
               "documents": {"train": train_pool.count, "held_out": held_pool.count, "train_tokens": int(train_pool.tokens.numel())},
               "masking": "dynamic: fresh pairs and masks every step; 15% of tokens, 80/10/10; NSP 50% random B", "torch": torch.__version__}

    def report(step, learning_rate):
        """One evaluation line for the steps since the last: their mean loss and speed, the held-out metrics."""
        nonlocal since, since_time, train_time
        sync()
        elapsed = time.time() - since_time
        train_time += elapsed
        train_loss = float(loss_sum) / since
        if not math.isfinite(train_loss):
            fail(f"the training loss became {train_loss} by step {step}: try a lower --lr", 3)
        line = {"step": step, "seconds": round(time.time() - STARTED, 2), "train_loss": train_loss, **evaluate(),
                "learning_rate": learning_rate, "tokens_per_s": round(since * a.batch * a.seq / max(elapsed, 1e-9))}
        print(json.dumps(line), flush=True)
        history.append(line)
        loss_sum.zero_()
        since, since_time = 0, time.time()

    step = 0
    while True:
        if a.steps and step >= a.steps:
            break
        if deadline is not None and progress(step) >= 1.0:
            break
        current = rate(step)
        for group in opt.param_groups:
            group["lr"] = current
        batch = maker.batch(train_pool, a.batch, g)
        with amp():
            loss, _ = objective(step_fn, batch)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params_list, 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        loss_sum += loss.detach()
        step += 1
        since += 1
        if step % a.eval_every == 0 or (a.save_every and step % a.save_every == 0):
            if step % a.eval_every == 0:
                report(step, current)
            if a.save_every and step % a.save_every == 0:
                sync()
                t_save = time.time()
                save(a.out, model, config, a, a.tokenizer, history, dict(summary, stopped_at_step=step))
                since_time += time.time() - t_save  # the save is not training time

    sync()
    if since:
        report(step, rate(step) if deadline is None else 0.0)
    summary.update({"stopped_at_step": step, "train_seconds": round(train_time, 1), "tokens_seen": step * a.batch * a.seq,
                    "epochs_of_train_tokens": round(step * a.batch * a.seq * fill / max(1, train_pool.tokens.numel()), 2)})
    saved = save(a.out, model, config, a, a.tokenizer, history, summary)
    log(f"saved {a.out}: {json.dumps(saved)}")
    log(f"done: {step} steps, {train_time:.1f} s training, {time.time() - STARTED:.1f} s in all")


class _Null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    main()
