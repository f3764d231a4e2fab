"""Datasets: SynthGait, real-data readers, splits and protocols (numpy only here; TensorFlow only in the
input pipelines' tf.data back end, tf_input.py)."""
