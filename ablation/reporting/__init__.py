"""Results -> rows (pure) -> CSV / Markdown / LaTeX / HTML."""
