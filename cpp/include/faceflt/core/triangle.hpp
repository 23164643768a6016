// One triangle in screen space, set up for sampling: coverage and barycentric weights at any point
// from its three edge functions (Pineda, "A Parallel Algorithm for Polygon Rasterization", 1988).
// The CPU rasterizer samples it at pixel centres, the visibility test at vertex positions; both use
// this one definition of "covers" and "interpolates".
#pragma once

#include <array>

namespace faceflt::core {

struct ScreenTriangle {
    float ax, ay, bx, by, cx, cy;
    float area;  // signed, twice the area; negative for triangles facing the viewer (y-down image)
    float inv_area;

    template <typename Points>
    static ScreenTriangle from(const Points& p, const std::array<int, 3>& t) {
        ScreenTriangle s;
        s.ax = p(t[0], 0);
        s.ay = p(t[0], 1);
        s.bx = p(t[1], 0);
        s.by = p(t[1], 1);
        s.cx = p(t[2], 0);
        s.cy = p(t[2], 1);
        s.area = (s.bx - s.ax) * (s.cy - s.ay) - (s.by - s.ay) * (s.cx - s.ax);
        s.inv_area = s.area != 0.0f ? 1.0f / s.area : 0.0f;
        return s;
    }

    bool faces_viewer() const { return area < 0.0f; }

    // Barycentric weights of (x, y) for the corners a, b, c; all >= 0 inside the triangle.
    bool weights(float x, float y, float& w0, float& w1, float& w2) const {
        w0 = ((bx - x) * (cy - y) - (by - y) * (cx - x)) * inv_area;
        w1 = ((cx - x) * (ay - y) - (cy - y) * (ax - x)) * inv_area;
        w2 = 1.0f - w0 - w1;
        return w0 >= 0.0f && w1 >= 0.0f && w2 >= 0.0f;
    }

    float min_x() const { return ax < bx ? (ax < cx ? ax : cx) : (bx < cx ? bx : cx); }
    float max_x() const { return ax > bx ? (ax > cx ? ax : cx) : (bx > cx ? bx : cx); }
    float min_y() const { return ay < by ? (ay < cy ? ay : cy) : (by < cy ? by : cy); }
    float max_y() const { return ay > by ? (ay > cy ? ay : cy) : (by > cy ? by : cy); }
};

}  // namespace faceflt::core
