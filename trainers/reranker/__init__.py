"""Cross-encoder reranker: ``train.train_reranker`` fine-tunes, ``predict.RerankerPredictor`` scores."""
