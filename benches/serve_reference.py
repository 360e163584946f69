"""The service a user would otherwise deploy, for `benches/serve_vs_fastapi.sh`: FastAPI and
uvicorn, sentence-transformers for the history text, faiss `IndexFlatIP` over the bundle's own
item vectors, the same k and exclusions as `affinity serve`'s `/v1/recommend` with `items`;
with `user`, the bundle's cached user vectors (`affinity fit --user-vectors`) and the user's
fitted items excluded, as `affinity serve` does.

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
# Requests by user id: the bundle's cached vectors, and each user's items to exclude.
users = {name: u for u, name in enumerate(json.load(open(os.path.join(BUNDLE, "users.json")))["users"])}
user_vectors = None
if manifest.get("user_vectors"):
    path = os.path.join(BUNDLE, manifest["user_vectors"]["file"])
    user_vectors = load_file(path)["vectors"].astype("float32")
events = load_file(os.path.join(BUNDLE, "events.safetensors"))
bought = [set() for _ in users]
for u, i in zip(events["user"].tolist(), events["item"].tolist()):
    bought[u].add(i)
model = SentenceTransformer(os.path.join(BUNDLE, "encoder"), device="cpu")
model.max_seq_length = manifest["encoder"]["max_len"]
history_items = manifest["ranking"]["history_items"]
separator = manifest["ranking"]["history_separator"]

app = FastAPI()


class Recommend(BaseModel):
    model_config = ConfigDict(extra="forbid")
    items: list[str] | None = None
    user: str | None = None
    k: int = 10
    exclude: list[str] = []


def search(query, k, exclude):
    scores, found = index.search(np.asarray(query, dtype="float32"), k + len(exclude))
    return [
        {"item": int(i), "name": names[i], "score": float(s)}
        for s, i in zip(scores[0], found[0])
        if i >= 0 and int(i) not in exclude
    ][:k]


@app.post("/v1/recommend")
def recommend(request: Recommend):
    if not 1 <= request.k <= len(names):
        raise HTTPException(422, f"k must lie in 1..={len(names)}")
    extra = {ids[n] for n in request.exclude if n in ids}
    if request.user is not None and request.items is None:
        u = users.get(request.user)
        if u is None or user_vectors is None:
            raise HTTPException(422, "a known user of a bundle with user vectors")
        recs = search(user_vectors[u : u + 1], request.k, bought[u] | extra)
        return {"user": request.user, "recommendations": recs}
    if request.items is None or request.user is not None:
        raise HTTPException(422, 'give exactly one of "user" or "items"')
    history = [ids[n] for n in request.items if n in ids]
    unknown = [n for n in request.items if n not in ids]
    kept, seen = [], set()
    for i in reversed(history):
        if texts[i] not in seen:
            seen.add(texts[i])
            kept.append(texts[i])
        if len(kept) == history_items:
            break
    query = model.encode([separator.join(kept)], normalize_embeddings=True)
    recs = search(query, request.k, set(history) | extra)
    return {"unknown_items": unknown, "recommendations": recs}


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
