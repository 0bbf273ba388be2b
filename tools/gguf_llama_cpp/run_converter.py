#!/usr/bin/env python3
"""Runs llama.cpp's own `convert_hf_to_gguf.py` with a minimal vocabulary.

    python run_converter.py LLAMA_CPP_DIR [--config-json] MODEL_DIR --outfile F.gguf --outtype f32|q8_0

The HF fixtures carry no tokenizer, and the converter needs one: its `set_vocab` reads a
SentencePiece model or a tokenizer that `AutoTokenizer` loads (and refuses a BPE whose
pre-tokenizer hash it does not know). This wrapper replaces only the two functions that
*read* a vocabulary (`get_vocab_base`, `_create_vocab_sentencepiece`) with one that
returns the 256 byte tokens (then `[PAD i]` up to `vocab_size`). Each family's own
`set_vocab` still runs and decides what it writes; every hyperparameter key and tensor
transform is the converter's, unchanged.

`--config-json` makes the converter take its own fallback for configs transformers cannot
load (it reads config.json as written) instead of `AutoConfig(...).to_dict()`: transformers 5
drops keys such as GPT-NeoX's `rotary_pct` that the converter still reads.
"""
from __future__ import annotations

import sys
from pathlib import Path


def byte_level_char(b: int) -> str:
    """GPT-2's printable stand-in for byte b (`bytes_to_unicode`)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAC + 1)) + list(range(0xAE, 0xFF + 1))
    if b in printable:
        return chr(b)
    return chr(256 + sum(1 for x in range(b) if x not in printable))


def patch_vocab(conversion) -> None:
    import gguf

    base = conversion.base.TextModel

    def vocab_size(self) -> int:
        return int(self.find_hparam(["vocab_size", "padded_vocab_size"], optional=True) or 256)

    def get_vocab_base(self):
        n = vocab_size(self)
        tokens = [byte_level_char(b) for b in range(256)] + [f"[PAD{i}]" for i in range(256, n)]
        types = [gguf.TokenType.NORMAL] * 256 + [gguf.TokenType.UNUSED] * (n - 256)
        return tokens[:n], types[:n], "gpt-2"

    def create_vocab_sentencepiece(self):
        n = vocab_size(self)
        tokens = [f"<0x{b:02X}>".encode() for b in range(256)] + [f"[PAD{i}]".encode() for i in range(256, n)]
        scores = [0.0] * 256 + [-10000.0] * (n - 256)
        types = [conversion.base.SentencePieceTokenTypes.BYTE] * 256
        types += [conversion.base.SentencePieceTokenTypes.UNUSED] * (n - 256)
        return tokens[:n], scores[:n], types[:n]

    base.get_vocab_base = get_vocab_base
    base._create_vocab_sentencepiece = create_vocab_sentencepiece


def use_config_json(conversion) -> None:
    class NoAutoConfig:
        @staticmethod
        def from_pretrained(*_a, **_k):
            raise ValueError("config read from config.json (run_converter.py --config-json)")

    conversion.base.AutoConfig = NoAutoConfig


def main() -> None:
    llama_cpp = Path(sys.argv[1]).resolve()
    sys.path[:0] = [str(llama_cpp / "gguf-py"), str(llama_cpp)]
    import conversion
    import conversion.base  # noqa: F401
    import convert_hf_to_gguf

    patch_vocab(conversion)
    args = sys.argv[2:]
    if "--config-json" in args:
        args.remove("--config-json")
        use_config_json(conversion)
    sys.argv = [str(llama_cpp / "convert_hf_to_gguf.py")] + args
    convert_hf_to_gguf.main()


if __name__ == "__main__":
    main()
