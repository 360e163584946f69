"""Training and encoding throughput: PyTorch eager (Hugging Face BertModel) against
`affinity bench train|encode`, side by side in one run, each in a fresh process.

    python benches/tune_vs_pytorch.py [--device cpu|cuda] [--quick]

Needs torch and transformers in the interpreter (the bootstrap venv plus
`pip install transformers`). The Rust binary is target/release/affinity (cargo build --release).
The same step on both sides: random token ids of length L, both towers encoded (mean pooling,
L2 normalisation), InfoNCE with scale 20 over in-batch negatives, backward, clip 1.0, AdamW.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

MODEL = os.environ.get("AFFINITY_MODEL_DIR", "models/all-MiniLM-L6-v2")


def pytorch_child(what, batch, seq_len, steps, warmup, bf16, device, compile_):
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig.from_pretrained(MODEL)
    model = BertModel(config, add_pooling_layer=False).to(device)
    dtype = torch.bfloat16 if bf16 else torch.float32

    def encode(ids, mask):
        with torch.autocast(device_type=device, dtype=torch.bfloat16, enabled=bf16):
            h = model(input_ids=ids, attention_mask=mask).last_hidden_state
        h = h.float()
        m = mask.unsqueeze(-1).float()
        v = (h * m).sum(1) / m.sum(1).clamp_min(1e-9)
        return torch.nn.functional.normalize(v, dim=-1)

    fn = torch.compile(encode) if compile_ else encode
    batches = [
        (torch.randint(1000, config.vocab_size, (batch, seq_len), device=device),
         torch.randint(1000, config.vocab_size, (batch, seq_len), device=device))
        for _ in range(4)
    ]
    mask = torch.ones(batch, seq_len, dtype=torch.long, device=device)
    labels = torch.arange(batch, device=device)
    if what == "train":
        model.train()
        no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
        decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-5)

        def step(i):
            q, p = batches[i % 4]
            a, b = fn(q, mask), fn(p, mask)
            loss = torch.nn.functional.cross_entropy(a @ b.T * 20.0, labels)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            opt.zero_grad(set_to_none=True)
    else:
        model.eval()

        def step(i):
            with torch.no_grad():
                fn(batches[i % 4][0], mask).cpu()

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    for i in range(warmup):
        step(i)
    sync()
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    sync()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    gpu_peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else 0.0
    print(json.dumps({"per_second": batch * steps / seconds, "peak_rss_mib": peak, "gpu_peak_mib": gpu_peak,
                      "threads": torch.get_num_threads()}))


def run_pytorch(*args):
    out = subprocess.run([sys.executable, __file__, "--child", json.dumps(args)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def run_ours(what, batch, seq_len, steps, warmup, bf16, device):
    cmd = ["target/release/affinity", "bench", what, "--batch-size", str(batch), "--seq-len", str(seq_len),
           "--steps", str(steps), "--warmup", str(warmup), "--random-init", "--device", device, "--json"]
    if bf16:
        cmd.append("--bf16")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--child")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--compile", action="store_true", help="also PyTorch with torch.compile")
    a = ap.parse_args()
    if a.child:
        pytorch_child(*json.loads(a.child))
        return
    if a.device == "cpu":
        cases = [("train", 64, 32, False), ("train", 64, 32, True), ("encode", 256, 32, True)]
        steps, warmup = (3, 1) if a.quick else (8, 2)
    else:
        cases = [("train", 256, 32, False), ("train", 256, 32, True), ("train", 1024, 32, True), ("encode", 4096, 32, True)]
        steps, warmup = (20, 5) if a.quick else (50, 10)
    print(f"| what | B | L | precision | PyTorch eager | affinity | ratio | peak RSS PyTorch / ours (MiB) |")
    print("|---|---|---|---|---|---|---|---|")
    for what, b, l, bf16 in cases:
        theirs = run_pytorch(what, b, l, steps, warmup, bf16, a.device, False)
        ours = run_ours(what, b, l, steps, warmup, bf16, a.device)
        unit = "pairs/s" if what == "train" else "items/s"
        print(f"| {what} | {b} | {l} | {'bf16' if bf16 else 'fp32'} | {theirs['per_second']:.1f} {unit} | "
              f"{ours['per_second']:.1f} {unit} | {ours['per_second'] / theirs['per_second']:.2f}x | "
              f"{theirs['peak_rss_mib']:.0f} / {ours['peak_rss_mib']:.0f} |", flush=True)
        if a.compile:
            c = run_pytorch(what, b, l, steps, warmup, bf16, a.device, True)
            print(f"| {what} (torch.compile) | {b} | {l} | {'bf16' if bf16 else 'fp32'} | {c['per_second']:.1f} | | "
                  f"{ours['per_second'] / c['per_second']:.2f}x | {c['peak_rss_mib']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
