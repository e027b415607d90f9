"""Plain configuration types and value limits: TrainConfig, device spellings; no registry."""
