"""Copy a vocab-only GGUF with tokenizer.ggml.add_space_prefix forced to false (as Gemma's
GGUF files have), so llama.cpp can produce references for that SentencePiece variant.
Usage: spm_no_prefix_gguf.py IN.gguf OUT.gguf   (needs PyPI gguf)"""
import sys
from gguf import GGUFReader, GGUFWriter, GGUFValueType


def main(src, dst):
    r = GGUFReader(src)
    arch = bytes(r.fields["general.architecture"].parts[-1]).decode()
    w = GGUFWriter(dst, arch)
    for name, f in r.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "tokenizer.ggml.add_space_prefix"):
            continue
        t = f.types[0]
        if t == GGUFValueType.ARRAY:
            sub = f.types[-1]
            vals = [bytes(f.parts[i]).decode() if sub == GGUFValueType.STRING else f.parts[i].tolist()[0] for i in f.data]
            w.add_key_value(name, vals, t, sub_type=sub)
        elif t == GGUFValueType.STRING:
            w.add_key_value(name, bytes(f.parts[f.data[0]]).decode(), t)
        else:
            w.add_key_value(name, f.parts[f.data[0]].tolist()[0], t)
    w.add_bool("tokenizer.ggml.add_space_prefix", False)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
