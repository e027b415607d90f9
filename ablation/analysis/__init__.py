"""Pure analysis: metrics, statistics, the Pareto front, typed trial records. No I/O."""
