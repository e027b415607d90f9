"""Where the workers run: in this process, as local processes, or as Ray tasks; their devices."""
