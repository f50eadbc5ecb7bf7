import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
)

from trainers.common.pooler import has_square_pooler, reset_pooler


def test_bert_pooler_becomes_tanh_of_cls() -> None:
    torch.manual_seed(0)
    model = BertForSequenceClassification(
        BertConfig(
            vocab_size=50,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=3,
        )
    )
    assert has_square_pooler(model)
    reset_pooler(model)
    hidden = torch.randn(2, 5, 16)
    assert torch.allclose(model.bert.pooler(hidden), torch.tanh(hidden[:, 0]))


def test_distilbert_has_no_pooler_to_reset() -> None:
    model = DistilBertForSequenceClassification(
        DistilBertConfig(vocab_size=50, dim=16, n_layers=1, n_heads=2, hidden_dim=32)
    )
    assert not has_square_pooler(model)
