// Rendering: the two backends behind one class, and the reference texture coordinates.
#include "arrays.hpp"
#include "cameras.hpp"
#include "faceflt/fitting/camera.hpp"
#include "faceflt/model/face_model.hpp"
#include "faceflt/render/renderer.hpp"
#include "faceflt/render/texture.hpp"

#include <pybind11/stl.h>

#include <algorithm>
#include <cmath>

namespace faceflt::bindings {

namespace {

using UInt8Array = py::array_t<std::uint8_t, py::array::c_style | py::array::forcecast>;

// A batch of renders: rgba (B, H, W, 4) uint8, depth (B, H, W) float32 or None.
struct RenderArrays {
    py::array_t<std::uint8_t> rgba;
    py::object depth = py::none();
};

// The reference picture's texture coordinates (N, 2) and which vertices it shows (N,).
struct TextureArrays {
    py::array_t<float> uv;
    py::array_t<bool> visible;
};

render::ScreenVertices to_screen(const fitting::Camera& c, const core::Vertices& v) {
    core::Points2 points;
    Eigen::VectorXf depth;
    c.project(v, points, &depth);
    render::ScreenVertices s(v.rows(), 3);
    s.leftCols<2>() = points;
    s.col(2) = depth;
    return s;
}

render::TextureImage texture_from(const UInt8Array& image) {
    check_shape(image, {-1, -1, image.ndim() == 3 ? image.shape(2) : 3}, "Renderer.set_texture", "image");
    const auto c = image.shape(2);
    if (c != 3 && c != 4) throw py::value_error("Renderer.set_texture(): image must be RGB (H, W, 3) or RGBA (H, W, 4) uint8");
    render::TextureImage t;
    t.height = static_cast<int>(image.shape(0));
    t.width = static_cast<int>(image.shape(1));
    t.rgba.resize(4 * static_cast<std::size_t>(t.width) * static_cast<std::size_t>(t.height));
    const std::uint8_t* src = image.data();
    for (std::size_t i = 0; i < t.rgba.size() / 4; ++i) {
        for (int k = 0; k < 3; ++k) t.rgba[4 * i + static_cast<std::size_t>(k)] = src[static_cast<std::size_t>(c) * i + static_cast<std::size_t>(k)];
        t.rgba[4 * i + 3] = c == 4 ? src[4 * i + 3] : 255;
    }
    return t;
}

}  // namespace

void bind_render(py::module_& m) {
    py::class_<RenderArrays>(m, "RenderArrays", "Renders of B frames (faceflt.render.RenderResult wraps them).")
        .def_readonly("rgba", &RenderArrays::rgba)
        .def_readonly("depth", &RenderArrays::depth)
        .def("__repr__", [](const RenderArrays& a) { return "<faceflt core RenderArrays: " + std::to_string(a.rgba.shape(0)) + " frames>"; });
    py::class_<TextureArrays>(m, "TextureArrays", "The reference picture's texture coordinates and the vertices it shows.")
        .def_readonly("uv", &TextureArrays::uv)
        .def_readonly("visible", &TextureArrays::visible)
        .def("__repr__", [](const TextureArrays& a) { return "<faceflt core TextureArrays: " + std::to_string(a.uv.shape(0)) + " vertices>"; });
    py::enum_<render::Background>(m, "Background", "What shows where the face does not cover a pixel.")
        .value("black", render::Background::Black)
        .value("transparent", render::Background::Transparent)
        .value("image", render::Background::Image);

    py::class_<render::Renderer>(m, "Renderer", "A textured-mesh renderer (backend 'egl' or 'cpu').")
        .def_property_readonly("name", &render::Renderer::name)
        .def_property_readonly("width", &render::Renderer::width)
        .def_property_readonly("height", &render::Renderer::height)
        .def_property_readonly("samples", &render::Renderer::samples)
        .def("__repr__", [](const render::Renderer& r) {
            return "<faceflt Renderer " + r.name() + " " + std::to_string(r.width()) + "x" + std::to_string(r.height()) +
                   ", " + std::to_string(r.samples()) + " sample(s)>";
        })
        .def("pending_error", &render::Renderer::pending_error, "An OpenGL error recorded but not raised (0: none).")
        .def(
            "set_mesh",
            [](render::Renderer& r, const IntArray& triangles, const FloatArray& uv, const FloatArray& weight) {
                check_shape(triangles, {-1, 3}, "Renderer.set_mesh", "triangles");
                check_shape(uv, {-1, 2}, "Renderer.set_mesh", "uv");
                check_shape(weight, {uv.shape(0)}, "Renderer.set_mesh", "weight");
                core::Triangles t(static_cast<std::size_t>(triangles.shape(0)));
                std::copy(triangles.data(), triangles.data() + triangles.size(), t.empty() ? nullptr : t.front().data());
                for (const auto& tri : t) {
                    for (int v : tri) {
                        if (v < 0 || v >= uv.shape(0)) throw py::value_error("Renderer.set_mesh(): triangle vertex " + std::to_string(v) + " out of range");
                    }
                }
                const core::Points2 u = Eigen::Map<const core::Points2>(uv.data(), uv.shape(0), 2);
                const Eigen::VectorXf w = Eigen::Map<const Eigen::VectorXf>(weight.data(), weight.shape(0));
                py::gil_scoped_release release;
                r.set_mesh(t, u, w);
            },
            py::arg("triangles"), py::arg("uv"), py::arg("weight"))
        .def(
            "set_texture",
            [](render::Renderer& r, const UInt8Array& image) {
                const auto t = texture_from(image);
                py::gil_scoped_release release;
                r.set_texture(t);
            },
            py::arg("image"))
        .def(
            "render_batch",
            [](render::Renderer& r, const FloatArray& vertices, const CameraBatch& cameras, render::Background mode,
               const std::optional<UInt8Array>& images, bool return_depth) {
                const char* fn = "Renderer.render_batch";
                const auto b = cameras.size();
                check_shape(vertices, {b, -1, 3}, fn, "vertices", "; one mesh per camera");
                if (mode == render::Background::Image) {
                    if (!images) throw py::value_error(std::string(fn) + "(): background images are needed");
                    check_shape(*images, {b, r.height(), r.width(), 3}, fn, "background");
                }
                const auto n = vertices.shape(1);
                auto rgba = new_array<std::uint8_t>({b, r.height(), r.width(), 4});
                py::array_t<float> depth = return_depth ? new_array<float>({b, r.height(), r.width()}) : py::array_t<float>();
                std::uint8_t* out = rgba.mutable_data();
                float* depth_out = return_depth ? depth.mutable_data() : nullptr;
                const std::size_t pixels = static_cast<std::size_t>(r.width()) * static_cast<std::size_t>(r.height());
                {
                    py::gil_scoped_release release;
                    for (py::ssize_t i = 0; i < b; ++i) {
                        fitting::Camera c = cameras.frames[static_cast<std::size_t>(i)].camera;
                        c.image_height = static_cast<float>(r.height());
                        const core::Vertices v = Eigen::Map<const core::Vertices>(vertices.data(i), n, 3);
                        std::uint8_t* frame = out + 4 * pixels * static_cast<std::size_t>(i);
                        r.render(to_screen(c, v), frame, depth_out ? depth_out + pixels * static_cast<std::size_t>(i) : nullptr);
                        render::composite(frame, r.width(), r.height(), mode,
                                          mode == render::Background::Image ? images->data(i) : nullptr);
                    }
                }
                RenderArrays result{rgba};
                if (return_depth) result.depth = depth;
                return result;
            },
            py::arg("vertices"), py::arg("cameras"), py::arg("background"), py::arg("images") = py::none(),
            py::arg("return_depth") = false,
            "RenderArrays: (B, N, 3) meshes posed by a CameraBatch of B frames, rgba (B, H, W, 4) over the background, "
            "and with return_depth the depth (B, H, W).");

    m.def("make_cpu_renderer", &render::make_cpu_renderer, py::arg("width"), py::arg("height"), py::arg("samples") = 1,
          "A CPU rasterizer of width x height pixels; samples: 1, 4, 9 or 16 (k x k supersampling).");
    m.def("make_egl_renderer", &render::make_egl_renderer, py::arg("width"), py::arg("height"), py::arg("samples") = 1,
          py::arg("device") = -1,
          "An OpenGL renderer through headless EGL (libEGL loaded now; a RenderBackendError names the failing call); "
          "device: an EGL device index, -1 for the first that works.");

    m.def(
        "texture_coordinates",
        [](const model::FaceModel& model, const FloatArray& vertices, const CameraBatch& camera, int width, int height) {
            const char* fn = "texture_coordinates";
            check_shape(vertices, {model.num_vertices(), 3}, fn, "vertices");
            if (camera.size() != 1) throw py::value_error(std::string(fn) + "(): camera must hold one frame, got " + std::to_string(camera.size()));
            fitting::Camera c = camera.frames[0].camera;
            c.image_height = static_cast<float>(height);
            const core::Vertices v = Eigen::Map<const core::Vertices>(vertices.data(), model.num_vertices(), 3);
            const render::ScreenVertices s = to_screen(c, v);
            render::ReferenceTexture t;
            {
                py::gil_scoped_release release;
                t = render::reference_texture(s, model.triangles, model.patches, width, height);
            }
            auto uv = new_array<float>({model.num_vertices(), 2});
            Eigen::Map<Eigen::Matrix<float, Eigen::Dynamic, 2, Eigen::RowMajor>>(uv.mutable_data(), model.num_vertices(), 2) = t.uv;
            auto visible = new_array<bool>({model.num_vertices()});
            std::copy(t.visible.begin(), t.visible.end(), visible.mutable_data());
            return TextureArrays{uv, visible};
        },
        py::arg("model"), py::arg("vertices"), py::arg("camera"), py::arg("width"), py::arg("height"),
        "TextureArrays: the reference picture's own texture coordinates, each vertex's projection / (width, height), "
        "(N, 2), and whether the vertex was seen there (in the picture and not hidden by the face itself), (N,) bool.");
}

}  // namespace faceflt::bindings
