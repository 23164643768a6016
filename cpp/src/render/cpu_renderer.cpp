// The CPU rasterizer: deferred shading over k x k samples per pixel. A depth pass keeps, per sample,
// the nearest front-facing triangle and its barycentric weights; a shading pass interpolates uv and
// weight there and samples the texture.
#include "faceflt/render/renderer.hpp"
#include "faceflt/core/triangle.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace faceflt::render {

namespace {

class CpuRenderer final : public Renderer {
public:
    CpuRenderer(int width, int height, int samples)
        : Renderer(width, height, samples), k_(static_cast<int>(std::lround(std::sqrt(samples)))) {}

    std::string name() const override { return "cpu"; }

    void set_mesh(const core::Triangles& triangles, const core::Points2& uv, const Eigen::VectorXf& weight) override {
        triangles_ = triangles;
        uv_ = uv;
        weight_ = weight;
    }

    void set_texture(const TextureImage& texture) override { texture_ = texture; }

    void render(const ScreenVertices& v, std::uint8_t* rgba, float* depth_out) override {
        if (v.rows() != uv_.rows()) {
            throw std::invalid_argument("render: " + std::to_string(v.rows()) + " vertices, the mesh has " + std::to_string(uv_.rows()));
        }
        const int sw = width_ * k_, sh = height_ * k_;
        const std::size_t ns = static_cast<std::size_t>(sw) * static_cast<std::size_t>(sh);
        depth_.assign(ns, -std::numeric_limits<float>::infinity());
        tri_.assign(ns, -1);
        bary_.resize(2 * ns);
        const float inv_k = 1.0f / static_cast<float>(k_);

        // Depth pass. Sample (i, j) of the supersampled grid sits at ((i + 0.5) / k, (j + 0.5) / k) pixels.
        for (std::size_t t = 0; t < triangles_.size(); ++t) {
            const core::ScreenTriangle s = core::ScreenTriangle::from(v, triangles_[t]);
            if (!s.faces_viewer()) continue;
            const int i0 = std::max(0, static_cast<int>(std::ceil(s.min_x() * k_ - 0.5f)));
            const int i1 = std::min(sw - 1, static_cast<int>(std::floor(s.max_x() * k_ - 0.5f)));
            const int j0 = std::max(0, static_cast<int>(std::ceil(s.min_y() * k_ - 0.5f)));
            const int j1 = std::min(sh - 1, static_cast<int>(std::floor(s.max_y() * k_ - 0.5f)));
            const auto& tri = triangles_[t];
            const float za = v(tri[0], 2), zb = v(tri[1], 2), zc = v(tri[2], 2);
            for (int j = j0; j <= j1; ++j) {
                const float y = (static_cast<float>(j) + 0.5f) * inv_k;
                for (int i = i0; i <= i1; ++i) {
                    float w0, w1, w2;
                    if (!s.weights((static_cast<float>(i) + 0.5f) * inv_k, y, w0, w1, w2)) continue;
                    const float z = w0 * za + w1 * zb + w2 * zc;
                    const std::size_t at = static_cast<std::size_t>(j) * static_cast<std::size_t>(sw) + static_cast<std::size_t>(i);
                    if (z > depth_[at]) {
                        depth_[at] = z;
                        tri_[at] = static_cast<int>(t);
                        bary_[2 * at] = w0;
                        bary_[2 * at + 1] = w1;
                    }
                }
            }
        }

        // Shading pass and resolve: the mean of the k x k premultiplied samples of each pixel.
        const float norm = 1.0f / static_cast<float>(k_ * k_);
        for (int y = 0; y < height_; ++y) {
            for (int x = 0; x < width_; ++x) {
                float acc[4] = {0, 0, 0, 0};
                float nearest = -std::numeric_limits<float>::infinity();
                for (int sj = 0; sj < k_; ++sj) {
                    for (int si = 0; si < k_; ++si) {
                        const std::size_t at = static_cast<std::size_t>(y * k_ + sj) * static_cast<std::size_t>(sw) +
                                               static_cast<std::size_t>(x * k_ + si);
                        if (tri_[at] < 0) continue;
                        nearest = std::max(nearest, depth_[at]);
                        const auto& tri = triangles_[static_cast<std::size_t>(tri_[at])];
                        const float w0 = bary_[2 * at], w1 = bary_[2 * at + 1], w2 = 1.0f - w0 - w1;
                        const float a = std::clamp(w0 * weight_(tri[0]) + w1 * weight_(tri[1]) + w2 * weight_(tri[2]), 0.0f, 1.0f);
                        const float u = w0 * uv_(tri[0], 0) + w1 * uv_(tri[1], 0) + w2 * uv_(tri[2], 0);
                        const float t = w0 * uv_(tri[0], 1) + w1 * uv_(tri[1], 1) + w2 * uv_(tri[2], 1);
                        float rgb[3];
                        sample(u, t, rgb);
                        for (int c = 0; c < 3; ++c) acc[c] += a * rgb[c];
                        acc[3] += a;
                    }
                }
                std::uint8_t* p = rgba + 4 * (static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x));
                for (int c = 0; c < 4; ++c) p[c] = static_cast<std::uint8_t>(std::lround(std::clamp(acc[c] * norm, 0.0f, 1.0f) * 255.0f));
                if (depth_out) {
                    depth_out[static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x)] =
                        std::isfinite(nearest) ? nearest : std::numeric_limits<float>::quiet_NaN();
                }
            }
        }
    }

private:
    // Bilinear, texel centres at (i + 0.5) / width, clamped to the edge; colours in [0, 1].
    void sample(float u, float v, float rgb[3]) const {
        if (texture_.width == 0) {
            rgb[0] = rgb[1] = rgb[2] = 1.0f;
            return;
        }
        const float x = u * static_cast<float>(texture_.width) - 0.5f, y = v * static_cast<float>(texture_.height) - 0.5f;
        const float fx = std::floor(x), fy = std::floor(y);
        const float ax = x - fx, ay = y - fy;
        const int x0 = std::clamp(static_cast<int>(fx), 0, texture_.width - 1), x1 = std::clamp(static_cast<int>(fx) + 1, 0, texture_.width - 1);
        const int y0 = std::clamp(static_cast<int>(fy), 0, texture_.height - 1), y1 = std::clamp(static_cast<int>(fy) + 1, 0, texture_.height - 1);
        auto texel = [&](int xx, int yy, int c) {
            return static_cast<float>(texture_.rgba[4 * (static_cast<std::size_t>(yy) * static_cast<std::size_t>(texture_.width) + static_cast<std::size_t>(xx)) + static_cast<std::size_t>(c)]);
        };
        for (int c = 0; c < 3; ++c) {
            const float top = texel(x0, y0, c) * (1 - ax) + texel(x1, y0, c) * ax;
            const float bottom = texel(x0, y1, c) * (1 - ax) + texel(x1, y1, c) * ax;
            rgb[c] = (top * (1 - ay) + bottom * ay) / 255.0f;
        }
    }

    int k_;
    core::Triangles triangles_;
    core::Points2 uv_;
    Eigen::VectorXf weight_;
    TextureImage texture_;
    std::vector<float> depth_, bary_;
    std::vector<int> tri_;
};

}  // namespace

std::unique_ptr<Renderer> make_cpu_renderer(int width, int height, int samples) {
    return std::make_unique<CpuRenderer>(width, height, samples);
}

}  // namespace faceflt::render
