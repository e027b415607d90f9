"""Data sets (the DATASETS registry) as in-memory uint8 tensors, and label maps."""
