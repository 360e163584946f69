"""Writes fuzz/seeds/load_model/tiny: a complete, loadable 1-layer BERT of width 4 in the
load_model target's input layout (u16 config length, u16 vocabulary length, config, vocabulary,
safetensors)."""
import json, struct, pathlib

h, i, vocab_words, positions = 4, 8, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c"], 16
config = {"vocab_size": len(vocab_words), "hidden_size": h, "num_hidden_layers": 1,
          "num_attention_heads": 1, "intermediate_size": i, "max_position_embeddings": positions,
          "type_vocab_size": 2, "hidden_act": "gelu", "pad_token_id": 0}
shapes = {
    "embeddings.word_embeddings.weight": [len(vocab_words), h],
    "embeddings.position_embeddings.weight": [positions, h],
    "embeddings.token_type_embeddings.weight": [2, h],
    "embeddings.LayerNorm.weight": [h], "embeddings.LayerNorm.bias": [h],
}
p = "encoder.layer.0."
for name in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"]:
    shapes[p + name + ".weight"] = [h, h]
    shapes[p + name + ".bias"] = [h]
shapes[p + "attention.output.LayerNorm.weight"] = [h]
shapes[p + "attention.output.LayerNorm.bias"] = [h]
shapes[p + "intermediate.dense.weight"] = [i, h]
shapes[p + "intermediate.dense.bias"] = [i]
shapes[p + "output.dense.weight"] = [h, i]
shapes[p + "output.dense.bias"] = [h]
shapes[p + "output.LayerNorm.weight"] = [h]
shapes[p + "output.LayerNorm.bias"] = [h]
header, data, offset = {}, b"", 0
for k, shape in shapes.items():
    n = 1
    for d in shape:
        n *= d
    values = [1.0 if "LayerNorm.weight" in k else 0.01 * ((j % 7) - 3) for j in range(n)]
    blob = struct.pack(f"<{n}f", *values)
    header[k] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + len(blob)]}
    data += blob
    offset += len(blob)
head = json.dumps(header).encode()
weights = struct.pack("<Q", len(head)) + head + data
config_bytes = json.dumps(config).encode()
vocab_bytes = ("\n".join(vocab_words) + "\n").encode()
out = pathlib.Path(__file__).parent / "load_model" / "tiny"
out.write_bytes(struct.pack("<HH", len(config_bytes), len(vocab_bytes)) + config_bytes + vocab_bytes + weights)
print(out, out.stat().st_size, "bytes")
