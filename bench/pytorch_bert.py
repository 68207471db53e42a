#!/usr/bin/env python3
"""PyTorch reference for `npm run bench -- train`: the same BertForPreTraining (Hugging Face's
architecture in plain PyTorch, no transformers package: post-LN encoder, exact-erf GELU, LayerNorm
eps 1e-12, pooler, MLM transform + decoder tied to the word embeddings with its own bias, applied
only at the gathered masked positions, NSP head), the same synthetic batch shape (full-length
sequences, round(0.15*seq) masked positions per example), AdamW (0.9/0.999, eps 1e-6, wd 0.01 off
biases and LayerNorm), global-norm clipping at 1.0, dropout 0.1.

Run it with the interpreter that has Debian's python3-torch, with OpenMP OpenBLAS if unpacked:
  LD_LIBRARY_PATH=/tmp/oblas/root/usr/lib/x86_64-linux-gnu/openblas-openmp \
    /usr/bin/python3 bench/pytorch_bert.py --preset tiny --threads 2
Prints one JSON line: step_ms (median after warm-up), tokens_per_s, the BLAS torch loaded.
"""
import argparse, json, math, os, re, resource, statistics, time

import torch
import torch.nn as nn
import torch.nn.functional as F

PRESETS = {"tiny": (2, 128, 2), "mini": (4, 256, 4), "small": (4, 512, 8), "medium": (8, 512, 8), "base": (12, 768, 12)}


class Layer(nn.Module):
    def __init__(self, H, A, I, p):
        super().__init__()
        self.A, self.d = A, H // A
        self.query, self.key, self.value = nn.Linear(H, H), nn.Linear(H, H), nn.Linear(H, H)
        self.attn_out, self.attn_ln = nn.Linear(H, H), nn.LayerNorm(H, eps=1e-12)
        self.inter, self.out, self.out_ln = nn.Linear(H, I), nn.Linear(I, H), nn.LayerNorm(H, eps=1e-12)
        self.drop = nn.Dropout(p)

    def forward(self, x, mask_add):
        B, T, H = x.shape
        heads = lambda t: t.view(B, T, self.A, self.d).transpose(1, 2)
        q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
        scores = q @ k.transpose(-1, -2) / math.sqrt(self.d) + mask_add
        probs = self.drop(scores.softmax(-1))
        ctx = (probs @ v).transpose(1, 2).reshape(B, T, H)
        a = self.attn_ln(self.drop(self.attn_out(ctx)) + x)
        return self.out_ln(self.drop(self.out(F.gelu(self.inter(a)))) + a)


class BertForPreTraining(nn.Module):
    def __init__(self, V, L, H, A, max_pos=512, p=0.1):
        super().__init__()
        self.word, self.pos, self.seg = nn.Embedding(V, H), nn.Embedding(max_pos, H), nn.Embedding(2, H)
        self.emb_ln, self.drop = nn.LayerNorm(H, eps=1e-12), nn.Dropout(p)
        self.layers = nn.ModuleList([Layer(H, A, 4 * H, p) for _ in range(L)])
        self.pooler = nn.Linear(H, H)
        self.transform, self.transform_ln = nn.Linear(H, H), nn.LayerNorm(H, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(V))
        self.nsp = nn.Linear(H, 2)
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.trunc_normal_(m.weight, std=0.02, a=-0.04, b=0.04)
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

    def forward(self, ids, types, mask, positions, labels, weights, nsp_labels):
        B, T = ids.shape
        x = self.word(ids) + self.pos.weight[:T] + self.seg(types)
        x = self.drop(self.emb_ln(x))
        mask_add = (1.0 - mask[:, None, None, :].float()) * -10000.0
        for layer in self.layers:
            x = layer(x, mask_add)
        pooled = torch.tanh(self.pooler(x[:, 0]))
        gathered = x.reshape(B * T, -1)[(torch.arange(B, device=ids.device)[:, None] * T + positions).reshape(-1)]
        h = self.transform_ln(F.gelu(self.transform(gathered)))
        logits = h @ self.word.weight.t() + self.mlm_bias  # tied decoder
        per = F.cross_entropy(logits, labels.reshape(-1), reduction="none")
        w = weights.reshape(-1)
        mlm = (per * w).sum() / (w.sum() + 1e-5)
        nsp = F.cross_entropy(self.nsp(pooled), nsp_labels)
        return mlm + nsp


def batch(B, T, V, g):
    P = max(1, round(0.15 * T))
    positions = torch.stack([torch.randperm(T - 1, generator=g)[:P].sort().values + 1 for _ in range(B)])
    return (
        torch.randint(5, V, (B, T), generator=g),
        (torch.arange(T)[None, :] >= T // 2).long().expand(B, T).contiguous(),
        torch.ones(B, T, dtype=torch.long),
        positions,
        torch.randint(5, V, (B, P), generator=g),
        torch.ones(B, P),
        torch.arange(B) % 2,
    )


def blas_in_use():
    config = torch.__config__.show()
    blas = re.search(r"BLAS_INFO=(\w+)", config)
    loaded = "unknown"
    try:
        with open("/proc/self/maps") as maps:
            libs = sorted({line.split()[-1] for line in maps if re.search(r"blas|mkl", line.split()[-1] if line.split() else "")})
        loaded = ", ".join(os.path.basename(l) + (" (" + os.path.dirname(l) + ")") for l in libs)
    except OSError:
        pass
    return {"build_blas": blas.group(1) if blas else None, "loaded": loaded, "ld_library_path": os.environ.get("LD_LIBRARY_PATH", "")}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--micro-batch", type=int, default=None)
    ap.add_argument("--vocab", type=int, default=30522)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(1)
    L, H, A = PRESETS[a.preset]
    model = BertForPreTraining(a.vocab, L, H, A, max_pos=max(512, a.seq))
    decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "_ln" in n)]
    nodecay = [p for n, p in model.named_parameters() if n.endswith("bias") or "_ln" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": nodecay, "weight_decay": 0.0}], lr=1e-4, betas=(0.9, 0.999), eps=1e-6)
    micro = a.micro_batch or a.batch
    k = a.batch // micro
    g = torch.Generator().manual_seed(1)
    times, losses = [], []
    model.train()
    for step in range(a.warmup + a.steps):
        micros = [batch(micro, a.seq, a.vocab, g) for _ in range(k)]
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for b in micros:
            loss = model(*b)
            (loss / k).backward()
            total += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        elapsed = (time.perf_counter() - t0) * 1000
        losses.append(round(total / k, 5))
        if step >= a.warmup:
            times.append(elapsed)
    step_ms = statistics.median(times)
    print(json.dumps({
        "bench": "pytorch_bert", "torch": torch.__version__, "threads": torch.get_num_threads(), "blas": blas_in_use(),
        "preset": a.preset, "layers": L, "hidden": H, "heads": A, "vocab": a.vocab, "seq": a.seq, "batch": a.batch, "micro_batch": micro,
        "steps": a.steps, "step_ms": round(step_ms), "step_ms_all": [round(t) for t in times],
        "tokens_per_s": round(a.batch * a.seq * 1000 / step_ms), "losses": losses,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }))


if __name__ == "__main__":
    main()
