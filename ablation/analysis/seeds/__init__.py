"""How many seeds: the power of a paired comparison and the seeds a plan needs, and the
sequential rule that adds seeds in rounds only where a verdict is still open."""
