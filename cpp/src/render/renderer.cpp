#include "faceflt/render/renderer.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace faceflt::render {

Renderer::Renderer(int width, int height, int samples) : width_(width), height_(height), samples_(samples) {
    if (width <= 0 || height <= 0 || width > 16384 || height > 16384) {
        throw std::invalid_argument("Renderer: image size must be within 1..16384, got " + std::to_string(width) + "x" +
                                    std::to_string(height));
    }
    if (samples != 1 && samples != 4 && samples != 9 && samples != 16) {
        throw std::invalid_argument("Renderer: samples must be 1, 4, 9 or 16, got " + std::to_string(samples));
    }
}

void composite(std::uint8_t* rgba, int width, int height, Background background, const std::uint8_t* image) {
    const std::size_t n = static_cast<std::size_t>(width) * static_cast<std::size_t>(height);
    for (std::size_t i = 0; i < n; ++i) {
        std::uint8_t* p = rgba + 4 * i;
        const int a = p[3];
        switch (background) {
            case Background::Black:
                p[3] = 255;
                break;
            case Background::Transparent:
                if (a > 0 && a < 255) {
                    for (int c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(std::min(255, (p[c] * 255 + a / 2) / a));
                }
                break;
            case Background::Image:
                for (int c = 0; c < 3; ++c) p[c] = static_cast<std::uint8_t>(std::min(255, p[c] + (image[3 * i + c] * (255 - a) + 127) / 255));
                p[3] = 255;
                break;
        }
    }
}

}  // namespace faceflt::render
