"""Extract the tokenizer metadata (tokenizer.ggml.*) of a GGUF file into a compact JSON
fixture for lineage's text tests. Usage: extract_gguf_vocab.py MODEL.gguf OUT.json
Requires PyPI `gguf`."""
import json, sys
from gguf import GGUFReader, GGUFValueType

def field_value(f):
    t = f.types[0]
    if t == GGUFValueType.ARRAY:
        sub = f.types[-1]
        if sub == GGUFValueType.STRING:
            return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
        return [f.parts[i].tolist()[0] for i in f.data]
    if t == GGUFValueType.STRING:
        return bytes(f.parts[f.data[0]]).decode("utf-8")
    return f.parts[f.data[0]].tolist()[0]

def main(path, out):
    r = GGUFReader(path)
    meta = {k[len("tokenizer."):]: field_value(f) for k, f in r.fields.items() if k.startswith("tokenizer.")}
    json.dump(meta, open(out, "w"), ensure_ascii=False, separators=(",", ":"))

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
