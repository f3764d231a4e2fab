"""Datasets: SynthGait, real-data readers, splits and protocols (numpy only here; TensorFlow only in pipelines)."""
