// The OpenGL 3.3 core backend in a windowless EGL context, drawing into a framebuffer object.
// libEGL is opened at run time by glad's loader (generated at build time), so nothing here is
// linked against EGL or GL: a machine without them fails at context creation, with the EGL call
// and its error code in the message.
#include "faceflt/core/errors.hpp"
#include "faceflt/render/renderer.hpp"

#include <glad/egl.h>
#include <glad/gl.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>

namespace faceflt::render {

namespace {

using core::RenderBackendError;

std::string hex(unsigned value) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%04X", value);
    return buf;
}

std::string egl_error_name(EGLint e) {
    switch (e) {
        case EGL_SUCCESS: return "EGL_SUCCESS";
        case EGL_NOT_INITIALIZED: return "EGL_NOT_INITIALIZED";
        case EGL_BAD_ACCESS: return "EGL_BAD_ACCESS";
        case EGL_BAD_ALLOC: return "EGL_BAD_ALLOC";
        case EGL_BAD_ATTRIBUTE: return "EGL_BAD_ATTRIBUTE";
        case EGL_BAD_CONFIG: return "EGL_BAD_CONFIG";
        case EGL_BAD_CONTEXT: return "EGL_BAD_CONTEXT";
        case EGL_BAD_DISPLAY: return "EGL_BAD_DISPLAY";
        case EGL_BAD_MATCH: return "EGL_BAD_MATCH";
        case EGL_BAD_PARAMETER: return "EGL_BAD_PARAMETER";
        default: return "EGL error";
    }
}

[[noreturn]] void egl_fail(const std::string& call, const std::string& hint = "") {
    const EGLint e = glad_eglGetError ? eglGetError() : 0;
    throw RenderBackendError(call + " failed: " + egl_error_name(e) + " (" + hex(static_cast<unsigned>(e)) + ")" +
                             (hint.empty() ? "" : "; " + hint));
}

void gl_check(const char* what) {
    const GLenum e = glGetError();
    if (e != GL_NO_ERROR) throw RenderBackendError(std::string(what) + ": OpenGL error " + hex(e));
}

const char* kDriverHint =
    "is an EGL driver installed? On Debian: apt-get install libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 "
    "(or the NVIDIA driver); Renderer(..., backend='cpu') works without one";

// One EGL display per process, opened on first use and kept: eglTerminate would destroy the
// contexts of every renderer sharing it. Access to EGL/GL is serialised by this mutex.
struct Display {
    EGLDisplay handle = EGL_NO_DISPLAY;
    std::string description;
};

std::mutex& egl_mutex() {
    static std::mutex m;
    return m;
}

int requested_device(int device) {
    if (device >= 0) return device;
    if (const char* env = std::getenv("FACEFLT_EGL_DEVICE"); env && *env) {
        char* end = nullptr;
        const long v = std::strtol(env, &end, 10);
        if (*end != '\0' || v < 0) throw RenderBackendError(std::string("FACEFLT_EGL_DEVICE must be a device index >= 0, got '") + env + "'");
        return static_cast<int>(v);
    }
    return -1;
}

Display open_display(int device) {
    if (!gladLoaderLoadEGL(EGL_NO_DISPLAY)) {
        throw RenderBackendError(std::string("gladLoaderLoadEGL: could not load libEGL.so.1; ") + kDriverHint);
    }
    if (!glad_eglGetPlatformDisplayEXT) {
        throw RenderBackendError(std::string("eglGetPlatformDisplayEXT: EGL_EXT_platform_base is not available; ") + kDriverHint);
    }
    const int wanted = requested_device(device);
    Display d;
    // The device platform first (it is how a GPU is chosen by index); then Mesa's surfaceless one.
    if (glad_eglQueryDevicesEXT) {
        EGLDeviceEXT devices[32];
        EGLint count = 0;
        if (eglQueryDevicesEXT(32, devices, &count) && count > 0) {
            const int index = wanted >= 0 ? wanted : 0;
            if (index >= count) {
                throw RenderBackendError("EGL device " + std::to_string(index) + " requested (FACEFLT_EGL_DEVICE or device=), but " +
                                         "eglQueryDevicesEXT found " + std::to_string(count) + " device(s): 0.." + std::to_string(count - 1));
            }
            EGLDisplay dpy = eglGetPlatformDisplayEXT(EGL_PLATFORM_DEVICE_EXT, devices[index], nullptr);
            if (dpy != EGL_NO_DISPLAY && eglInitialize(dpy, nullptr, nullptr)) {
                d.handle = dpy;
                d.description = "EGL device " + std::to_string(index) + " of " + std::to_string(count);
            } else if (wanted >= 0) {
                egl_fail("eglInitialize(EGL device " + std::to_string(index) + ")", kDriverHint);
            }
        } else if (wanted >= 0) {
            egl_fail("eglQueryDevicesEXT", kDriverHint);
        }
    } else if (wanted >= 0) {
        throw RenderBackendError("eglQueryDevicesEXT: EGL_EXT_device_enumeration is not available, so device " +
                                 std::to_string(wanted) + " cannot be chosen");
    }
    if (d.handle == EGL_NO_DISPLAY) {
        EGLDisplay dpy = eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA, EGL_DEFAULT_DISPLAY, nullptr);
        if (dpy == EGL_NO_DISPLAY) egl_fail("eglGetPlatformDisplayEXT(EGL_PLATFORM_SURFACELESS_MESA)", kDriverHint);
        if (!eglInitialize(dpy, nullptr, nullptr)) egl_fail("eglInitialize(surfaceless)", kDriverHint);
        d.handle = dpy;
        d.description = "EGL surfaceless platform";
    }
    // Now that a display exists, glad can load everything the implementation offers (EGL 1.5).
    if (!gladLoaderLoadEGL(d.handle)) throw RenderBackendError("gladLoaderLoadEGL(display): could not load the EGL functions");
    return d;
}

const Display& display(int device) {
    static Display d;
    static int opened_with = -2;
    if (d.handle == EGL_NO_DISPLAY) {
        d = open_display(device);
        opened_with = requested_device(device);
    } else if (requested_device(device) >= 0 && requested_device(device) != opened_with) {
        throw RenderBackendError("an EGL display is already open on " + d.description + "; one process uses one EGL device");
    }
    return d;
}

GLuint compile(GLenum type, const char* source) {
    const GLuint s = glCreateShader(type);
    glShaderSource(s, 1, &source, nullptr);
    glCompileShader(s);
    GLint ok = 0;
    glGetShaderiv(s, GL_COMPILE_STATUS, &ok);
    if (!ok) {
        char log[1024];
        glGetShaderInfoLog(s, sizeof log, nullptr, log);
        throw RenderBackendError(std::string("glCompileShader: ") + log);
    }
    return s;
}

// Screen-space pixels to clip space: y is mapped upwards, so glReadPixels's first row (the bottom of
// the framebuffer) is the image's top row and no flip is needed. Depth: nearer (larger z) is smaller.
const char* kVertexShader = R"(#version 330 core
layout(location = 0) in vec3 position;
layout(location = 1) in vec3 attributes;
uniform vec2 size;
uniform vec2 zrange;
noperspective out vec3 v_attributes;
void main() {
    float z = 1.0 - 2.0 * (position.z - zrange.x) / (zrange.y - zrange.x);
    gl_Position = vec4(2.0 * position.x / size.x - 1.0, 2.0 * position.y / size.y - 1.0, z, 1.0);
    v_attributes = attributes;
}
)";

const char* kFragmentShader = R"(#version 330 core
noperspective in vec3 v_attributes;
uniform sampler2D tex;
uniform bool has_texture;
out vec4 color;
void main() {
    float a = clamp(v_attributes.z, 0.0, 1.0);
    vec3 c = has_texture ? texture(tex, v_attributes.xy).rgb : vec3(1.0);
    color = vec4(c * a, a);
}
)";

class EglRenderer final : public Renderer {
public:
    EglRenderer(int width, int height, int samples, int device) : Renderer(width, height, samples) {
        std::lock_guard<std::mutex> lock(egl_mutex());
        const Display& d = display(device);
        dpy_ = d.handle;
        if (!eglBindAPI(EGL_OPENGL_API)) egl_fail("eglBindAPI(EGL_OPENGL_API)");
        const EGLint config_attribs[] = {EGL_SURFACE_TYPE, EGL_PBUFFER_BIT, EGL_RENDERABLE_TYPE, EGL_OPENGL_BIT, EGL_NONE};
        EGLConfig config = nullptr;
        EGLint num_configs = 0;
        if (!eglChooseConfig(dpy_, config_attribs, &config, 1, &num_configs)) egl_fail("eglChooseConfig");
        if (num_configs == 0) config = EGL_NO_CONFIG_KHR;  // rendering goes to an FBO; no surface needs a config
        const EGLint context_attribs[] = {EGL_CONTEXT_MAJOR_VERSION, 3, EGL_CONTEXT_MINOR_VERSION, 3, EGL_CONTEXT_OPENGL_PROFILE_MASK,
                                          EGL_CONTEXT_OPENGL_CORE_PROFILE_BIT, EGL_NONE};
        ctx_ = eglCreateContext(dpy_, config, EGL_NO_CONTEXT, context_attribs);
        if (ctx_ == EGL_NO_CONTEXT) egl_fail("eglCreateContext(OpenGL 3.3 core)");
        try {
            Current current(*this);
            if (!gladLoadGL(reinterpret_cast<GLADloadfunc>(eglGetProcAddress))) throw RenderBackendError("gladLoadGL: no OpenGL 3.3 functions");
            const char* vendor = reinterpret_cast<const char*>(glGetString(GL_RENDERER));
            description_ = d.description + ", " + (vendor ? vendor : "unknown renderer");
            create_pipeline();
            create_framebuffers();
        } catch (...) {
            eglDestroyContext(dpy_, ctx_);
            throw;
        }
    }

    ~EglRenderer() override {
        std::lock_guard<std::mutex> lock(egl_mutex());
        if (eglMakeCurrent(dpy_, EGL_NO_SURFACE, EGL_NO_SURFACE, ctx_)) {
            const GLuint buffers[] = {vbo_position_, vbo_attributes_, ebo_};
            glDeleteBuffers(3, buffers);
            glDeleteVertexArrays(1, &vao_);
            glDeleteTextures(1, &texture_);
            glDeleteProgram(program_);
            const GLuint fbos[] = {fbo_, resolve_fbo_};
            glDeleteFramebuffers(2, fbos);
            const GLuint rbs[] = {color_, depth_, resolve_color_, resolve_depth_};
            glDeleteRenderbuffers(4, rbs);
            eglMakeCurrent(dpy_, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT);
        }
        eglDestroyContext(dpy_, ctx_);
    }

    std::string name() const override { return "egl (" + description_ + ")"; }

    void set_mesh(const core::Triangles& triangles, const core::Points2& uv, const Eigen::VectorXf& weight) override {
        std::lock_guard<std::mutex> lock(egl_mutex());
        Current current(*this);
        num_vertices_ = static_cast<int>(uv.rows());
        index_count_ = static_cast<GLsizei>(3 * triangles.size());
        std::vector<float> attributes(3 * static_cast<std::size_t>(num_vertices_));
        for (int i = 0; i < num_vertices_; ++i) {
            attributes[3 * static_cast<std::size_t>(i)] = uv(i, 0);
            attributes[3 * static_cast<std::size_t>(i) + 1] = uv(i, 1);
            attributes[3 * static_cast<std::size_t>(i) + 2] = weight(i);
        }
        glBindVertexArray(vao_);
        glBindBuffer(GL_ARRAY_BUFFER, vbo_attributes_);
        glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(attributes.size() * sizeof(float)), attributes.data(), GL_STATIC_DRAW);
        glBindBuffer(GL_ARRAY_BUFFER, vbo_position_);
        glBufferData(GL_ARRAY_BUFFER, static_cast<GLsizeiptr>(3 * static_cast<std::size_t>(num_vertices_) * sizeof(float)), nullptr, GL_DYNAMIC_DRAW);
        glBindBuffer(GL_ELEMENT_ARRAY_BUFFER, ebo_);
        glBufferData(GL_ELEMENT_ARRAY_BUFFER, static_cast<GLsizeiptr>(triangles.size() * sizeof(triangles[0])), triangles.data(), GL_STATIC_DRAW);
        gl_check("set_mesh");
    }

    void set_texture(const TextureImage& texture) override {
        std::lock_guard<std::mutex> lock(egl_mutex());
        Current current(*this);
        glBindTexture(GL_TEXTURE_2D, texture_);
        glPixelStorei(GL_UNPACK_ALIGNMENT, 1);
        glTexImage2D(GL_TEXTURE_2D, 0, GL_RGBA8, texture.width, texture.height, 0, GL_RGBA, GL_UNSIGNED_BYTE, texture.rgba.data());
        has_texture_ = texture.width > 0;
        gl_check("set_texture (glTexImage2D)");
    }

    void render(const ScreenVertices& v, std::uint8_t* rgba, float* depth) override {
        if (v.rows() != num_vertices_) {
            throw std::invalid_argument("render: " + std::to_string(v.rows()) + " vertices, the mesh has " + std::to_string(num_vertices_));
        }
        float zmin = v.col(2).minCoeff(), zmax = v.col(2).maxCoeff();
        const float margin = 0.01f * std::max(zmax - zmin, 1e-3f);
        zmin -= margin;
        zmax += margin;
        std::lock_guard<std::mutex> lock(egl_mutex());
        Current current(*this);
        glBindBuffer(GL_ARRAY_BUFFER, vbo_position_);
        glBufferSubData(GL_ARRAY_BUFFER, 0, static_cast<GLsizeiptr>(v.size() * sizeof(float)), v.data());
        glBindFramebuffer(GL_FRAMEBUFFER, fbo_);
        glViewport(0, 0, width_, height_);
        glClearColor(0, 0, 0, 0);
        glClearDepth(1.0);
        glClear(GL_COLOR_BUFFER_BIT | GL_DEPTH_BUFFER_BIT);
        glUseProgram(program_);
        glUniform2f(glGetUniformLocation(program_, "size"), static_cast<float>(width_), static_cast<float>(height_));
        glUniform2f(glGetUniformLocation(program_, "zrange"), zmin, zmax);
        glUniform1i(glGetUniformLocation(program_, "has_texture"), has_texture_ ? 1 : 0);
        glBindVertexArray(vao_);
        glActiveTexture(GL_TEXTURE0);
        glBindTexture(GL_TEXTURE_2D, texture_);
        glDrawElements(GL_TRIANGLES, index_count_, GL_UNSIGNED_INT, nullptr);
        GLuint read_fbo = fbo_;
        if (samples_ > 1) {  // resolve the multisampled buffers
            glBindFramebuffer(GL_READ_FRAMEBUFFER, fbo_);
            glBindFramebuffer(GL_DRAW_FRAMEBUFFER, resolve_fbo_);
            glBlitFramebuffer(0, 0, width_, height_, 0, 0, width_, height_, GL_COLOR_BUFFER_BIT, GL_LINEAR);
            glBlitFramebuffer(0, 0, width_, height_, 0, 0, width_, height_, GL_DEPTH_BUFFER_BIT, GL_NEAREST);
            read_fbo = resolve_fbo_;
        }
        glBindFramebuffer(GL_READ_FRAMEBUFFER, read_fbo);
        glPixelStorei(GL_PACK_ALIGNMENT, 1);
        glReadPixels(0, 0, width_, height_, GL_RGBA, GL_UNSIGNED_BYTE, rgba);
        if (depth) {
            glReadPixels(0, 0, width_, height_, GL_DEPTH_COMPONENT, GL_FLOAT, depth);
            const std::size_t n = static_cast<std::size_t>(width_) * static_cast<std::size_t>(height_);
            for (std::size_t i = 0; i < n; ++i) {
                depth[i] = depth[i] >= 1.0f ? std::numeric_limits<float>::quiet_NaN() : zmin + (1.0f - depth[i]) * (zmax - zmin);
            }
        }
        gl_check("render");
    }

    unsigned pending_error() override {
        std::lock_guard<std::mutex> lock(egl_mutex());
        Current current(*this);
        return glGetError();
    }

private:
    // Makes the context current for a scope; EGL contexts are bound per thread, and callers may
    // come from any thread (the GIL is released), so it is released again at the end.
    struct Current {
        explicit Current(EglRenderer& r) : dpy(r.dpy_) {
            if (!eglMakeCurrent(r.dpy_, EGL_NO_SURFACE, EGL_NO_SURFACE, r.ctx_)) egl_fail("eglMakeCurrent");
        }
        ~Current() { eglMakeCurrent(dpy, EGL_NO_SURFACE, EGL_NO_SURFACE, EGL_NO_CONTEXT); }
        EGLDisplay dpy;
    };

    void create_pipeline() {
        const GLuint vs = compile(GL_VERTEX_SHADER, kVertexShader), fs = compile(GL_FRAGMENT_SHADER, kFragmentShader);
        program_ = glCreateProgram();
        glAttachShader(program_, vs);
        glAttachShader(program_, fs);
        glLinkProgram(program_);
        glDeleteShader(vs);
        glDeleteShader(fs);
        GLint ok = 0;
        glGetProgramiv(program_, GL_LINK_STATUS, &ok);
        if (!ok) throw RenderBackendError("glLinkProgram failed");
        glUseProgram(program_);
        glUniform1i(glGetUniformLocation(program_, "tex"), 0);

        glGenVertexArrays(1, &vao_);
        glBindVertexArray(vao_);
        glGenBuffers(1, &vbo_position_);
        glGenBuffers(1, &vbo_attributes_);
        glGenBuffers(1, &ebo_);
        glBindBuffer(GL_ARRAY_BUFFER, vbo_position_);
        glVertexAttribPointer(0, 3, GL_FLOAT, GL_FALSE, 0, nullptr);
        glEnableVertexAttribArray(0);
        glBindBuffer(GL_ARRAY_BUFFER, vbo_attributes_);
        glVertexAttribPointer(1, 3, GL_FLOAT, GL_FALSE, 0, nullptr);
        glEnableVertexAttribArray(1);
        glBindBuffer(GL_ELEMENT_ARRAY_BUFFER, ebo_);

        glGenTextures(1, &texture_);
        glBindTexture(GL_TEXTURE_2D, texture_);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MIN_FILTER, GL_LINEAR);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_MAG_FILTER, GL_LINEAR);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_S, GL_CLAMP_TO_EDGE);
        glTexParameteri(GL_TEXTURE_2D, GL_TEXTURE_WRAP_T, GL_CLAMP_TO_EDGE);

        // Faces towards the viewer have negative signed area in the y-down image, i.e. clockwise in
        // GL's window coordinates after the y mapping above.
        glEnable(GL_DEPTH_TEST);
        glDepthFunc(GL_LESS);
        glEnable(GL_CULL_FACE);
        glFrontFace(GL_CW);
        glCullFace(GL_BACK);
        gl_check("create_pipeline");
    }

    void create_framebuffers() {
        auto make = [&](GLuint& fbo, GLuint& color, GLuint& depth, int samples) {
            glGenFramebuffers(1, &fbo);
            glBindFramebuffer(GL_FRAMEBUFFER, fbo);
            glGenRenderbuffers(1, &color);
            glBindRenderbuffer(GL_RENDERBUFFER, color);
            glRenderbufferStorageMultisample(GL_RENDERBUFFER, samples, GL_RGBA8, width_, height_);
            glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_COLOR_ATTACHMENT0, GL_RENDERBUFFER, color);
            glGenRenderbuffers(1, &depth);
            glBindRenderbuffer(GL_RENDERBUFFER, depth);
            glRenderbufferStorageMultisample(GL_RENDERBUFFER, samples, GL_DEPTH_COMPONENT24, width_, height_);
            glFramebufferRenderbuffer(GL_FRAMEBUFFER, GL_DEPTH_ATTACHMENT, GL_RENDERBUFFER, depth);
            const GLenum status = glCheckFramebufferStatus(GL_FRAMEBUFFER);
            if (status != GL_FRAMEBUFFER_COMPLETE) {
                throw RenderBackendError("glCheckFramebufferStatus: framebuffer incomplete (" + hex(status) + ") for " +
                                         std::to_string(width_) + "x" + std::to_string(height_) + " with " + std::to_string(samples) + " samples");
            }
        };
        make(fbo_, color_, depth_, samples_ > 1 ? samples_ : 0);
        if (samples_ > 1) make(resolve_fbo_, resolve_color_, resolve_depth_, 0);
        gl_check("create_framebuffers");
    }

    EGLDisplay dpy_ = EGL_NO_DISPLAY;
    EGLContext ctx_ = EGL_NO_CONTEXT;
    std::string description_;
    GLuint program_ = 0, vao_ = 0, vbo_position_ = 0, vbo_attributes_ = 0, ebo_ = 0, texture_ = 0;
    GLuint fbo_ = 0, color_ = 0, depth_ = 0, resolve_fbo_ = 0, resolve_color_ = 0, resolve_depth_ = 0;
    int num_vertices_ = 0;
    GLsizei index_count_ = 0;
    bool has_texture_ = false;
};

}  // namespace

std::unique_ptr<Renderer> make_egl_renderer(int width, int height, int samples, int device) {
    return std::make_unique<EglRenderer>(width, height, samples, device);
}

}  // namespace faceflt::render
