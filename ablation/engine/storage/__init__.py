"""Where a study lives: URLs and connections, our tables beside Optuna's, the artifact store."""
