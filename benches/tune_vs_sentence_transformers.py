"""sentence-transformers' own `fit` with MultipleNegativesRankingLoss on the pairs that
`affinity train --export-pairs` wrote: the reference side of
benches/tune_vs_sentence_transformers.sh. Prints one JSON line.

    python benches/tune_vs_sentence_transformers.py PAIRS.tsv --model DIR \
        [--batch-size 32] [--max-len 128] [--lr 5e-5] [--warmup-ratio 0.1]

The settings mirror `affinity train`'s: one epoch, in-batch negatives with scale 20 (the
loss's default), AdamW at the given peak rate with linear warmup and decay, fp32 on the CPU.
The time is the whole `fit` call (its trainer's set-up included, a few seconds).
"""

import argparse
import json
import math
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pairs")
    ap.add_argument("--model", required=True)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-len", type=int, default=128)
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--warmup-ratio", type=float, default=0.1)
    args = ap.parse_args()

    import torch
    from sentence_transformers import InputExample, SentenceTransformer, losses
    from torch.utils.data import DataLoader

    torch.manual_seed(42)
    pairs = []
    with open(args.pairs, encoding="utf-8") as f:
        for line in f:
            query, target = line.rstrip("\n").split("\t")
            pairs.append(InputExample(texts=[query, target]))
    model = SentenceTransformer(args.model, device="cpu")
    model.max_seq_length = args.max_len
    loader = DataLoader(pairs, shuffle=True, batch_size=args.batch_size)
    loss = losses.MultipleNegativesRankingLoss(model, scale=20.0)
    steps = math.ceil(len(pairs) / args.batch_size)
    started = time.perf_counter()
    model.fit(
        train_objectives=[(loader, loss)],
        epochs=1,
        warmup_steps=math.ceil(args.warmup_ratio * steps),
        optimizer_params={"lr": args.lr},
        weight_decay=0.01,
        max_grad_norm=1.0,
        show_progress_bar=False,
    )
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "side": "sentence-transformers fit",
                "pairs": len(pairs),
                "seconds": seconds,
                "pairs_per_second": len(pairs) / seconds,
                "threads": torch.get_num_threads(),
                "version": __import__("sentence_transformers").__version__,
            }
        )
    )


if __name__ == "__main__":
    main()
