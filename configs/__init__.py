"""ml_collections experiment configs; load one with ``--config=configs/<name>.py[:tiny]``."""
