#!/usr/bin/env python3
"""BERT Studio training bundle: pre-trains the bundle's BERT with PyTorch, on one process or many.

    python3 train.py                                 # one process (CPU, or the first GPU)
    torchrun --nproc_per_node 8 train.py             # one machine, 8 GPUs (NCCL)
    torchrun --nnodes 2 --node_rank R --nproc_per_node 8 \\
             --master_addr HOST --master_port 29500 train.py   # two machines

Plain PyTorch only (no transformers, no numpy). Everything the job needs is in this folder:
bundle.json (the configuration the studio resolved), manifest.json (the data shards and their
checksums), data/ (the studio's own training instances, already tokenised and masked, in the
order the studio would have fed them), model/ (config.json, the starting weights in
model.safetensors with Hugging Face's names, the tokenizer files and, when the run had started, the
optimizer's moments). It writes into output/: metrics.jsonl (one JSON object per line, the format
of `npx bert-studio metrics`) and checkpoint-N/ folders in the Hugging Face layout
(model.safetensors, config.json, tokenizer files, optimizer.pt, trainer_state.json), each written
into a temporary folder and renamed into place, so a killed job never leaves a half checkpoint.
Started again, it resumes from the latest checkpoint.

Same model, objective, optimizer, schedule and data order as the studio:
- BertForPreTraining, post-LayerNorm, exact (erf) GELU, attention mask (1 - mask) * -10000, MLM
  decoder tied to the word embeddings.
- Objective: the studio's per micro-batch Σ w·CE / (Σ w + 1e-5) for MLM plus mean NSP
  cross-entropy, averaged over the micro-batches of a step. Each instance carries its share of
  that sum (mlm_scale, nsp_scale in the shards), so any split of a step over processes sums to
  exactly the same objective: 1 process and N give the same loss and the same update.
- torch.optim.AdamW (decoupled weight decay, bias correction), no decay on biases and LayerNorm,
  global-norm clipping, linear warm-up then linear decay to 0 (Hugging Face's schedule).
Distributed: DistributedDataParallel, one process per GPU (NCCL) or per CPU slot (gloo); the
global batch is the studio's, cut evenly across the processes.
"""
import argparse
import ctypes
import glob
import hashlib
import json
import math
import os
import shutil
import struct
import sys
import time

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
BUNDLE_FORMAT = "bert-studio-bundle"
BUNDLE_VERSION = 1
TOKENIZER_FILES = ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class BundleError(Exception):
    """A problem with the bundle or the output folder, said in words (no traceback)."""


# ---------------------------------------------------------------------------------------------
# safetensors, by hand: the format is 8 bytes of header length, a JSON header, raw little-endian
# data. Reading and writing it here keeps the bundle free of the safetensors package.

_DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise BundleError(f"{path}: not a safetensors file (too short)")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise BundleError(f"{path}: the header says {n} bytes, the file has {len(data) - 8} after it")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    body = bytearray(data[8 + n :])
    out = {}
    for name, info in header.items():
        if info["dtype"] not in _DTYPES:
            raise BundleError(f"{path}: tensor {name} has dtype {info['dtype']}, expected one of {', '.join(_DTYPES)}")
        dtype = _DTYPES[info["dtype"]]
        start, end = info["data_offsets"]
        size = torch.empty(0, dtype=dtype).element_size()
        count = (end - start) // size
        if count == 0:
            t = torch.empty(0, dtype=dtype)
        else:
            t = torch.frombuffer(body, dtype=dtype, count=count, offset=start)
        out[name] = t.reshape(info["shape"]).clone().float() if dtype != torch.float32 else t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors, metadata=None, dtype=torch.float32):
    """`tensors`: name → tensor (any device); written as `dtype` (float32 unless told), names sorted, header padded to 8 bytes."""
    names = sorted(tensors)
    cpu = {name: tensors[name].detach().to("cpu", dtype).contiguous() for name in names}
    header, offset = {}, 0
    for name in names:
        nbytes = cpu[name].numel() * cpu[name].element_size()
        header[name] = {"dtype": _NAMES[dtype], "shape": list(cpu[name].shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header["__metadata__"] = dict(metadata or {"format": "pt"})
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for name in names:
            t = cpu[name]
            if t.numel() > 0:
                f.write(ctypes.string_at(t.data_ptr(), t.numel() * t.element_size()))
        f.flush()
        os.fsync(f.fileno())


# ---------------------------------------------------------------------------------------------
# The model: Hugging Face's BertForPreTraining, parameter for parameter (same names, same shapes).


class Embeddings(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.word_embeddings = nn.Embedding(c["vocab_size"], c["hidden_size"])
        self.position_embeddings = nn.Embedding(c["max_position_embeddings"], c["hidden_size"])
        self.token_type_embeddings = nn.Embedding(c["type_vocab_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, ids, types):
        T = ids.shape[1]
        x = self.word_embeddings(ids) + self.token_type_embeddings(types) + self.position_embeddings.weight[:T]
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c):
        super().__init__()
        H = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        self.dropout = nn.Dropout(c["attention_probs_dropout_prob"])

    def forward(self, x, mask_add):
        B, T, H = x.shape
        d = H // self.heads
        split = lambda t: t.view(B, T, self.heads, d).transpose(1, 2)
        q = split(self.query(x) * (1.0 / math.sqrt(d)))
        k, v = split(self.key(x)), split(self.value(x))
        probs = self.dropout(torch.softmax(q @ k.transpose(-1, -2) + mask_add, dim=-1))
        return (probs @ v).transpose(1, 2).reshape(B, T, H)


class DenseNorm(nn.Module):
    def __init__(self, c, fan_in):
        super().__init__()
        self.dense = nn.Linear(fan_in, c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])
        self.dropout = nn.Dropout(c["hidden_dropout_prob"])

    def forward(self, x, residual):
        return self.LayerNorm(self.dropout(self.dense(x)) + residual)


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self = SelfAttention(c)
        self.output = DenseNorm(c, c["hidden_size"])

    def forward(self, x, mask_add):
        return self.output(self.self(x, mask_add), x)


class Intermediate(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["intermediate_size"])

    def forward(self, x):
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = DenseNorm(c, c["intermediate_size"])

    def forward(self, x, mask_add):
        a = self.attention(x, mask_add)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.layer = nn.ModuleList([Layer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, x, mask_add):
        for layer in self.layer:
            x = layer(x, mask_add)
        return x


class Pooler(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])

    def forward(self, x):
        return torch.tanh(self.dense(x[:, 0]))


class BertModel(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embeddings = Embeddings(c)
        self.encoder = Encoder(c)
        self.pooler = Pooler(c)

    def forward(self, ids, types, mask):
        mask_add = (1.0 - mask[:, None, None, :].float()) * -10000.0
        sequence = self.encoder(self.embeddings(ids, types), mask_add)
        return sequence, self.pooler(sequence)


class Transform(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.dense = nn.Linear(c["hidden_size"], c["hidden_size"])
        self.LayerNorm = nn.LayerNorm(c["hidden_size"], eps=c["layer_norm_eps"])

    def forward(self, x):
        return self.LayerNorm(F.gelu(self.dense(x)))


class Predictions(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.transform = Transform(c)
        # The decoder is the word embedding matrix itself (tied), as in BERT: only its bias is own.
        self.bias = nn.Parameter(torch.zeros(c["vocab_size"]))


class Heads(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.predictions = Predictions(c)
        self.seq_relationship = nn.Linear(c["hidden_size"], 2)


class BertForPreTraining(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.bert = BertModel(c)
        self.cls = Heads(c)

    def forward(self, ids, types, mask, positions):
        """MLM logits [B, P, V] at `positions` [B, P] and NSP logits [B, 2]."""
        sequence, pooled = self.bert(ids, types, mask)
        gathered = torch.gather(sequence, 1, positions[:, :, None].expand(-1, -1, sequence.shape[-1]))
        h = self.cls.predictions.transform(gathered)
        mlm = h @ self.bert.embeddings.word_embeddings.weight.t() + self.cls.predictions.bias
        return mlm, self.cls.seq_relationship(pooled)


def load_weights(model, weights, source):
    own = dict(model.named_parameters())
    skipped = {"cls.predictions.decoder.weight", "cls.predictions.decoder.bias", "bert.embeddings.position_ids"}
    missing = [name for name in own if name not in weights]
    if missing:
        raise BundleError(f"{source} lacks {len(missing)} weights the model needs: {', '.join(missing[:5])}")
    with torch.no_grad():
        for name, p in own.items():
            w = weights[name]
            if tuple(w.shape) != tuple(p.shape):
                raise BundleError(f"{source}: {name} has shape {list(w.shape)}, the model expects {list(p.shape)}")
            p.copy_(w)
    unknown = [name for name in weights if name not in own and name not in skipped]
    if unknown:
        print(f"note: {source} has weights this model does not use: {', '.join(unknown[:5])}", file=sys.stderr)


def decays(name):
    """The studio's rule (core/train/types.ts excludedFromWeightDecay)."""
    return not (name.endswith(".bias") or "LayerNorm" in name)


# ---------------------------------------------------------------------------------------------
# Data: shards of the studio's instances, columns one after another (see manifest.json "fields").


class Shards:
    def __init__(self, manifest, part, verify):
        self.part = manifest[part]
        self.fields = manifest["fields"]
        self.seq = manifest["seq_length"]
        self.predictions = manifest["max_predictions"]
        self.verify = verify
        self.cache = (None, None)

    def _columns(self, shard):
        path = os.path.join(HERE, shard["file"])
        if self.cache[0] == path:
            return self.cache[1]
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as error:
            raise BundleError(f"{path}: cannot read the shard ({error.strerror}); copy the whole bundle folder")
        if len(data) != shard["bytes"]:
            raise BundleError(f"{path}: {len(data)} bytes, the manifest says {shard['bytes']} (an incomplete copy?)")
        if self.verify and hashlib.sha256(data).hexdigest() != shard["sha256"]:
            raise BundleError(f"{path}: its SHA-256 differs from the manifest's (a damaged copy?)")
        body = bytearray(data)
        n, offset, columns = shard["instances"], 0, {}
        for field in self.fields:
            dtype = {"int32": torch.int32, "uint8": torch.uint8, "float32": torch.float32}[field["dtype"]]
            width = {"seq": self.seq, "predictions": self.predictions, "one": 1}[field["width"]]
            count = n * width
            t = torch.frombuffer(body, dtype=dtype, count=count, offset=offset).view(n, width) if count else torch.empty(n, width, dtype=dtype)
            columns[field["name"]] = t
            offset += count * t.element_size()
        self.cache = (path, columns)
        return columns

    def rows(self, shard_index, start, end):
        shard = self.part["shards"][shard_index]
        columns = self._columns(shard)
        return {name: column[start:end] for name, column in columns.items()}


def to_batch(rows, device):
    long = lambda name: rows[name].to(device=device, dtype=torch.long, non_blocking=True)
    flat = lambda name: rows[name].reshape(-1).to(device=device, non_blocking=True)
    return {
        "ids": long("input_ids"),
        "types": long("token_type_ids"),
        "mask": long("attention_mask"),
        "positions": long("masked_lm_positions"),
        "labels": long("masked_lm_ids"),
        "weights": rows["masked_lm_weights"].to(device=device, dtype=torch.float32),
        "nsp": flat("next_sentence_labels").long(),
        "mlm_scale": flat("mlm_scale").float(),
        "nsp_scale": flat("nsp_scale").float(),
    }


def objective(model, b):
    """This batch's share of the step's objective, and the sums the metrics need."""
    mlm, nsp = model(b["ids"], b["types"], b["mask"], b["positions"])
    V = mlm.shape[-1]
    ce = F.cross_entropy(mlm.reshape(-1, V).float(), b["labels"].reshape(-1), reduction="none").view_as(b["weights"])
    mlm_part = ((ce * b["weights"]).sum(1) * b["mlm_scale"]).sum()
    nsp_ce = F.cross_entropy(nsp.float(), b["nsp"], reduction="none")
    nsp_part = (nsp_ce * b["nsp_scale"]).sum()
    with torch.no_grad():
        hits = (mlm.argmax(-1) == b["labels"]).float()
        sums = torch.stack([
            mlm_part.detach(), nsp_part.detach(),
            (hits * b["weights"]).sum(), b["weights"].sum(),
            (nsp.argmax(-1) == b["nsp"]).float().sum(), torch.tensor(float(b["nsp"].shape[0]), device=nsp.device),
        ])
    return mlm_part + nsp_part, sums


def metrics_of(sums):
    mlm_loss, nsp_loss, hits, weight, nsp_hits, n = [float(x) for x in sums]
    return {
        "loss": mlm_loss + nsp_loss,
        "mlm_loss": mlm_loss,
        "nsp_loss": nsp_loss,
        "mlm_accuracy": hits / weight if weight > 0 else 0.0,
        "nsp_accuracy": nsp_hits / n if n > 0 else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# The job


def learning_rate_at(train, step):
    """core/train/schedule.ts learningRateAt: the rate of the update with 0-based index `step`."""
    total, peak = train["total_steps"], train["learning_rate"]
    warmup = int(math.floor(total * train["warmup_fraction"]))
    if step < warmup:
        return peak * step / max(1, warmup)
    return peak * max(0.0, (total - step) / max(1, total - warmup))


def read_json(path, what):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        raise BundleError(f"{path}: missing — {what}")
    except json.JSONDecodeError as error:
        raise BundleError(f"{path}: not valid JSON (line {error.lineno}: {error.msg})")


def write_json_atomic(path, value):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def checkpoints_in(output):
    """Complete checkpoint folders (renamed into place, so whole) by step, oldest first."""
    found = []
    for path in glob.glob(os.path.join(output, "checkpoint-*")):
        tail = os.path.basename(path)[len("checkpoint-") :]
        if tail.isdigit() and os.path.isfile(os.path.join(path, "trainer_state.json")):
            found.append((int(tail), path))
    return sorted(found)


class Job:
    def __init__(self, args):
        self.args = args
        self.bundle = read_json(os.path.join(HERE, "bundle.json"), "this script runs inside a BERT Studio bundle folder")
        if self.bundle.get("format") != BUNDLE_FORMAT or self.bundle.get("version") != BUNDLE_VERSION:
            raise BundleError(f"bundle.json: format {self.bundle.get('format')!r} version {self.bundle.get('version')!r}, expected {BUNDLE_FORMAT!r} version {BUNDLE_VERSION}")
        self.manifest = read_json(os.path.join(HERE, "manifest.json"), "the bundle's data index")
        self.train = self.bundle["train"]
        self.config = read_json(os.path.join(HERE, "model", "config.json"), "the model's Hugging Face config")
        self.output = os.path.abspath(args.output or os.path.join(HERE, "output"))

        self.rank = int(os.environ.get("RANK", "0"))
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(self.world)))
        if args.device == "auto":
            use_cuda = torch.cuda.is_available()
        else:
            use_cuda = args.device == "cuda"
            if use_cuda and not torch.cuda.is_available():
                raise BundleError("--device cuda, but PyTorch sees no GPU here")
        if use_cuda:
            torch.cuda.set_device(self.local_rank % torch.cuda.device_count())
            self.device = torch.device("cuda", torch.cuda.current_device())
        else:
            self.device = torch.device("cpu")
            torch.set_num_threads(args.threads or max(1, (os.cpu_count() or 1) // max(1, local_world)))
        if self.world > 1:
            dist.init_process_group("nccl" if use_cuda else "gloo")

        B = self.train["batch_size"]
        if B % self.world != 0:
            raise BundleError(f"the global batch of {B} does not split evenly over {self.world} processes: use a process count that divides {B}")
        self.local_batch = B // self.world
        self.micro = args.micro_batch or self.local_batch
        if self.local_batch % self.micro != 0:
            raise BundleError(f"--micro-batch {self.micro} does not divide the {self.local_batch} instances each process takes per step")
        self.total = self.train["total_steps"]
        self.last = min(self.total, args.max_steps) if args.max_steps else self.total
        self.data = Shards(self.manifest, "train", not args.skip_verify)
        self.validation = Shards(self.manifest, "validation", not args.skip_verify)

    def log(self, message):
        if self.rank == 0:
            print(message, flush=True)

    # -- model and optimizer ------------------------------------------------------------------

    def build(self):
        torch.manual_seed(self.train["seed"])
        model = BertForPreTraining(self.config)
        load_weights(model, read_safetensors(os.path.join(HERE, "model", "model.safetensors")), "model/model.safetensors")
        model.to(self.device)
        named = list(model.named_parameters())
        self.names = [name for name, _ in named]
        groups = [
            {"params": [p for n, p in named if decays(n)], "weight_decay": self.train["weight_decay"]},
            {"params": [p for n, p in named if not decays(n)], "weight_decay": 0.0},
        ]
        self.group_names = [[n for n, _ in named if decays(n)], [n for n, _ in named if not decays(n)]]
        optimizer = torch.optim.AdamW(groups, lr=self.train["learning_rate"], betas=(self.train["beta1"], self.train["beta2"]), eps=self.train["epsilon"])
        return model, optimizer

    def load_studio_moments(self, model, optimizer):
        """The run's Adam moments from the studio's checkpoint (model/optimizer.safetensors), so a run continues exactly."""
        path = os.path.join(HERE, "model", "optimizer.safetensors")
        if not os.path.exists(path):
            return
        moments = read_safetensors(path)
        step = self.bundle["train"]["optimizer_step"]
        params = dict(model.named_parameters())
        state = {}
        index = 0
        for names in self.group_names:
            for name in names:
                p = params[name]
                m, v = moments.get(f"exp_avg.{name}"), moments.get(f"exp_avg_sq.{name}")
                if m is None or v is None:
                    raise BundleError(f"{path}: no Adam moments for {name}")
                state[index] = {"step": torch.tensor(float(step)), "exp_avg": m.reshape(p.shape).to(self.device), "exp_avg_sq": v.reshape(p.shape).to(self.device)}
                index += 1
        optimizer.load_state_dict({"state": state, "param_groups": optimizer.state_dict()["param_groups"]})

    # -- checkpoints ----------------------------------------------------------------------------

    def save_checkpoint(self, model, optimizer, step, validation):
        """Rank 0 writes checkpoint-{step}/ into a temporary folder, then renames it into place."""
        if self.rank == 0:
            final = os.path.join(self.output, f"checkpoint-{step}")
            tmp = os.path.join(self.output, f".tmp-checkpoint-{step}-{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
            state = {n: p for n, p in model.state_dict().items()}
            write_safetensors(os.path.join(tmp, "model.safetensors"), state, {"format": "pt"})
            shutil.copyfile(os.path.join(HERE, "model", "config.json"), os.path.join(tmp, "config.json"))
            for name in TOKENIZER_FILES:
                source = os.path.join(HERE, "model", name)
                if os.path.exists(source):
                    shutil.copyfile(source, os.path.join(tmp, name))
            with open(os.path.join(tmp, "optimizer.pt"), "wb") as f:
                torch.save(optimizer.state_dict(), f)
                f.flush()
                os.fsync(f.fileno())
            write_json_atomic(os.path.join(tmp, "trainer_state.json"), {
                "global_step": step,
                "max_steps": self.total,
                "world_size": self.world,
                "validation": validation,
                "bundle": {"run_id": self.bundle["source"].get("run_id"), "created_at": self.bundle["created_at"]},
            })
            fsync_dir(tmp)
            if os.path.exists(final):  # a rerun of the same step: replace it whole
                old = f"{final}.old-{os.getpid()}"
                os.rename(final, old)
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.rename(tmp, final)
            fsync_dir(self.output)
            keep = self.train.get("keep_last", 0)
            if keep:
                for old_step, path in checkpoints_in(self.output)[:-keep]:
                    if old_step not in (step, self.total):
                        shutil.rmtree(path, ignore_errors=True)
        self.barrier()

    def resume(self, model, optimizer):
        """The step to start from: the latest checkpoint in output/, else the bundle's own start."""
        found = checkpoints_in(self.output)
        if not found:
            self.load_studio_moments(model, optimizer)
            return self.train["from_step"]
        step, path = found[-1]
        load_weights(model, read_safetensors(os.path.join(path, "model.safetensors")), f"{path}/model.safetensors")
        with open(os.path.join(path, "optimizer.pt"), "rb") as f:
            optimizer.load_state_dict(torch.load(f, map_location=self.device))
        self.log(f"resuming from {path} (step {step})")
        return step

    def barrier(self):
        if self.world > 1:
            dist.barrier()

    # -- metrics --------------------------------------------------------------------------------

    def open_metrics(self, start):
        path = os.path.join(self.output, "metrics.jsonl")
        if self.rank != 0:
            return None
        # Lines after the checkpoint we resume from were lost with the crash: they are logged again.
        if os.path.exists(path):
            kept = []
            with open(path, encoding="utf-8") as f:
                for line in f:
                    try:
                        if json.loads(line)["step"] <= start:
                            kept.append(line if line.endswith("\n") else line + "\n")
                    except (ValueError, KeyError):
                        break  # a line cut by the crash, and whatever follows it
            tmp = f"{path}.tmp-{os.getpid()}"
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(kept)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        return open(path, "a", encoding="utf-8")

    def write_metrics(self, stream, step, split, values):
        if stream is None:
            return
        now = time.time()
        run_id = self.bundle["source"].get("run_id")
        for name in sorted(values):
            stream.write(json.dumps({"run_id": run_id, "step": step, "split": split, "name": name, "value": values[name], "time": now}) + "\n")
        stream.flush()

    # -- steps ----------------------------------------------------------------------------------

    def rows_of_step(self, step):
        """This process's slice of update `step` (0-based): shard, start and end rows."""
        B = self.train["batch_size"]
        for index, shard in enumerate(self.data.part["shards"]):
            if shard["first_step"] <= step < shard["first_step"] + shard["steps"]:
                base = (step - shard["first_step"]) * B + self.rank * self.local_batch
                return index, base, base + self.local_batch
        raise BundleError(f"the bundle has no data for step {step + 1} (it covers steps {self.train['from_step'] + 1}–{self.total})")

    def evaluate(self, model):
        """The studio's validation: the mean over its validation batches, on rank 0."""
        module = model.module if hasattr(model, "module") else model
        module.eval()
        total = torch.zeros(6, device=self.device)
        with torch.no_grad():
            n = self.manifest["validation"]["instances"]
            for index, shard in enumerate(self.validation.part["shards"]):
                for start in range(0, shard["instances"], 256):
                    rows = self.validation.rows(index, start, min(shard["instances"], start + 256))
                    _, sums = objective(module, to_batch(rows, self.device))
                    total += sums
        module.train()
        return metrics_of(total) if n > 0 else {}

    def run(self):
        os.makedirs(self.output, exist_ok=True)
        if self.rank == 0:
            for leftover in glob.glob(os.path.join(self.output, ".tmp-checkpoint-*")):
                shutil.rmtree(leftover, ignore_errors=True)
            write_json_atomic(os.path.join(self.output, "bundle.json"), self.bundle)
        self.barrier()
        model, optimizer = self.build()
        start = self.resume(model, optimizer)
        stream = self.open_metrics(start)
        if self.world > 1:
            model = nn.parallel.DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None)
        model.train()
        params = [p for p in model.parameters()]
        seq = self.manifest["seq_length"]
        self.log(f"{self.world} process{'es' if self.world > 1 else ''} on {self.device.type}, steps {start + 1}–{self.last} of {self.total}, batch {self.train['batch_size']} ({self.local_batch} per process, micro-batches of {self.micro})")
        validate_every = self.train["validate_every"]
        checkpoint_every = self.train["checkpoint_every"]
        autocast = self.args.bf16 and self.device.type == "cuda"
        for step in range(start, self.last):
            began = time.time()
            # Dropout draws from a stream of (seed, step, process): a resumed run draws the same masks.
            torch.manual_seed((self.train["seed"] * 1_000_003 + step * 4099 + self.rank) % (2**63))
            lr = learning_rate_at(self.train, step)
            for group in optimizer.param_groups:
                group["lr"] = lr
            shard, first, end = self.rows_of_step(step)
            sums = torch.zeros(6, device=self.device)
            micros = list(range(first, end, self.micro))
            for i, at in enumerate(micros):
                batch = to_batch(self.data.rows(shard, at, at + self.micro), self.device)
                sync = i == len(micros) - 1 or self.world == 1
                context = model.no_sync() if (self.world > 1 and not sync) else _nullcontext()
                with context:
                    with (torch.autocast("cuda", dtype=torch.bfloat16) if autocast else _nullcontext()):
                        share, batch_sums = objective(model, batch)
                    # DDP averages gradients over processes; each holds its share of one sum.
                    (share * self.world).backward()
                sums += batch_sums
            max_norm = self.train["max_grad_norm"]
            norm = torch.nn.utils.clip_grad_norm_(params, max_norm if max_norm > 0 else float("inf"))
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if self.world > 1:
                dist.all_reduce(sums)
            done = step + 1
            values = metrics_of(sums)
            elapsed = time.time() - began
            values.update({
                "learning_rate": lr,
                "grad_norm": float(norm),
                "step_time_ms": elapsed * 1000,
                "tokens_per_second": self.train["batch_size"] * seq / max(elapsed, 1e-9),
            })
            if not all(math.isfinite(v) for v in values.values()):
                raise BundleError(f"the loss became NaN or infinite at step {done}; the last checkpoint is kept (try a lower learning rate)")
            self.write_metrics(stream, done, "train", values)
            validation = None
            if done % validate_every == 0 or done == self.last:
                if self.rank == 0:
                    validation = self.evaluate(model)
                    self.write_metrics(stream, done, "validation", validation)
                    self.log(f"step {done}/{self.total}  loss {values['loss']:.4f}  validation MLM loss {validation.get('mlm_loss', float('nan')):.4f}")
                self.barrier()
            if done % checkpoint_every == 0 or done == self.last:
                if stream is not None:
                    os.fsync(stream.fileno())
                self.save_checkpoint(model.module if hasattr(model, "module") else model, optimizer, done, validation)
        module = model.module if hasattr(model, "module") else model
        digest = hashlib.sha256()
        for name, p in sorted(module.state_dict().items()):
            t = p.detach().to("cpu", torch.float32).contiguous()
            digest.update(name.encode())
            if t.numel():
                digest.update(ctypes.string_at(t.data_ptr(), t.numel() * 4))
        # One file per process: identical digests show the processes ended with identical weights.
        with open(os.path.join(self.output, f"final-weights-rank{self.rank}.sha256"), "w") as f:
            f.write(f"{digest.hexdigest()}  step {self.last}\n")
        if stream is not None:
            stream.close()
        self.log(f"done: step {self.last} of {self.total}; output in {self.output}")
        if self.world > 1:
            dist.destroy_process_group()


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def predict(args):
    """MLM and NSP logits of a checkpoint for the inputs in a JSON file (a check against the studio)."""
    job_output = os.path.abspath(args.output or os.path.join(HERE, "output"))
    path = args.checkpoint
    if path is None:
        found = checkpoints_in(job_output)
        if not found:
            raise BundleError(f"{job_output}: no checkpoint yet")
        path = found[-1][1]
    config = read_json(os.path.join(path, "config.json"), "a checkpoint's config")
    model = BertForPreTraining(config)
    load_weights(model, read_safetensors(os.path.join(path, "model.safetensors")), path)
    model.eval()
    inputs = read_json(args.predict, "the inputs to predict")
    with torch.no_grad():
        mlm, nsp = model(*(torch.tensor(inputs[k], dtype=torch.long) for k in ("input_ids", "token_type_ids", "attention_mask", "masked_lm_positions")))
    json.dump({"checkpoint": path, "mlm_logits": mlm.tolist(), "nsp_logits": nsp.tolist()}, sys.stdout)
    print()


def main():
    ap = argparse.ArgumentParser(description="Run a BERT Studio training bundle (see README.md).")
    ap.add_argument("--max-steps", type=int, default=None, help="stop after this step (the schedule stays the configured one)")
    ap.add_argument("--output", default=None, help="where checkpoints and metrics.jsonl go (default: output/ in this folder)")
    ap.add_argument("--micro-batch", type=int, default=None, help="instances per forward pass on each process (default: all of its share of the step)")
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads per process (default: cores / processes on this machine)")
    ap.add_argument("--bf16", action="store_true", help="bfloat16 autocast on GPUs (faster; results no longer match the studio bit for bit)")
    ap.add_argument("--skip-verify", action="store_true", help="do not check the shards' SHA-256")
    ap.add_argument("--predict", default=None, help="JSON inputs: print a checkpoint's MLM/NSP logits instead of training")
    ap.add_argument("--checkpoint", default=None, help="with --predict: the checkpoint folder (default: the latest)")
    args = ap.parse_args()
    try:
        if args.predict:
            predict(args)
        else:
            Job(args).run()
    except BundleError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
