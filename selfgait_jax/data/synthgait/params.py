"""Latent parameters of a SynthGait walker (its identity) and of one walk (a sequence).

A subject's identity is drawn from (dataset seed, subject id) only, so every sequence and every view
of that subject shows the same person, and any subset of subjects can be generated on its own. The
ranges are plausible adult ones (metres, degrees, steps per minute); different subjects differ in
build and in gait dynamics. A walk (one ``type`` such as "nm-03") varies speed and start phase a
little; the cameras of one walk see the same motion, as CASIA-B's 11 synchronised cameras do.
"""

from __future__ import annotations

import dataclasses
import zlib

import numpy as np

BAG_KINDS = ("backpack", "shoulder", "hand")


def rng_for(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on the seed and the given string keys (stable across runs)."""
    entropy = [int(seed) & 0xFFFFFFFF] + [zlib.crc32(str(k).encode("utf-8")) for k in keys]
    return np.random.default_rng(np.random.SeedSequence(entropy))


@dataclasses.dataclass(frozen=True)
class Walker:
    """Identity of one subject: body shape, gait dynamics and the things they wear or carry."""

    # Body (metres).
    height: float
    hip_height: float  # hip joint above the ground, standing
    ankle_height: float
    thigh: float
    shin: float
    torso: float  # hip centre to shoulder line
    neck: float
    head_radius: float
    head_length: float  # vertical extent of the head capsule's axis
    shoulder_width: float  # between shoulder joints
    hip_width: float  # between hip joints
    upper_arm: float
    forearm: float
    hand: float
    foot: float
    build: float  # overall girth factor (1 = average)
    torso_depth: float  # radius of the torso seen from the side
    belly: float  # extra depth at the waist (forward bulge)
    thigh_radius: float
    shin_radius: float
    arm_radius: float
    forearm_radius: float
    # Gait dynamics.
    cadence: float  # steps per minute
    stride_ratio: float  # stride (one cycle) over leg length
    hip_offset: float  # degrees of mean hip flexion
    hip_harmonic: float  # degrees of a second harmonic in the hip angle
    hip_harmonic_phase: float
    knee_loading: float  # degrees of knee flexion after heel strike
    knee_swing: float  # degrees of peak knee flexion in swing
    knee_swing_phase: float  # where in the cycle (fraction) that peak is
    arm_swing: float  # degrees of shoulder swing amplitude
    arm_offset: float
    elbow_flexion: float
    elbow_swing: float
    arm_abduction: float
    trunk_lean: float
    lean_oscillation: float
    head_tilt: float
    bounce_gain: float  # scales the natural vertical bounce of the pelvis
    sway: float  # metres of lateral pelvis sway
    pelvis_rotation: float  # degrees of pelvis yaw
    thorax_rotation: float
    asymmetry_phase: float  # fraction of a cycle the left leg is late by
    asymmetry_amplitude: float  # left/right ratio of hip and arm amplitudes
    toe_out: float
    step_width: float
    # Carried and worn (conditions BG and CL).
    bag: str
    bag_side: int  # +1 left, -1 right
    bag_size: float
    coat_length: float  # hem as a fraction of the thigh length below the hip
    coat_thickness: float  # metres added to the torso radius
    coat_flare: float  # extra radius at the hem


@dataclasses.dataclass(frozen=True)
class Walk:
    """Per-sequence variation of one walk: speed, start phase and small posture changes."""

    speed: float  # relative to the subject's usual speed
    start_phase: float  # fraction of a cycle
    arm_swing_scale: float
    lean_delta: float  # degrees


def _between(rng: np.random.Generator, low: float, high: float) -> float:
    """A truncated normal centred in [low, high], clipped to it: most people are average."""
    mid, half = (low + high) / 2, (high - low) / 2
    return float(np.clip(rng.normal(mid, half / 1.8), low, high))


def draw_walker(seed: int, subject: str) -> Walker:
    """The identity of ``subject`` in the dataset with ``seed``: same inputs, same person."""
    rng = rng_for(seed, "walker", subject)
    b = _between
    height = b(rng, 1.52, 1.94)
    build = b(rng, 0.82, 1.38)
    leg_ratio = b(rng, 0.47, 0.545)
    hip_height = leg_ratio * height
    ankle_height = 0.039 * height
    thigh_fraction = b(rng, 0.48, 0.56)
    leg = hip_height - ankle_height
    shoulder_height = b(rng, 0.805, 0.83) * height
    head_radius = b(rng, 0.078, 0.095) * (0.9 + 0.1 * build)
    neck = b(rng, 0.035, 0.065) * height
    head_length = max(0.01, height - shoulder_height - neck - 2 * head_radius)
    broad = b(rng, 0.0, 1.0)  # shoulder vs hip dominance, partly independent of build
    return Walker(
        height=height,
        hip_height=hip_height,
        ankle_height=ankle_height,
        thigh=thigh_fraction * leg,
        shin=(1 - thigh_fraction) * leg,
        torso=shoulder_height - hip_height,
        neck=neck,
        head_radius=head_radius,
        head_length=head_length,
        shoulder_width=(0.19 + 0.045 * broad) * height * (0.95 + 0.05 * build),
        hip_width=(0.095 + 0.025 * (1 - broad)) * height * (0.9 + 0.1 * build),
        upper_arm=b(rng, 0.165, 0.195) * height,
        forearm=b(rng, 0.14, 0.165) * height,
        hand=b(rng, 0.085, 0.11) * height,
        foot=b(rng, 0.145, 0.16) * height,
        build=build,
        torso_depth=0.105 * build * b(rng, 0.9, 1.12),
        belly=max(0.0, (build - 1.0)) * b(rng, 0.05, 0.16),
        thigh_radius=0.074 * build * b(rng, 0.9, 1.1),
        shin_radius=0.052 * (0.6 + 0.4 * build) * b(rng, 0.9, 1.1),
        arm_radius=0.045 * build * b(rng, 0.9, 1.1),
        forearm_radius=0.036 * (0.7 + 0.3 * build),
        cadence=b(rng, 92.0, 128.0),
        stride_ratio=b(rng, 1.2, 1.75),
        hip_offset=b(rng, 2.0, 10.0),
        hip_harmonic=b(rng, -4.0, 4.0),
        hip_harmonic_phase=float(rng.uniform(0, 2 * np.pi)),
        knee_loading=b(rng, 5.0, 24.0),
        knee_swing=b(rng, 48.0, 72.0),
        knee_swing_phase=b(rng, 0.68, 0.76),
        arm_swing=b(rng, 6.0, 36.0),
        arm_offset=b(rng, -6.0, 6.0),
        elbow_flexion=b(rng, 4.0, 30.0),
        elbow_swing=b(rng, 0.0, 22.0),
        arm_abduction=b(rng, 3.0, 13.0),
        trunk_lean=b(rng, -3.0, 10.0),
        lean_oscillation=b(rng, 0.0, 3.0),
        head_tilt=b(rng, -6.0, 16.0),
        bounce_gain=b(rng, 0.6, 1.5),
        sway=b(rng, 0.005, 0.045),
        pelvis_rotation=b(rng, 2.0, 12.0),
        thorax_rotation=b(rng, 1.0, 9.0),
        asymmetry_phase=b(rng, -0.035, 0.035),
        asymmetry_amplitude=b(rng, 0.85, 1.15),
        toe_out=b(rng, -2.0, 18.0),
        step_width=b(rng, 0.04, 0.16),
        bag=BAG_KINDS[int(rng.integers(len(BAG_KINDS)))],
        bag_side=int(rng.choice([-1, 1])),
        bag_size=b(rng, 0.85, 1.25),
        coat_length=b(rng, 0.3, 1.0),
        coat_thickness=b(rng, 0.02, 0.05),
        coat_flare=b(rng, 0.0, 0.04),
    )


def draw_walk(seed: int, subject: str, sequence_type: str) -> Walk:
    """The variation of one walk; independent of the camera, so all views of a walk agree."""
    rng = rng_for(seed, "walk", subject, sequence_type)
    return Walk(
        speed=float(np.clip(rng.normal(1.0, 0.045), 0.88, 1.12)),
        start_phase=float(rng.uniform(0.0, 1.0)),
        arm_swing_scale=float(np.clip(rng.normal(1.0, 0.08), 0.8, 1.2)),
        lean_delta=float(np.clip(rng.normal(0.0, 1.0), -2.5, 2.5)),
    )
