"""3-D articulated walker: joint trajectories of a gait cycle and the capsules that make the body.

Axes: x forward (walking direction), y to the walker's left, z up; metres. The walker is rendered in
a frame that moves with its mean progression, because the pretreatment crops each frame to the
silhouette anyway. Everything is vectorized over frames: a joint is an array ``[T, 3]``.

Gait model (phase φ of the right leg, 0 = right heel strike; the left leg is half a cycle later):
hip flexion = offset + amplitude·cos φ (+ a personal second harmonic), the amplitude set by the stride
length relative to the leg; knee flexion has a loading bump after heel strike and a swing peak near
70 % of the cycle; the stance leg touches the ground, which gives the natural vertical bounce; arms
swing against the same-side leg; pelvis and thorax counter-rotate; the pelvis sways sideways.
"""

from __future__ import annotations

import numpy as np

from selfgait_jax.data.synthgait.params import Walk, Walker

FPS = 25.0  # CASIA-B and OU-MVLP are 25 frames per second.
TWO_PI = 2 * np.pi


def _bump(phase: np.ndarray, centre: float, concentration: float) -> np.ndarray:
    """A periodic bump in [0, 1] peaking at ``centre`` (radians); larger concentration = narrower."""
    return np.exp(concentration * (np.cos(phase - centre) - 1.0))


def _leg_angles(w: Walker, phase: np.ndarray, amplitude_scale: float):
    """Hip flexion, knee flexion and foot pitch (radians) of a leg at ``phase``."""
    leg = w.thigh + w.shin
    amplitude = np.degrees(np.arcsin(np.clip(w.stride_ratio * leg / (4 * leg), 0, 0.6)))
    hip = (
        w.hip_offset
        + amplitude * amplitude_scale * np.cos(phase)
        + w.hip_harmonic * np.cos(2 * phase + w.hip_harmonic_phase)
    )
    knee = w.knee_loading * _bump(phase, 0.13 * TWO_PI, 9.0) + w.knee_swing * _bump(
        phase, w.knee_swing_phase * TWO_PI, 5.0
    )
    pitch = 14.0 * _bump(phase, 0.0, 10.0) - 32.0 * _bump(phase, 0.6 * TWO_PI, 14.0)
    return np.radians(hip), np.radians(knee), np.radians(pitch)


def _yaw(vectors: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate ``[T, 3]`` vectors about the vertical axis by ``angle [T]`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    x, y, z = vectors[..., 0], vectors[..., 1], vectors[..., 2]
    return np.stack([c * x - s * y, s * x + c * y, z], axis=-1)


def _sagittal(angle: np.ndarray, length: float, lateral: float | np.ndarray = 0.0) -> np.ndarray:
    """A segment hanging down, swung forward by ``angle`` [T] radians: ``[T, 3]``."""
    return np.stack(
        [length * np.sin(angle), np.broadcast_to(lateral, angle.shape), -length * np.cos(angle)],
        axis=-1,
    )


def pose(w: Walker, walk: Walk, num_frames: int, *, hand_bag_side: int = 0) -> dict[str, np.ndarray]:
    """Joint positions ``[T, 3]`` for ``num_frames`` frames of the walk.

    ``hand_bag_side`` (+1 left, -1 right, 0 none) damps that arm's swing: a hand holding a bag hangs.
    """
    t = np.arange(num_frames, dtype=np.float64)
    cycles_per_frame = w.cadence * np.sqrt(walk.speed) / 120.0 / FPS
    phase = TWO_PI * (walk.start_phase + cycles_per_frame * t)
    sides = {"r": (-1, phase, 1.0), "l": (1, phase + np.pi + TWO_PI * w.asymmetry_phase, w.asymmetry_amplitude)}
    stride_scale = np.sqrt(walk.speed)

    # Stance leg on the ground: pelvis height from the lower ankle (natural bounce), then scaled.
    angles = {s: _leg_angles(w, ph, stride_scale * amp) for s, (_, ph, amp) in sides.items()}
    grid = np.linspace(0, TWO_PI, 64, endpoint=False)

    def leg_drop(h, k):
        return w.thigh * np.cos(h) + w.shin * np.cos(h - k)

    drop = np.maximum(*(leg_drop(a[0], a[1]) for a in angles.values()))
    grid_drop = np.maximum(
        leg_drop(*_leg_angles(w, grid, stride_scale)[:2]),
        leg_drop(*_leg_angles(w, grid + np.pi, stride_scale * w.asymmetry_amplitude)[:2]),
    )
    pelvis_z = w.ankle_height + grid_drop.mean() + w.bounce_gain * (drop - grid_drop.mean())
    pelvis = np.stack([np.zeros_like(t), -w.sway * np.sin(phase + 0.3), pelvis_z], axis=-1)

    joints: dict[str, np.ndarray] = {"pelvis": pelvis}
    pelvis_yaw = np.radians(w.pelvis_rotation) * np.cos(phase)
    thorax_yaw = -np.radians(w.thorax_rotation) * np.cos(phase)
    for side, (sign, ph, amp) in sides.items():
        hip_angle, knee_angle, pitch = angles[side]
        hip = pelvis + _yaw(np.broadcast_to([0.0, sign * w.hip_width / 2, 0.0], pelvis.shape), pelvis_yaw)
        inward = sign * max(0.0, w.hip_width / 2 - w.step_width / 2)
        knee = hip + _sagittal(hip_angle, w.thigh, -inward / 2)
        ankle = knee + _sagittal(hip_angle - knee_angle, w.shin, -inward / 2)
        toe_out = np.radians(w.toe_out)
        direction = np.stack(
            [np.cos(pitch) * np.cos(toe_out), sign * np.sin(toe_out) * np.cos(pitch), np.sin(pitch)], axis=-1
        )
        down = np.array([0.0, 0.0, -0.45 * w.ankle_height])
        joints[f"hip_{side}"] = hip
        joints[f"knee_{side}"] = knee
        joints[f"ankle_{side}"] = ankle
        joints[f"heel_{side}"] = ankle - 0.22 * w.foot * direction + down
        joints[f"toe_{side}"] = ankle + 0.7 * w.foot * direction + down

    lean = np.radians(w.trunk_lean + walk.lean_delta + w.lean_oscillation * np.cos(2 * phase))
    spine = _sagittal(np.pi - lean, w.torso)  # pointing up, leaning forward
    neck_base = pelvis + spine
    head_angle = lean + np.radians(w.head_tilt)
    head_base = neck_base + _sagittal(np.pi - lean, w.neck)
    head_axis = _sagittal(np.pi - head_angle, 1.0)
    joints.update(
        neck=neck_base,
        waist=pelvis + 0.45 * spine,
        chest=pelvis + 0.75 * spine,
        head_low=head_base + w.head_radius * 0.8 * head_axis,
        head_high=head_base + (w.head_radius * 0.8 + w.head_length) * head_axis,
    )
    for side, (sign, ph, amp) in sides.items():
        offset = np.broadcast_to([0.0, sign * w.shoulder_width / 2, -0.02], pelvis.shape)
        shoulder = neck_base + _yaw(offset, thorax_yaw)
        swing = w.arm_swing * walk.arm_swing_scale * amp * (0.25 if sign == hand_bag_side else 1.0)
        flexion = np.radians(w.arm_offset - swing * np.cos(ph))
        elbow_bend = np.radians(
            (w.elbow_flexion + w.elbow_swing * (0.5 + 0.5 * np.cos(ph + np.pi)))
            * (0.3 if sign == hand_bag_side else 1.0)
        )
        abduction = np.radians(w.arm_abduction)
        lateral = sign * np.sin(abduction)
        upper = _sagittal(flexion, np.cos(abduction), lateral) * w.upper_arm
        fore_dir = _sagittal(flexion + elbow_bend, np.cos(abduction), lateral * 0.6)
        elbow = shoulder + upper
        wrist = elbow + w.forearm * fore_dir
        joints[f"shoulder_{side}"] = shoulder
        joints[f"elbow_{side}"] = elbow
        joints[f"wrist_{side}"] = wrist
        joints[f"hand_{side}"] = wrist + w.hand * fore_dir
    return joints


def capsules(w: Walker, j: dict[str, np.ndarray], condition: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The body (and bag or coat) as capsules: ``(starts [T, K, 3], ends [T, K, 3], radii [K])``.

    ``condition`` is "nm", "bg" (the subject's bag) or "cl" (a coat: thicker torso and sleeves and a
    skirt down the thighs that also fills the gap between the legs).
    """
    coat = condition == "cl"
    extra = w.coat_thickness if coat else 0.0
    parts: list[tuple[np.ndarray, np.ndarray, float]] = []

    def add(a, b, r):
        parts.append((a, b, r))

    pelvis, neck, waist, chest = j["pelvis"], j["neck"], j["waist"], j["chest"]
    forward = np.array([1.0, 0.0, 0.0])
    lateral = np.array([0.0, 1.0, 0.0])
    up = np.array([0.0, 0.0, 1.0])
    # Torso: a left and a right half (wide seen from the front, deep seen from the side), a waist
    # bulge for heavier builds, a pelvis block and shoulders.
    torso_r = w.torso_depth + extra
    half_shoulder = max(0.02, w.shoulder_width / 2 - w.arm_radius - 0.5 * torso_r + 0.02)
    half_hip = max(0.02, w.hip_width / 2 + 0.01)
    for sign in (-1, 1):
        add(pelvis + sign * half_hip * lateral + 0.02 * up, chest + sign * half_shoulder * lateral, torso_r)
    add(waist + (w.belly + 0.3 * extra) * forward, chest + 0.3 * extra * forward, torso_r * 0.9)
    add(j["hip_l"] + 0.02 * up, j["hip_r"] + 0.02 * up, w.thigh_radius * 1.15 + extra * 0.5)
    add(j["shoulder_l"], j["shoulder_r"], w.arm_radius * 1.2 + extra)
    add(neck - 0.02 * up, j["head_low"], 0.055 * (0.8 + 0.2 * w.build))
    add(j["head_low"], j["head_high"], w.head_radius)
    for side in ("l", "r"):
        sleeve = 0.6 * extra
        add(j[f"hip_{side}"], j[f"knee_{side}"], w.thigh_radius)
        add(j[f"knee_{side}"], j[f"ankle_{side}"], w.shin_radius)
        add(j[f"heel_{side}"], j[f"toe_{side}"], 0.45 * w.ankle_height * (0.8 + 0.2 * w.build) + 0.01)
        add(j[f"shoulder_{side}"], j[f"elbow_{side}"], w.arm_radius + sleeve)
        add(j[f"elbow_{side}"], j[f"wrist_{side}"], w.forearm_radius + sleeve)
        add(j[f"wrist_{side}"], j[f"hand_{side}"], 0.75 * w.forearm_radius)
    if coat:
        hem_r = w.thigh_radius + 0.6 * w.coat_thickness + w.coat_flare
        hems = []
        for side in ("l", "r"):
            hip, knee = j[f"hip_{side}"], j[f"knee_{side}"]
            hem = hip + min(w.coat_length, 1.1) * (knee - hip)
            hems.append(hem)
            add(hip + 0.05 * up, hem, hem_r)
        add(pelvis, (hems[0] + hems[1]) / 2, hem_r)
    elif condition == "bg":
        parts.extend(_bag(w, j))
    starts = np.stack([np.broadcast_to(a, pelvis.shape) for a, _, _ in parts], axis=1)
    ends = np.stack([np.broadcast_to(b, pelvis.shape) for _, b, _ in parts], axis=1)
    radii = np.array([r for _, _, r in parts], dtype=np.float64)
    return starts, ends, radii


def _bag(w: Walker, j: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """The subject's bag, attached to the body so it moves with it."""
    s = w.bag_size
    up = np.array([0.0, 0.0, 1.0])
    side = "l" if w.bag_side > 0 else "r"
    chest, neck = j["chest"], j["neck"]
    if w.bag == "backpack":
        back = chest - neck
        spine_dir = -back / np.linalg.norm(back, axis=-1, keepdims=True)  # upwards along the spine
        behind = np.stack([-spine_dir[:, 2], 0 * spine_dir[:, 0], spine_dir[:, 0]], axis=-1)
        depth = 0.1 * s
        centre = chest - 0.06 * spine_dir + behind * (w.torso_depth + depth)
        parts = []
        for lat in (-0.08 * s, 0.08 * s):
            offset = np.array([0.0, lat, 0.0])
            parts.append((centre + offset - 0.14 * s * spine_dir, centre + offset + 0.14 * s * spine_dir, depth))
        return parts
    if w.bag == "shoulder":
        hip = j[f"hip_{side}"]
        pushed = 0.3 * (j[f"knee_{side}"] - hip) * np.array([1.0, 0.0, 0.0])  # the thigh swings it
        centre = hip + np.array([0.03, w.bag_side * (w.thigh_radius + 0.07 * s), 0.04]) + pushed
        half = np.array([0.15 * s, 0.0, 0.0])
        return [
            (centre - half + 0.06 * s * up, centre + half + 0.06 * s * up, 0.075 * s),
            (centre - half - 0.06 * s * up, centre + half - 0.06 * s * up, 0.075 * s),
        ]
    hand = j[f"hand_{side}"]
    top = hand - 0.02 * up
    return [
        (top - np.array([0.12 * s, 0.0, 0.0]) - 0.09 * s * up,
         top + np.array([0.12 * s, 0.0, 0.0]) - 0.09 * s * up, 0.09 * s),
        (top - 0.03 * up, top - 0.25 * s * up, 0.09 * s),
    ]
