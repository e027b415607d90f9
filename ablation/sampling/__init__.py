"""SAMPLERS and PRUNERS registries: how a study's trials are chosen and stopped early (Optuna)."""
