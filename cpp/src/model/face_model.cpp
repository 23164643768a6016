#include "faceflt/model/face_model.hpp"

#include "faceflt/core/errors.hpp"
#include "json.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <limits>
#include <stdexcept>

namespace faceflt::model {

namespace {

using detail::json_int;
using detail::json_int_array;
using detail::json_member;
using detail::parse_json_file;

std::string trim(const std::string& s) {
    std::size_t a = 0, b = s.size();
    while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
    while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
    return s.substr(a, b - a);
}

std::string strip_comment(const std::string& line) {
    bool in_string = false;
    for (std::size_t i = 0; i < line.size(); ++i) {
        if (line[i] == '"') in_string = !in_string;
        if (line[i] == '#' && !in_string) return line.substr(0, i);
    }
    return line;
}

int parse_int(const std::string& path, int line_no, const std::string& text) {
    const std::string t = trim(text);
    std::size_t used = 0;
    long value = 0;
    try {
        value = std::stol(t, &used);
    } catch (const std::exception&) {
        used = 0;
    }
    if (t.empty() || used != t.size() || value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
        throw core::ModelFormatError(path + ": line " + std::to_string(line_no) + ": expected an integer, got '" + t + "'");
    }
    return static_cast<int>(value);
}

std::string unquote(const std::string& s) {
    const std::string t = trim(s);
    if (t.size() >= 2 && t.front() == '"' && t.back() == '"') return t.substr(1, t.size() - 2);
    return t;
}

}  // namespace

// The subset of TOML that eos's mapping files use: [sections], `key = integer`, `key = [integers]`
// (possibly spread over several lines) and # comments.
LandmarkMapping load_landmark_mapping(const std::string& path, int num_landmarks) {
    std::ifstream file(path);
    if (!file) throw core::ModelFormatError(path + ": cannot open the file (does it exist and is it readable?)");
    LandmarkMapping m;
    m.num_landmarks = num_landmarks;
    m.vertex.assign(static_cast<std::size_t>(num_landmarks), -1);
    std::string section, line, pending_key, pending_value;
    int line_no = 0, pending_line = 0, mapped = 0;
    auto landmark_index = [&](int one_based, int at_line, const std::string& what) {
        if (one_based < 1 || one_based > num_landmarks) {
            throw core::ModelFormatError(path + ": line " + std::to_string(at_line) + ": " + what + " " + std::to_string(one_based) +
                                         " is outside 1.." + std::to_string(num_landmarks));
        }
        return one_based - 1;
    };
    auto finish_array = [&]() {
        const std::string body = trim(pending_value.substr(1, pending_value.size() - 2));
        std::vector<int> ids;
        std::size_t start = 0;
        while (start < body.size()) {
            const std::size_t comma = body.find(',', start);
            const std::string item = trim(body.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
            if (!item.empty()) ids.push_back(landmark_index(parse_int(path, pending_line, item), pending_line, "contour landmark"));
            if (comma == std::string::npos) break;
            start = comma + 1;
        }
        if (section == "contour_landmarks" && pending_key == "right") m.right_contour_landmarks = ids;
        if (section == "contour_landmarks" && pending_key == "left") m.left_contour_landmarks = ids;
        pending_key.clear();
        pending_value.clear();
    };
    while (std::getline(file, line)) {
        ++line_no;
        const std::string t = trim(strip_comment(line));
        if (!pending_key.empty()) {
            pending_value += " " + t;
            if (pending_value.find(']') != std::string::npos) finish_array();
            continue;
        }
        if (t.empty()) continue;
        if (t.front() == '[') {
            if (t.back() != ']') throw core::ModelFormatError(path + ": line " + std::to_string(line_no) + ": malformed section header");
            section = trim(t.substr(1, t.size() - 2));
            continue;
        }
        const std::size_t eq = t.find('=');
        if (eq == std::string::npos) {
            throw core::ModelFormatError(path + ": line " + std::to_string(line_no) + ": expected 'key = value', got '" + t + "'");
        }
        const std::string key = unquote(t.substr(0, eq));
        const std::string value = trim(t.substr(eq + 1));
        if (!value.empty() && value.front() == '[') {
            pending_key = key;
            pending_value = value;
            pending_line = line_no;
            if (value.find(']') != std::string::npos) finish_array();
        } else if (section == "landmark_mappings") {
            const int lm = landmark_index(parse_int(path, line_no, key), line_no, "landmark");
            m.vertex[static_cast<std::size_t>(lm)] = parse_int(path, line_no, value);
            if (m.vertex[static_cast<std::size_t>(lm)] < 0) {
                throw core::ModelFormatError(path + ": line " + std::to_string(line_no) + ": negative vertex id");
            }
            ++mapped;
        }
    }
    if (!pending_key.empty()) throw core::ModelFormatError(path + ": unterminated array for '" + pending_key + "'");
    if (mapped < 4) {
        throw core::ModelFormatError(path + ": expected a [landmark_mappings] section with at least 4 entries, found " +
                                     std::to_string(mapped) + " (is this an eos landmark mapping file like ibug_to_sfm.txt?)");
    }
    return m;
}

ModelContour load_model_contour(const std::string& path) {
    const auto doc = parse_json_file(path);
    const auto& mc = json_member(path, doc, "model_contour", "");
    ModelContour c;
    c.right = json_int_array(path, json_member(path, mc, "right_contour", "model_contour"), "model_contour.right_contour");
    c.left = json_int_array(path, json_member(path, mc, "left_contour", "model_contour"), "model_contour.left_contour");
    if (c.right.empty() || c.left.empty()) throw core::ModelFormatError(path + ": the right and left contours must not be empty");
    return c;
}

EdgeTopology load_edge_topology(const std::string& path) {
    const auto doc = parse_json_file(path);
    const auto& et = json_member(path, doc, "edge_topology", "");
    EdgeTopology t;
    auto read_pairs = [&](const char* name, std::vector<std::array<int, 2>>& out) {
        const std::string where = std::string("edge_topology.") + name;
        const auto& list = json_member(path, et, name, "edge_topology");
        if (list.type != detail::JsonValue::Type::Array) throw core::ModelFormatError(path + ": '" + where + "' must be an array");
        out.reserve(list.array.size());
        for (std::size_t i = 0; i < list.array.size(); ++i) {
            const std::string w = where + "[" + std::to_string(i) + "]";
            const int a = json_int(path, json_member(path, list.array[i], "value0", w), w + ".value0");
            const int b = json_int(path, json_member(path, list.array[i], "value1", w), w + ".value1");
            if (a < 0 || b < 0) throw core::ModelFormatError(path + ": '" + w + "' holds a negative id (ids are 1-based, 0 = none)");
            out.push_back({a - 1, b - 1});  // 1-based with 0 meaning "none" -> 0-based with -1
        }
    };
    read_pairs("adjacent_faces", t.adjacent_faces);
    read_pairs("adjacent_vertices", t.adjacent_vertices);
    if (t.adjacent_faces.size() != t.adjacent_vertices.size()) {
        throw core::ModelFormatError(path + ": adjacent_faces has " + std::to_string(t.adjacent_faces.size()) +
                                     " edges but adjacent_vertices has " + std::to_string(t.adjacent_vertices.size()));
    }
    return t;
}

namespace {

void check_vertex(const std::string& file, const std::string& what, int v, int n) {
    if (v < 0 || v >= n) {
        throw core::ModelFormatError(file + ": " + what + " refers to vertex " + std::to_string(v) + ", but the shape model has " +
                                     std::to_string(n) + " vertices (0.." + std::to_string(n - 1) + "); do the files belong to the same model?");
    }
}

// The vertex nearest (in the mean shape) to a point, used to place landmarks the mapping leaves out.
int nearest_vertex(const PcaModel& shape, const Eigen::Vector3f& p) {
    const auto pts = Eigen::Map<const Eigen::Matrix<float, 3, Eigen::Dynamic>>(shape.mean.data(), 3, shape.num_vertices());
    Eigen::Index best = 0;
    (pts.colwise() - p).colwise().squaredNorm().minCoeff(&best);
    return static_cast<int>(best);
}

}  // namespace

FaceModel load_face_model(const FaceModelFiles& files) {
    MorphableModel mm = load_morphable_model(files.shape_model);
    FaceModel f;
    f.shape = std::move(mm.shape);
    f.triangles = f.shape.triangles;
    f.texcoords = std::move(mm.texcoords);
    f.expression = files.expression.empty() ? std::move(mm.expression) : load_blendshapes(files.expression);
    const int n = f.num_vertices();
    const std::string& expr_file = files.expression.empty() ? files.shape_model : files.expression;
    if (f.expression.kind == ExpressionKind::None) {
        throw core::ModelFormatError(files.shape_model + ": the model holds no expression model and no blendshapes file was given");
    }
    if (f.expression.mean.size() != f.shape.mean.size()) {
        throw core::ModelFormatError(expr_file + ": expression components have " + std::to_string(f.expression.mean.size() / 3) +
                                     " vertices, the shape model " + std::to_string(n) + "; do the files belong to the same model?");
    }
    f.mapping = load_landmark_mapping(files.landmark_mapping);
    for (int lm = 0; lm < f.mapping.num_landmarks; ++lm) {
        if (f.mapping.vertex[lm] >= 0) check_vertex(files.landmark_mapping, "landmark " + std::to_string(lm + 1), f.mapping.vertex[lm], n);
    }
    f.contour = load_model_contour(files.model_contour);
    for (int v : f.contour.right) check_vertex(files.model_contour, "right_contour", v, n);
    for (int v : f.contour.left) check_vertex(files.model_contour, "left_contour", v, n);
    f.topology = load_edge_topology(files.edge_topology);
    const int num_tris = static_cast<int>(f.triangles.size());
    for (std::size_t e = 0; e < f.topology.adjacent_faces.size(); ++e) {
        for (int k = 0; k < 2; ++k) {
            if (f.topology.adjacent_faces[e][k] >= num_tris) {
                throw core::ModelFormatError(files.edge_topology + ": edge " + std::to_string(e) + " refers to triangle " +
                                             std::to_string(f.topology.adjacent_faces[e][k] + 1) + " (1-based), the model has " +
                                             std::to_string(num_tris));
            }
            check_vertex(files.edge_topology, "edge " + std::to_string(e), f.topology.adjacent_vertices[e][k], n);
        }
    }

    // Landmark vertices: the mapping's, and for the iBUG inner mouth corners (61, 65), which eos
    // leaves out, the mean-shape vertex nearest to a point a third of the way from the outer corner
    // (49 / 55) towards the middle of the inner-lip points next to it (62+68 / 64+66).
    f.landmark_vertices = f.mapping.vertex;
    std::vector<bool> is_contour(f.mapping.vertex.size(), false);
    for (int lm : f.mapping.right_contour_landmarks) is_contour[lm] = true;
    for (int lm : f.mapping.left_contour_landmarks) is_contour[lm] = true;
    auto mean_vertex = [&](int lm) { return Eigen::Vector3f(f.shape.mean.segment<3>(3 * f.mapping.vertex[lm])); };
    if (f.mapping.num_landmarks == 68) {
        const int inner[2][4] = {{60, 48, 61, 67}, {64, 54, 63, 65}};  // 0-based: target, outer corner, upper, lower
        for (const auto& c : inner) {
            if (f.landmark_vertices[c[0]] >= 0 || f.mapping.vertex[c[1]] < 0 || f.mapping.vertex[c[2]] < 0 || f.mapping.vertex[c[3]] < 0) continue;
            const Eigen::Vector3f outer = mean_vertex(c[1]);
            const Eigen::Vector3f mid = 0.5f * (mean_vertex(c[2]) + mean_vertex(c[3]));
            f.landmark_vertices[c[0]] = nearest_vertex(f.shape, outer + (mid - outer) / 3.0f);
        }
    }
    for (std::size_t lm = 0; lm < is_contour.size(); ++lm) {
        if (is_contour[lm]) f.landmark_vertices[lm] = -1;
    }
    f.shape_rows = core::padded_rows(f.shape.rescaled_basis.data(), f.shape.rescaled_basis.rows(), f.shape.rescaled_basis.cols());
    f.expression_rows = core::padded_rows(f.expression.basis.data(), f.expression.basis.rows(), f.expression.basis.cols());
    f.patches = core::make_patches(Eigen::Map<const core::Vertices>(f.shape.mean.data(), n, 3), f.triangles, f.topology.adjacent_faces);
    return f;
}

Eigen::VectorXf build_shape(const FaceModel& model, const Eigen::VectorXf& shape_coeffs, const Eigen::VectorXf& expression_coeffs) {
    if (shape_coeffs.size() > model.shape.num_components() || expression_coeffs.size() > model.expression.num_coefficients()) {
        throw std::invalid_argument("build_mesh: got " + std::to_string(shape_coeffs.size()) + " shape and " +
                                    std::to_string(expression_coeffs.size()) + " expression coefficients; the model has " +
                                    std::to_string(model.shape.num_components()) + " and " + std::to_string(model.expression.num_coefficients()));
    }
    Eigen::VectorXf x = model.shape.mean + model.expression.mean;
    if (shape_coeffs.size()) x.noalias() += model.shape.rescaled_basis.leftCols(shape_coeffs.size()) * shape_coeffs;
    if (expression_coeffs.size()) x.noalias() += model.expression.basis.leftCols(expression_coeffs.size()) * expression_coeffs;
    return x;
}

core::Vertices build_mesh(const FaceModel& model, const Eigen::VectorXf& shape_coeffs, const Eigen::VectorXf& expression_coeffs) {
    const Eigen::VectorXf x = build_shape(model, shape_coeffs, expression_coeffs);
    return Eigen::Map<const core::Vertices>(x.data(), model.num_vertices(), 3);
}

}  // namespace faceflt::model
