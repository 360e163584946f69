"""The service a user would otherwise deploy, for `benches/serve_vs_fastapi.sh`: FastAPI and
uvicorn, sentence-transformers for the history text, faiss `IndexFlatIP` over the bundle's own
item vectors, the same k and exclusions as `affinity serve`'s `/v1/recommend` with `items`.

    AFFINITY_BUNDLE=out/bench-bundle/sci uvicorn serve_reference:app --workers 2 --port 8090

Item text, history text (newest first, repeats once, the bundle's history length and separator)
and the encoder (the bundle's `encoder/` directory, its maximum length) are the bundle's, so
both services embed the same string with the same model.
"""

import json
import os

import faiss
import numpy as np
import torch
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ConfigDict
from safetensors.numpy import load_file
from sentence_transformers import SentenceTransformer

# One thread per worker process: the run gives each side two cores' worth of workers.
torch.set_num_threads(int(os.environ.get("REFERENCE_THREADS", "1")))

BUNDLE = os.environ["AFFINITY_BUNDLE"]
manifest = json.load(open(os.path.join(BUNDLE, "manifest.json")))
catalog = json.load(open(os.path.join(BUNDLE, "catalog.json")))
names = catalog["items"]
ids = {name: i for i, name in enumerate(names)}


def item_text(name, fields):
    parts = [fields.get(k) for k in ("title", "category", "brand", "description")]
    parts = [p.strip() for p in parts if p and p.strip()]
    return ". ".join(parts) if parts else name


texts = [item_text(n, f) for n, f in zip(names, catalog["text"])]
vectors = load_file(os.path.join(BUNDLE, "vectors.safetensors"))["vectors"].astype("float32")
index = faiss.IndexFlatIP(vectors.shape[1])
index.add(vectors)
model = SentenceTransformer(os.path.join(BUNDLE, "encoder"), device="cpu")
model.max_seq_length = manifest["encoder"]["max_len"]
history_items = manifest["ranking"]["history_items"]
separator = manifest["ranking"]["history_separator"]

app = FastAPI()


class Recommend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[str]
    k: int = 10
    exclude: list[str] = []


@app.post("/v1/recommend")
def recommend(request: Recommend):
    if not 1 <= request.k <= len(names):
        raise HTTPException(422, f"k must lie in 1..={len(names)}")
    history = [ids[n] for n in request.items if n in ids]
    unknown = [n for n in request.items if n not in ids]
    kept, seen = [], set()
    for i in reversed(history):
        if texts[i] not in seen:
            seen.add(texts[i])
            kept.append(texts[i])
        if len(kept) == history_items:
            break
    exclude = set(history) | {ids[n] for n in request.exclude if n in ids}
    query = model.encode([separator.join(kept)], normalize_embeddings=True)
    scores, found = index.search(np.asarray(query, dtype="float32"), request.k + len(exclude))
    recs = [
        {"item": int(i), "name": names[i], "score": float(s)}
        for s, i in zip(scores[0], found[0])
        if i >= 0 and int(i) not in exclude
    ][: request.k]
    return {"unknown_items": unknown, "recommendations": recs}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
