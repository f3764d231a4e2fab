"""SynthGait: procedural 3-D walkers rendered as gait silhouettes (numpy only)."""
