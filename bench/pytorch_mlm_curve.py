#!/usr/bin/env python3
"""Learning-curve reference for the studio's pre-training: the same Tiny BertForPreTraining as
bench/pytorch_bert.py, trained in PyTorch on the same tokenised corpus with the same recipe
(15% of tokens chosen, 80/10/10; AdamW 0.9/0.999, eps 1e-6, wd 0.01 off biases and LayerNorm;
linear warm-up over 10% then linear decay; clipping at 1.0; NSP on 50% random second segments),
printing the held-out MLM loss every --eval-every steps, so the studio's curve can be read beside
it: a slower curve in the studio would point at an engine problem, the same curve at compute.

  node out/main/cli.js tokenize --tokenizer DIR --input corpus.txt --output ids.jsonl
  /usr/bin/python3 bench/pytorch_mlm_curve.py --ids ids.jsonl --vocab 8192 --steps 2500
Prints one JSON line per evaluation: {"step", "validation_mlm_loss", "validation_mlm_accuracy"}.
"""
import argparse, json, math, random

import torch
import torch.nn.functional as F

from pytorch_bert import PRESETS, BertForPreTraining


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ids", required=True)
    ap.add_argument("--vocab", type=int, required=True)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2500)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--eval-every", type=int, default=250)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--warmup", type=float, default=0.1, help="fraction of the steps spent warming up")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda to explore recipes quickly on a GPU")
    a = ap.parse_args()
    dev = torch.device(a.device)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = random.Random(a.seed)
    docs = [json.loads(line)["input_ids"][1:-1] for line in open(a.ids)]
    docs = [d for d in docs if len(d) >= 8]
    cut = max(1, len(docs) // 20)
    train, held = docs[cut:], docs[:cut]
    T, B = a.seq, a.batch
    P = max(1, round(0.15 * T))
    special = {0, 1, 2, 3, 4}

    def instance(pool, r):
        """[CLS] A [SEP] B [SEP]: B follows A half the time, else comes from another document."""
        d = pool[r.randrange(len(pool))]
        n = T - 3
        la = r.randint(1, n - 1)
        s = r.randrange(max(1, len(d) - n))
        first = d[s : s + la]
        if r.random() < 0.5 and len(pool) > 1:
            other = pool[r.randrange(len(pool))]
            t = r.randrange(max(1, len(other) - n))
            second, nsp = other[t : t + n - len(first)], 1
        else:
            second, nsp = d[s + la : s + n], 0
        ids = [2] + first + [3] + second + [3]
        types = [0] * (len(first) + 2) + [1] * (len(second) + 1)
        cand = [i for i, t in enumerate(ids) if t not in special]
        r.shuffle(cand)
        pos = sorted(cand[: min(P, max(1, round(len(ids) * 0.15)))])
        labels = [ids[p] for p in pos]
        for p in pos:
            x = r.random()
            if x < 0.8:
                ids[p] = 4  # [MASK]
            elif r.random() >= 0.5:
                ids[p] = r.randrange(5, a.vocab)
        pad = T - len(ids)
        w = [1.0] * len(pos) + [0.0] * (P - len(pos))
        return ids + [0] * pad, types + [0] * pad, [1] * (T - pad) + [0] * pad, pos + [0] * (P - len(pos)), labels + [0] * (P - len(pos)), w, nsp

    def make(pool, r, n):
        rows = [instance(pool, r) for _ in range(n)]
        return [torch.tensor([row[i] for row in rows], dtype=torch.float if i == 5 else torch.long, device=dev) for i in range(7)]

    held_batches = [make(held, random.Random(1000 + i), B) for i in range(16)]
    L, H, A = PRESETS[a.preset]
    model = BertForPreTraining(a.vocab, L, H, A, p=a.dropout).to(dev)
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=a.lr, betas=(0.9, 0.999), eps=1e-6)
    warm = max(1, int(a.warmup * a.steps))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (a.steps - s) / max(1, a.steps - warm)))

    def evaluate(step):
        model.eval()
        total = correct = count = 0.0
        with torch.no_grad():
            for ids, types, mask, pos, labels, w, nsp in held_batches:
                Bn, Tn = ids.shape
                x = model.word(ids) + model.pos.weight[:Tn] + model.seg(types)
                x = model.emb_ln(x)
                mask_add = (1.0 - mask[:, None, None, :].float()) * -10000.0
                for layer in model.layers:
                    x = layer(x, mask_add)
                g = x.reshape(Bn * Tn, -1)[(torch.arange(Bn, device=dev)[:, None] * Tn + pos).reshape(-1)]
                logits = model.transform_ln(F.gelu(model.transform(g))) @ model.word.weight.t() + model.mlm_bias
                per = F.cross_entropy(logits, labels.reshape(-1), reduction="none")
                ww = w.reshape(-1)
                total += float((per * ww).sum())
                correct += float(((logits.argmax(-1) == labels.reshape(-1)).float() * ww).sum())
                count += float(ww.sum())
        model.train()
        print(json.dumps({"step": step, "validation_mlm_loss": total / count, "validation_mlm_accuracy": correct / count}), flush=True)

    for step in range(1, a.steps + 1):
        loss = model(*make(train, rng, B))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % a.eval_every == 0:
            evaluate(step)


if __name__ == "__main__":
    main()
