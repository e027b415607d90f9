"""Compression transforms, ablate's artifact format, and scoring the reloaded artifact."""
