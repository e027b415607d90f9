"""One training run: fit(config, seed) -> FitResult, and its helpers. No Optuna here."""
