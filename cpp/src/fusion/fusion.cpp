#include "faceflt/fusion/fusion.hpp"

#include "faceflt/fitting/projection.hpp"

#include <limits>
#include <stdexcept>

namespace faceflt::fusion {

std::vector<FusedFrame> fuse(const model::FaceModel& model, const Eigen::VectorXf& reference_shape,
                             const std::vector<fitting::FrameFit>& driving, const std::vector<core::Points2>& guides,
                             bool keep_mesh, const std::vector<std::vector<int>>& vertex_ids) {
    if (!guides.empty() && guides.size() != driving.size()) {
        throw std::invalid_argument("fuse: got " + std::to_string(guides.size()) + " guide landmark sets for " +
                                    std::to_string(driving.size()) + " driving frames");
    }
    if (!vertex_ids.empty() && vertex_ids.size() != driving.size()) {
        throw std::invalid_argument("fuse: got " + std::to_string(vertex_ids.size()) + " vertex id sets for " +
                                    std::to_string(driving.size()) + " driving frames");
    }
    if (!reference_shape.allFinite()) throw std::invalid_argument("fuse: the reference shape coefficients hold NaN");
    std::vector<FusedFrame> out(driving.size());
    const core::Points2 no_guide(0, 2);
    for (std::size_t i = 0; i < driving.size(); ++i) {
        const auto& d = driving[i];
        if (!d.ok) {
            out[i].landmarks = core::Points2::Constant(model.mapping.num_landmarks, 2, std::numeric_limits<float>::quiet_NaN());
            out[i].vertex_ids.assign(static_cast<std::size_t>(model.mapping.num_landmarks), -1);
            continue;
        }
        core::Vertices mesh = model::build_mesh(model, reference_shape, d.expression_coeffs);
        if (vertex_ids.empty()) {
            out[i].landmarks = fitting::project_landmarks(model, mesh, d.camera, guides.empty() ? no_guide : guides[i], &out[i].vertex_ids);
        } else {
            const auto& ids = vertex_ids[i];
            out[i].vertex_ids = ids;
            out[i].landmarks = core::Points2::Constant(static_cast<Eigen::Index>(ids.size()), 2, std::numeric_limits<float>::quiet_NaN());
            for (std::size_t k = 0; k < ids.size(); ++k) {
                if (ids[k] < 0) continue;
                if (ids[k] >= model.num_vertices()) throw std::invalid_argument("fuse: vertex id " + std::to_string(ids[k]) + " out of range");
                out[i].landmarks.row(static_cast<Eigen::Index>(k)) = d.camera.project(Eigen::Vector3f(mesh.row(ids[k])));
            }
        }
        if (keep_mesh) out[i].mesh = std::move(mesh);
    }
    return out;
}

}  // namespace faceflt::fusion
