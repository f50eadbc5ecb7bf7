"""Intent-classifier trainer: `train.train_intent`, `predict.IntentPredictor`, `config.IntentTrainConfig`."""
