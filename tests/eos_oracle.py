"""eos-py's fit_shape_and_pose set up as eos's own demo does, for tests and benchmarks to compare against."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def make_eos_fitter(eos, model_dir: Path):
    """Returns fit(points (68, 2), width, height) -> dict(ypr, shape, expression, projected), and the
    0-based landmark ids eos maps (``fit.mapped``); ``projected`` holds those landmarks, in pixels."""
    d = str(model_dir) + "/"
    m = eos.morphablemodel.load_model(d + "sfm_shape_3448.bin")
    blendshapes = eos.morphablemodel.load_blendshapes(d + "expression_blendshapes_3448.bin")
    mm = eos.morphablemodel.MorphableModel(m.get_shape_model(), blendshapes, color_model=eos.morphablemodel.PcaModel(),
                                           vertex_definitions=None, texture_coordinates=m.get_texture_coordinates())
    mapper = eos.core.LandmarkMapper(d + "ibug_to_sfm.txt")
    topology = eos.morphablemodel.load_edge_topology(d + "sfm_3448_edge_topology.json")
    contour_landmarks = eos.fitting.ContourLandmarks.load(d + "ibug_to_sfm.txt")
    model_contour = eos.fitting.ModelContour.load(d + "sfm_model_contours.json")
    mapped = [i for i in range(68) if mapper.convert(str(i + 1)) is not None]
    vertex_ids = [int(mapper.convert(str(i + 1))) for i in mapped]

    def fit(points: np.ndarray, width: int, height: int) -> dict:
        lms = [eos.core.Landmark(str(i + 1), [float(x), float(y)]) for i, (x, y) in enumerate(points)]
        mesh, pose, shape, expression = eos.fitting.fit_shape_and_pose(
            mm, lms, mapper, width, height, topology, contour_landmarks, model_contour)
        # eos's own projection: modelview, orthographic projection, then the OpenCV viewport.
        v = np.c_[np.asarray(mesh.vertices), np.ones(len(mesh.vertices))] @ np.asarray(pose.get_modelview()).T
        v = v @ np.asarray(pose.get_projection()).T
        projected = np.c_[(v[:, 0] + 1) * width / 2, height - (v[:, 1] + 1) * height / 2][vertex_ids]
        return dict(ypr=np.asarray(pose.get_yaw_pitch_roll()), shape=np.asarray(shape), expression=np.asarray(expression),
                    projected=projected)

    fit.mapped = np.array(mapped)
    return fit
