"""Body proportion retargeting, as MusePose and UniAnimate align a driving pose to a reference: each
limb of the driving skeleton keeps its direction frame by frame but takes the reference's length
(scaled by the driver's own length in that frame over its typical length, so foreshortening stays),
rebuilt outward from the neck. The FLT face moves with the nose it hangs on, each hand with its
wrist, so face, hands and body agree.

Skeleton: OpenPose-18 (0 nose, 1 neck, 2-4 right arm, 5-7 left arm, 8-10 right leg, 11-13 left leg,
14-17 eyes and ears), coordinates in pixels, NaN where missing.
"""

from __future__ import annotations

import numpy as np

__all__ = ["LIMBS", "retarget"]

# (parent, child), parents before children, rooted at the neck.
LIMBS = [(1, 2), (2, 3), (3, 4), (1, 5), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
         (1, 0), (0, 14), (14, 16), (0, 15), (15, 17)]


def retarget(reference_body: np.ndarray, bodies: np.ndarray, faces: np.ndarray | None = None,
             hands: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Retargets driving bodies (T, 18, 2) to the reference's limb lengths (reference_body (18, 2)).

    Returns the new bodies, and faces (T, K, 2) / hands (T, 2, 21, 2) moved with the nose / wrists.
    Limbs missing in the reference or never seen in the driving keep the driver's lengths.
    """
    bodies = np.asarray(bodies, np.float64)
    reference_body = np.asarray(reference_body, np.float64)
    out = bodies.copy()
    for parent, child in LIMBS:
        offset = bodies[:, child] - bodies[:, parent]
        length = np.linalg.norm(offset, axis=1)
        typical = np.nanmedian(length) if np.isfinite(length).any() else np.nan
        target = np.linalg.norm(reference_body[child] - reference_body[parent])
        ratio = target / typical if np.isfinite(target) and np.isfinite(typical) and typical > 0 else 1.0
        out[:, child] = out[:, parent] + offset * ratio
    out[:, 1] = bodies[:, 1]  # the root stays
    moved_faces = None
    if faces is not None:
        shift = out[:, 0] - bodies[:, 0]
        moved_faces = np.asarray(faces, np.float64) + np.nan_to_num(shift)[:, None]
    moved_hands = None
    if hands is not None:
        moved_hands = np.asarray(hands, np.float64).copy()
        for side, wrist in ((0, 7), (1, 4)):  # left hand - left wrist, right hand - right wrist
            moved_hands[:, side] += np.nan_to_num(out[:, wrist] - bodies[:, wrist])[:, None]
    cast = lambda a: None if a is None else a.astype(np.float32)
    return out.astype(np.float32), cast(moved_faces), cast(moved_hands)
