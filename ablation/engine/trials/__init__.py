"""One trial's life: a study registered, a point claimed, trained, recorded, failed, reaped."""
