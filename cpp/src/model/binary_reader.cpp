#include "binary_reader.hpp"

#include <fstream>

namespace faceflt::model::detail {

BinaryReader::BinaryReader(const std::string& path) : path_(path) {
    std::ifstream file(path, std::ios::binary | std::ios::ate);
    if (!file) {
        throw core::ModelFormatError(path + ": cannot open the file (does it exist and is it readable?)");
    }
    const auto size = static_cast<std::streamoff>(file.tellg());
    if (size < 0) throw core::ModelFormatError(path + ": cannot determine the file size");
    data_.resize(static_cast<std::size_t>(size));
    file.seekg(0);
    if (size > 0 && !file.read(data_.data(), size)) {
        throw core::ModelFormatError(path + ": read error");
    }
}

void BinaryReader::fail(const std::string& field, const std::string& what) const {
    throw core::ModelFormatError(path_ + ": field '" + field + "' at byte " + std::to_string(pos_) + ": " + what);
}

void BinaryReader::need(std::size_t bytes, const std::string& field) const {
    if (bytes > remaining()) {
        fail(field, "expected " + std::to_string(bytes) + " more bytes, only " + std::to_string(remaining()) +
                        " left (file truncated?)");
    }
}

std::size_t BinaryReader::count(const std::string& field, std::size_t min_element_bytes) {
    const auto n = scalar<std::uint64_t>(field + ".size");
    if (min_element_bytes > 0 && n > remaining() / min_element_bytes) {
        fail(field, "a count of " + std::to_string(n) + " elements cannot fit in the " + std::to_string(remaining()) +
                        " bytes left (file truncated or corrupted)");
    }
    return static_cast<std::size_t>(n);
}

std::string BinaryReader::string(const std::string& field) {
    const std::size_t n = count(field, 1);
    std::string s(data_.data() + pos_, n);
    pos_ += n;
    return s;
}

bool BinaryReader::boolean(const std::string& field) {
    const auto b = scalar<std::uint8_t>(field);
    if (b > 1) fail(field, "expected a bool (0 or 1), got " + std::to_string(b));
    return b == 1;
}

Eigen::VectorXf BinaryReader::vector(const std::string& field) {
    Eigen::MatrixXf m = matrix<float>(field);
    if (m.cols() != 1 && m.size() != 0) {
        fail(field, "expected a column vector, got " + std::to_string(m.rows()) + "x" + std::to_string(m.cols()));
    }
    return Eigen::Map<Eigen::VectorXf>(m.data(), m.size());
}

void BinaryReader::expect_end() const {
    if (remaining() != 0) {
        throw core::ModelFormatError(path_ + ": " + std::to_string(remaining()) +
                                     " unexpected bytes after the last field (wrong file type or corrupted)");
    }
}

}  // namespace faceflt::model::detail
