"""Writes a tiny deterministic random-weight llama-architecture GGUF model (about 0.5 MB).

Usage: make_tiny_gguf.py OUT.gguf [--slow]

`--slow` makes a wider, deeper model (about 17 MB) that generates at roughly a hundred tokens per second on
one core instead of thousands: long enough for a test to interrupt a reply while it is still streaming.

The weights produce gibberish, but llama.cpp's server loads and serves the model like any other, and a
request-level GBNF `grammar` that is a single literal makes it produce exactly that text: a scripted LLM for
end-to-end tests (see the reference's llm-streaming.md §8.4–8.5). The 256 byte-fallback tokens make any text
reachable. Nothing is downloaded.
"""

import sys

import numpy as np
from gguf import GGUFWriter, TokenType

EMBED, BLOCKS, FFN, HEADS = 64, 2, 128, 4
if "--slow" in sys.argv:
    EMBED, BLOCKS, FFN, HEADS = 512, 4, 1024, 8
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def vocabulary():
    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [TokenType.UNKNOWN, TokenType.CONTROL, TokenType.CONTROL]
    for b in range(256):
        tokens.append(f"<0x{b:02X}>")
        scores.append(0.0)
        types.append(TokenType.BYTE)
    pieces = ["▁", "▁the", "▁a", "▁is", "▁of", "▁and", "▁to", "▁in", "▁Paris", "▁capital", "▁France", "▁hello", "."]
    pieces += [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)]
    pieces += [str(d) for d in range(10)] + list(",!?'") + ["▁" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    seen = set()
    for i, piece in enumerate(p for p in pieces if not (p in seen or seen.add(p))):
        tokens.append(piece)
        scores.append(-float(i))
        types.append(TokenType.NORMAL)
    return tokens, scores, types


def main(path):
    tokens, scores, types = vocabulary()
    rng = np.random.default_rng(1234)
    w = GGUFWriter(path, "llama")
    w.add_name("tiny-random-llama")
    w.add_context_length(4096)
    w.add_embedding_length(EMBED)
    w.add_block_count(BLOCKS)
    w.add_feed_forward_length(FFN)
    w.add_head_count(HEADS)
    w.add_head_count_kv(HEADS)
    w.add_rope_dimension_count(EMBED // HEADS)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(0)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(CHAT_TEMPLATE)

    def rand(*shape):
        return (rng.standard_normal(shape) * 0.08).astype(np.float32)

    n_vocab = len(tokens)
    w.add_tensor("token_embd.weight", rand(n_vocab, EMBED))
    w.add_tensor("output_norm.weight", np.ones(EMBED, dtype=np.float32))
    w.add_tensor("output.weight", rand(n_vocab, EMBED))
    for i in range(BLOCKS):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(EMBED, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(EMBED, dtype=np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            w.add_tensor(f"blk.{i}.{name}.weight", rand(EMBED, EMBED))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(FFN, EMBED))
        w.add_tensor(f"blk.{i}.ffn_up.weight", rand(FFN, EMBED))
        w.add_tensor(f"blk.{i}.ffn_down.weight", rand(EMBED, FFN))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main(sys.argv[1])
