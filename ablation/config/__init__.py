"""Plain configuration types and value limits: TrainConfig, and the DEVICES registry of the
kinds of device with their spellings (no other registry, no torch)."""
