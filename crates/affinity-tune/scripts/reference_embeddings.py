"""Reference token ids and sentence embeddings from PyTorch for the parity tests.

Run once, with the registry's `transformers` and `sentence-transformers` installed next to torch:

    python crates/affinity-tune/scripts/reference_embeddings.py models/all-MiniLM-L6-v2 \
        crates/affinity-tune/tests/fixtures/minilm_reference.json

The output is committed; the tests compare our tokenizer and encoder against it.
"""

import json
import sys

import torch
import transformers
import sentence_transformers
from sentence_transformers import SentenceTransformer
from transformers import AutoTokenizer

TITLES = [
    "whole milk",
    "other vegetables",
    "rolls/buns",
    "soda",
    "yogurt",
    "bottled water",
    "root vegetables",
    "tropical fruit",
    "shopping bags",
    "sausage",
    "Pyrex 1000 mL Graduated Glass Beaker",
    "Thermo Scientific Nalgene 2-Liter HDPE Bottle, Pack of 6",
    "AmScope M150C-I 40X-1000X All-Metal Optical Glass Lenses Cordless LED Student Biological Compound Microscope",
    "Digital Caliper 0-6\" (150mm) Stainless Steel, LCD Display",
    "Nitrile Exam Gloves - Medium, Powder-Free, Latex-Free (100 ct)",
    "Café crème brûlée kit: naïve façade Übung",
    "3M 8210 N95 Particulate Respirator, 20/box",
    "pH test strips 0-14, 100 strips [universal indicator]",
    "Erlenmeyer flask 250ml borosilicate (set of 4) — heat resistant",
    "UNKNOWNWORDxyzzy qwertyuiop",
    "soldering iron kit 60W adjustable temperature with stand & tips",
    "Lab coat, white, unisex, size L #1 best seller!!!",
    "magnetic stirrer hotplate 1500rpm",
    "",
    "a " * 300,
]

def main(model_dir: str, out_path: str) -> None:
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = SentenceTransformer(model_dir, device="cpu")
    max_len = model.max_seq_length
    ids = [tokenizer(t, truncation=True, max_length=max_len)["input_ids"] for t in TITLES]
    with torch.no_grad():
        emb = model.encode(TITLES, batch_size=8, convert_to_numpy=True, normalize_embeddings=False)
    out = {
        "model_dir": "all-MiniLM-L6-v2",
        "max_seq_length": max_len,
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "texts": TITLES,
        "token_ids": ids,
        "embeddings": [[round(float(x), 7) for x in row] for row in emb],
    }
    with open(out_path, "w") as f:
        json.dump(out, f)
        f.write("\n")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
