"""The task model of --static-embeddings: frozen word vectors, a BiLSTM, and a classification or
tagging head, with outputs shaped like transformers' so the tasks and the loop use it unchanged.

Its folder is lmlearn's own format (config.json + model.safetensors), read by `load_static_model`:
word2vec + BiLSTM is not a transformers architecture, so no AutoModel loads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lmlearn.errors import LmlearnError

KIND = "lmlearn-static-embeddings"  # marks the config.json of a model folder written here


@dataclass
class StaticModelConfig:
    """What a static-embeddings model is made of; saved as its config.json."""

    head: str
    vocab_size: int
    embedding_dim: int
    hidden_size: int
    num_labels: int
    dropout: float
    pad_token_id: int
    id2label: dict[int, str]
    kind: str = KIND


class StaticEmbeddingModel(nn.Module):
    """Frozen word vectors → BiLSTM → masked mean+max pooling and a linear classifier
    (sequence-classification), or a linear classifier on every token (token-classification)."""

    def __init__(self, config: StaticModelConfig, table: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        if table is None:
            table = torch.zeros(config.vocab_size, config.embedding_dim)
        self.embeddings = nn.Embedding.from_pretrained(table, freeze=True, padding_idx=config.pad_token_id)
        self.lstm = nn.LSTM(config.embedding_dim, config.hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(config.dropout)
        pooled = 2 if config.head == "token-classification" else 4  # two directions (× mean and max)
        self.classifier = nn.Linear(pooled * config.hidden_size, config.num_labels)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None) -> Any:
        """Logits, and the cross-entropy loss (labels of -100 ignored) when `labels` are given.

        Rows are right-padded and hold at least one token; `token_type_ids` are ignored, as [SEP]
        already marks where the second text of a pair begins."""
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        from transformers.modeling_outputs import SequenceClassifierOutput, TokenClassifierOutput

        mask = attention_mask.bool() if attention_mask is not None else input_ids != self.config.pad_token_id
        lengths = mask.sum(1)
        # Packing makes the backward direction start at each row's last real token, not at padding.
        packed = pack_padded_sequence(self.embeddings(input_ids), lengths.cpu(), batch_first=True,
                                      enforce_sorted=False)
        hidden, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, total_length=input_ids.size(1))
        if self.config.head == "token-classification":
            logits, output = self.classifier(self.dropout(hidden)), TokenClassifierOutput
        else:
            keep = mask.unsqueeze(-1)
            mean = (hidden * keep).sum(1) / lengths.unsqueeze(-1).to(hidden.dtype)
            top = hidden.masked_fill(~keep, float("-inf")).amax(1)
            logits, output = self.classifier(self.dropout(torch.cat([mean, top], -1))), SequenceClassifierOutput
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.reshape(-1, logits.size(-1)).float(), labels.reshape(-1),
                                               ignore_index=-100)
        return output(loss=loss, logits=logits)

    def save_pretrained(self, save_directory: str | Path) -> None:
        """Write config.json and model.safetensors, the folder `load_static_model` reads."""
        from safetensors.torch import save_file

        path = Path(save_directory)
        path.mkdir(parents=True, exist_ok=True)
        (path / "config.json").write_text(json.dumps(asdict(self.config), indent=2, ensure_ascii=False) + "\n",
                                          encoding="utf-8")
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
                  str(path / "model.safetensors"))


def load_static_model(path: str | Path) -> StaticEmbeddingModel:
    """Load the model folder of a static-embeddings run.

    The folder is lmlearn's own format, not an AutoModel one: word2vec + BiLSTM is not a
    transformers architecture. Its tokenizer loads with `AutoTokenizer.from_pretrained(path)`.
    """
    from safetensors.torch import load_file

    config_file = Path(path) / "config.json"
    data = json.loads(config_file.read_text(encoding="utf-8")) if config_file.is_file() else {}
    if data.get("kind") != KIND:
        raise LmlearnError(f"{path}: not a static-embeddings model folder (its config.json lacks "
                           f"\"kind\": \"{KIND}\"); give OUT/model of a --static-embeddings run")
    data["id2label"] = {int(k): v for k, v in data["id2label"].items()}
    model = StaticEmbeddingModel(StaticModelConfig(**data))
    model.load_state_dict(load_file(str(Path(path) / "model.safetensors")))
    return model
