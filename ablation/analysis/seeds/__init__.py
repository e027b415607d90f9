"""The sequential rule that adds seeds in rounds only where a verdict is still open (the
default of `ablate run` and `--until-resolved`), and its vectorised simulation."""
