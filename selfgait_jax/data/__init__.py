"""Datasets: SynthGait, real-data readers, protocols (numpy only here; TensorFlow only in pipelines)."""
