// Rendering a textured face mesh: the paper's re-render step. One small interface, two backends:
// OpenGL 3.3 through a windowless EGL context (GPU, or Mesa's llvmpipe on the CPU), and a C++
// rasterizer that gives the same images where EGL cannot start and is the reference the GL path is
// tested against.
//
// Conventions (both backends):
// - Vertices arrive in screen space: x, y in pixels (origin top-left, y down; pixel (i, j) covers
//   [i, i+1) x [j, j+1) and is sampled at its centre), z depth in model units, larger is nearer.
// - Triangles facing away (positive signed area in the y-down image) are culled; a depth test keeps
//   the nearest surface.
// - The texture is sampled bilinearly at uv * (width, height) - 0.5 (texel centres), clamped to the
//   edge; uv (0, 0) is the top-left corner of the texture's first row.
// - Each vertex carries a weight in [0, 1] (1: its texture is valid, 0: it was hidden in the
//   reference picture); the interpolated weight is the fragment's alpha.
// - The output is premultiplied RGBA: with k x k supersampling (samples = k*k), each pixel is the
//   mean of its samples, uncovered samples counting as (0, 0, 0, 0).
#pragma once

#include "faceflt/core/types.hpp"

#include <Eigen/Core>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace faceflt::render {

// Screen-space vertices: (N, 3) float32 rows of (x pixels, y pixels, depth).
using ScreenVertices = Eigen::Matrix<float, Eigen::Dynamic, 3, Eigen::RowMajor>;

struct TextureImage {
    int width = 0, height = 0;
    std::vector<std::uint8_t> rgba;  // (height, width, 4), row 0 at the top
};

class Renderer {
public:
    virtual ~Renderer() = default;

    int width() const { return width_; }
    int height() const { return height_; }
    int samples() const { return samples_; }
    virtual std::string name() const = 0;

    // The unchanging parts, set once: the triangle list, and the texture with per-vertex uv (N, 2)
    // and weights (N,).
    virtual void set_mesh(const core::Triangles& triangles, const core::Points2& uv, const Eigen::VectorXf& weight) = 0;
    virtual void set_texture(const TextureImage& texture) = 0;

    // Draws one frame into rgba (height * width * 4, premultiplied) and, if not null, depth
    // (height * width, model units, NaN where nothing is drawn).
    virtual void render(const ScreenVertices& vertices, std::uint8_t* rgba, float* depth) = 0;

    // An error the backend has recorded but not raised (OpenGL's glGetError), 0 if none.
    virtual unsigned pending_error() { return 0; }

protected:
    Renderer(int width, int height, int samples);
    int width_, height_, samples_;
};

// samples: 1, 4, 9 or 16 (k x k supersampling on the CPU; MSAA with that many samples on GL).
std::unique_ptr<Renderer> make_cpu_renderer(int width, int height, int samples);

// device: EGL device index (-1: $FACEFLT_EGL_DEVICE, else 0). Throws core::RenderBackendError naming
// the EGL call and its error code when no context can be made.
std::unique_ptr<Renderer> make_egl_renderer(int width, int height, int samples, int device);

// How the premultiplied face layer is laid over a background.
enum class Background { Black, Transparent, Image };

// In place on rgba (height * width * 4): Black and Image give opaque RGB (alpha 255); Transparent
// un-premultiplies the colour and keeps the alpha. image: (height * width * 3) RGB for Image.
void composite(std::uint8_t* rgba, int width, int height, Background background, const std::uint8_t* image);

}  // namespace faceflt::render
