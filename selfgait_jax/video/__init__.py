"""From a static camera's video to walkers' silhouette sequences (numpy and OpenCV; no JAX, no TF).

    clips.py        a video file (anything OpenCV decodes) or a folder of frames -> RGB frames in memory; writing one
    segmenters.py   RGB frames -> foreground masks: background subtraction (median, MOG2, KNN) or a
                    user's function named "module:function"
    tracking.py     masks -> walker tracks: connected components followed over frames, merges bridged
    extract.py      the whole chain: tracks -> the project's pretreatment (64x44) -> the PNG tree the
                    readers take, a summary and a contact sheet
"""
