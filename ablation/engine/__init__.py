"""The search engine: the only package that imports Optuna."""

import warnings

import optuna

# We drive heartbeats ourselves in ask-and-tell mode (Optuna only does so inside optimize()), so
# its warnings about that, and about heartbeats being experimental, say nothing useful to users.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
optuna.logging.set_verbosity(optuna.logging.WARNING)
