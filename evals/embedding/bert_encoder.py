"""A BERT sentence encoder for inference only: torch, the model's safetensors weights and
its tokenizer.json, nothing else.

sentence-transformers computes exactly this for a model made of a BERT ``Transformer``,
mean ``Pooling`` and ``Normalize`` (all-MiniLM-L6-v2, the bundled model): token, position
and segment embeddings, then per layer self-attention and a GELU feed-forward block, each
followed by a residual LayerNorm; the mean of the token vectors under the attention mask;
unit length. Importing sentence-transformers brings transformers, scikit-learn, SymPy,
torch's compiler stack and more, about 250 MB of memory that a process which only embeds
never uses; this module needs torch and the ``tokenizers`` library alone. The vectors
agree with sentence-transformers' to ~1e-6 (tests/evals/embedding/test_sentence_embedder.py checks them).

:func:`lean_model` says whether a model directory is one this encoder computes exactly;
the embedder uses sentence-transformers for any other model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from tokenizers import Tokenizer

_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"


def _json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def lean_model(path: str | Path) -> bool:
    """True when ``path`` is a local sentence-transformers model this encoder computes
    exactly: a BERT with absolute positions and GELU, mean pooling, then (optionally)
    normalisation, with safetensors weights and a tokenizer.json."""
    root = Path(path)
    try:
        modules = [m.get("type") for m in _json(root / "modules.json")]
        if modules not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
            return False
        pooling_dir = next(m["path"] for m in _json(root / "modules.json") if m["type"] == _POOLING)
        pooling = _json(root / pooling_dir / "config.json")
        config = _json(root / "config.json")
        _json(root / "sentence_bert_config.json")
    except (OSError, ValueError, KeyError, StopIteration, TypeError, AttributeError):
        return False
    modes = {k: v for k, v in pooling.items() if k.startswith("pooling_mode")}
    return (
        modes.get("pooling_mode_mean_tokens") is True
        and not any(v for k, v in modes.items() if k != "pooling_mode_mean_tokens")
        and config.get("model_type") == "bert"
        and config.get("position_embedding_type", "absolute") == "absolute"
        and config.get("hidden_act") == "gelu"
        and (root / "model.safetensors").is_file()
        and (root / "tokenizer.json").is_file()
    )


class BertEncoder:
    """Embeds texts with the model in ``path`` (see :func:`lean_model`)."""

    def __init__(self, path: str | Path) -> None:
        root = Path(path)
        config = _json(root / "config.json")
        self.max_seq_length = int(_json(root / "sentence_bert_config.json")["max_seq_length"])
        self.dimension = int(config["hidden_size"])
        self._heads = int(config["num_attention_heads"])
        self._layers = int(config["num_hidden_layers"])
        self._eps = float(config.get("layer_norm_eps", 1e-12))
        weights = load_file(str(root / "model.safetensors"))
        self._w = {k.removeprefix("bert."): v for k, v in weights.items()}
        self._counter = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._batcher = Tokenizer.from_file(str(root / "tokenizer.json"))
        self._batcher.enable_truncation(self.max_seq_length)
        self._batcher.enable_padding(pad_id=int(config.get("pad_token_id", 0)))

    def count_tokens(self, text: str) -> int:
        """Word pieces in ``text`` without the special tokens, never cut."""
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def encode(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
        """Unit float32 vectors, one row per text. Longest texts are batched together
        (as sentence-transformers does) so little padding is computed."""
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            out[chosen] = self._encode_batch([texts[i] for i in chosen])
        return out

    @torch.inference_mode()
    def _encode_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        w, dim = self._w, self.dimension
        encoded = self._batcher.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
        types = torch.tensor([e.type_ids for e in encoded], dtype=torch.long)
        mask = torch.tensor([e.attention_mask for e in encoded], dtype=torch.bool)
        batch, length = ids.shape
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][:length]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = self._norm(x, "embeddings.LayerNorm")
        attend = mask[:, None, None, :]
        heads, head_dim = self._heads, dim // self._heads
        for layer in range(self._layers):
            p = f"encoder.layer.{layer}."

            def split(name: str, t: torch.Tensor, p: str = p) -> torch.Tensor:
                y = F.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])
                return y.view(batch, length, heads, head_dim).transpose(1, 2)

            q, k, v = (split(f"attention.self.{n}", x) for n in ("query", "key", "value"))
            context = F.scaled_dot_product_attention(q, k, v, attn_mask=attend)
            context = context.transpose(1, 2).reshape(batch, length, dim)
            attended = F.linear(
                context,
                w[p + "attention.output.dense.weight"],
                w[p + "attention.output.dense.bias"],
            )
            x = self._norm(attended + x, p + "attention.output.LayerNorm")
            hidden = F.gelu(
                F.linear(x, w[p + "intermediate.dense.weight"], w[p + "intermediate.dense.bias"])
            )
            out = F.linear(hidden, w[p + "output.dense.weight"], w[p + "output.dense.bias"])
            x = self._norm(out + x, p + "output.LayerNorm")
        keep = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * keep).sum(dim=1) / keep.sum(dim=1).clamp(min=1e-9)
        return F.normalize(pooled, p=2.0, dim=1).numpy().astype(np.float32, copy=False)

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        w = self._w
        return F.layer_norm(x, (self.dimension,), w[name + ".weight"], w[name + ".bias"], self._eps)
