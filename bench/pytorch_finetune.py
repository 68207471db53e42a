#!/usr/bin/env python3
"""Fine-tuning recipes explored quickly in PyTorch on a studio model: the studio's classifier (Hugging
Face's BertForSequenceClassification: [CLS] → pooler dense + tanh → dropout → linear) or a mean of
the tokens instead, the studio's recipe around it (AdamW 0.9/0.999, eps 1e-6, decay 0.01 off biases
and LayerNorm, clipping at 1.0, linear warm-up over 10% then linear decay, batch 32, at least
--min-steps steps, validation once an epoch, early stopping with patience 3, the best validation
checkpoint scored on the test file). Its numbers matched the studio's own run on the same data
(0.623 against 0.632 at 2e-4): use it to choose what the studio's defaults should be, then confirm
with `npm run bench -- finetune`.

  bert-studio export --run R --format hf --out MODEL          # a pre-trained run
  bert-studio tokenize --tokenizer MODEL --input train.txt --max-length 128 --output train.jsonl
  (same for test.txt; labels one a line in train.labels, test.labels)
  /usr/bin/python3 bench/pytorch_finetune.py --model MODEL --data DIR [--lr 1e-3] [--dropout 0.1]
      [--pool cls|mean] [--seq 64] [--seeds 7,8,9] [--threads 2] [--windows] [--train-windows]
      [--freeze-embeddings] [--embedding-lr-scale K]

DIR holds train.jsonl/train.labels and test.jsonl/test.labels; 10% of train (by seed) is the
validation split. Prints one JSON line: mean test accuracy over the seeds, each seed's, steps.
"""
import argparse, importlib.util, json, math, random, time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

here = Path(__file__).resolve().parent
spec = importlib.util.spec_from_file_location("transformers_check", here / "transformers_check.py")
transformers_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(transformers_check)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--pool", choices=["cls", "mean"], default="cls")
    parser.add_argument("--seq", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--min-steps", type=int, default=400)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--seeds", default="7")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--freeze-embeddings", action="store_true", help="keep the word, position and segment embeddings (and their LayerNorm) fixed")
    parser.add_argument("--embedding-lr-scale", type=float, default=1.0, help="the embeddings' learning rate is --lr times this")
    parser.add_argument("--windows", action="store_true", help="score a long text as the mean of its windows' probabilities (stride half a window)")
    parser.add_argument("--train-windows", action="store_true", help="train on every window of a long text, each with the text's label")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    model_dir, data = Path(args.model), Path(args.data)
    W = {k: torch.tensor(v, dtype=torch.float32) for k, v in transformers_check.read_safetensors(model_dir / "model.safetensors").items()}
    config = json.loads((model_dir / "config.json").read_text())
    H, A, L = config["hidden_size"], config["num_attention_heads"], config["num_hidden_layers"]

    def load(name):
        ids = [json.loads(line)["input_ids"] for line in (data / f"{name}.jsonl").read_text().splitlines() if line]
        labels = (data / f"{name}.labels").read_text().split("\n")[: len(ids)]
        return ids, labels

    train_ids, train_labels = load("train")
    test_ids, test_labels = load("test")
    classes = sorted(set(train_labels))
    index = {c: i for i, c in enumerate(classes)}

    def linear(name):
        w = W[name + ".weight"]
        layer = nn.Linear(w.shape[1], w.shape[0])
        layer.weight.data.copy_(w)
        layer.bias.data.copy_(W[name + ".bias"])
        return layer

    def norm(name):
        layer = nn.LayerNorm(H, eps=config["layer_norm_eps"])
        layer.weight.data.copy_(W[name + ".weight"])
        layer.bias.data.copy_(W[name + ".bias"])
        return layer

    class Layer(nn.Module):
        def __init__(self, i, p):
            super().__init__()
            pre = f"bert.encoder.layer.{i}"
            self.q, self.k, self.v = (linear(f"{pre}.attention.self.{n}") for n in ("query", "key", "value"))
            self.o, self.ln1 = linear(f"{pre}.attention.output.dense"), norm(f"{pre}.attention.output.LayerNorm")
            self.up, self.down, self.ln2 = linear(f"{pre}.intermediate.dense"), linear(f"{pre}.output.dense"), norm(f"{pre}.output.LayerNorm")
            self.drop = nn.Dropout(p)

        def forward(self, x, mask):
            B, T, _ = x.shape
            d = H // A
            heads = lambda t: t.view(B, T, A, d).transpose(1, 2)
            scores = heads(self.q(x)) @ heads(self.k(x)).transpose(-1, -2) / math.sqrt(d) + (1 - mask[:, None, None, :]) * -1e4
            context = (self.drop(scores.softmax(-1)) @ heads(self.v(x))).transpose(1, 2).reshape(B, T, H)
            x = self.ln1(x + self.drop(self.o(context)))
            return self.ln2(x + self.drop(self.down(F.gelu(self.up(x)))))

    class Classifier(nn.Module):
        def __init__(self, p):
            super().__init__()
            e = "bert.embeddings"
            self.word = nn.Parameter(W[f"{e}.word_embeddings.weight"].clone())
            self.pos = nn.Parameter(W[f"{e}.position_embeddings.weight"].clone())
            self.seg = nn.Parameter(W[f"{e}.token_type_embeddings.weight"].clone())
            self.ln, self.drop = norm(f"{e}.LayerNorm"), nn.Dropout(p)
            self.layers = nn.ModuleList([Layer(i, p) for i in range(L)])
            self.pooler = linear("bert.pooler.dense")
            self.head = nn.Linear(H, len(classes))
            nn.init.normal_(self.head.weight, std=config["initializer_range"])
            nn.init.zeros_(self.head.bias)

        def forward(self, ids, mask):
            x = self.drop(self.ln(self.word[ids] + self.pos[: ids.shape[1]] + self.seg[0]))
            for layer in self.layers:
                x = layer(x, mask)
            z = torch.tanh(self.pooler(x[:, 0])) if args.pool == "cls" else (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
            return self.head(self.drop(z))

    def batch(rows):
        rows = [r[: args.seq - 1] + [r[-1]] if len(r) > args.seq else r for r in rows]
        ids, mask = torch.zeros(len(rows), max(map(len, rows)), dtype=torch.long), torch.zeros(len(rows), max(map(len, rows)))
        for j, r in enumerate(rows):
            ids[j, : len(r)], mask[j, : len(r)] = torch.tensor(r), 1
        return ids, mask

    def windows(row):
        """[CLS] piece… [SEP] cut into windows of --seq positions, each half overlapping the last."""
        body, width = row[1:-1], args.seq - 2
        if len(body) <= width:
            return [row]
        starts = list(range(0, len(body) - width, width // 2)) + [len(body) - width]
        return [[row[0]] + body[s : s + width] + [row[-1]] for s in starts]

    def accuracy(model, ids, labels):
        model.eval()
        rows, owner = [], []
        for j, r in enumerate(ids):
            for w in windows(r) if args.windows else [r]:
                rows.append(w)
                owner.append(j)
        with torch.no_grad():
            probs = torch.cat([model(*batch(rows[s : s + 128])).softmax(-1) for s in range(0, len(rows), 128)])
        model.train()
        total = torch.zeros(len(ids), probs.shape[1]).index_add_(0, torch.tensor(owner), probs)
        return (total.argmax(-1) == torch.tensor([index[c] for c in labels])).float().mean().item()

    def run(seed):
        torch.manual_seed(seed)
        rng = random.Random(seed)
        order = list(range(len(train_ids)))
        rng.shuffle(order)
        validation, train = order[: len(order) // 10], order[len(order) // 10 :]
        if args.train_windows:
            train = [(i, w) for i in train for w in windows(train_ids[i])]
        else:
            train = [(i, train_ids[i]) for i in train]
        per_epoch = math.ceil(len(train) / args.batch)
        epochs = args.epochs
        while epochs * per_epoch < args.min_steps and epochs < 40:
            epochs += 1
        total, warmup = epochs * per_epoch, int(0.1 * epochs * per_epoch)
        model = Classifier(args.dropout)
        if args.freeze_embeddings:
            for p in (model.word, model.pos, model.seg, *model.ln.parameters()):
                p.requires_grad_(False)
        no_decay = lambda n: "ln" in n or n.endswith("bias")
        embedding = lambda n: n in ("word", "pos", "seg")
        groups = [
            {"params": [p for n, p in model.named_parameters() if no_decay(n) == flag and embedding(n) == emb and p.requires_grad], "weight_decay": 0.0 if flag else 0.01, "scale": args.embedding_lr_scale if emb else 1.0}
            for flag in (True, False) for emb in (True, False)
        ]
        groups = [g for g in groups if g["params"]]
        optimizer = torch.optim.AdamW(groups, lr=args.lr, eps=1e-6)
        y = torch.tensor([index[c] for c in train_labels])
        step, best, waited = 0, (-1.0, 0.0, 0), 0
        for _ in range(epochs):
            rng.shuffle(train)
            for s in range(0, len(train), args.batch):
                rows = train[s : s + args.batch]
                loss = F.cross_entropy(model(*batch([w for _, w in rows])), y[[i for i, _ in rows]])
                optimizer.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                scale = step / max(1, warmup) if step < warmup else max(0.0, (total - step) / max(1, total - warmup))
                for group in optimizer.param_groups:
                    group["lr"] = args.lr * scale * group["scale"]
                optimizer.step()
                step += 1
            val = accuracy(model, [train_ids[i] for i in validation], [train_labels[i] for i in validation])
            if val > best[0]:
                best, waited = (val, accuracy(model, test_ids, test_labels), step), 0
            else:
                waited += 1
                if step >= args.min_steps and args.patience and waited >= args.patience:
                    break
        return best

    started = time.time()
    results = [run(int(seed)) for seed in args.seeds.split(",")]
    print(json.dumps({
        "lr": args.lr, "dropout": args.dropout, "pool": args.pool, "seq": args.seq, "windows": args.windows, "freeze_embeddings": args.freeze_embeddings, "embedding_lr_scale": args.embedding_lr_scale, "train_windows": args.train_windows,
        "mean_test_accuracy": round(sum(r[1] for r in results) / len(results), 4),
        "test_accuracy": [round(r[1], 4) for r in results], "validation_accuracy": [round(r[0], 4) for r in results],
        "best_step": [r[2] for r in results], "seconds": round(time.time() - started),
    }))


if __name__ == "__main__":
    main()
