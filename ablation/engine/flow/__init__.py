"""The order of a run: stages (grid, refine, search, confirm), rounds of seeds, cross-evaluation."""
