// A bounds-checked reader over a whole file held in memory, for eos's cereal binary archives.
// Every read checks the bytes left first; every length prefix is checked against the bytes it
// implies before anything is allocated, so a bad length cannot cause a huge allocation.
#pragma once

#include "faceflt/core/errors.hpp"

#include <Eigen/Core>
#include <array>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <string>
#include <vector>

namespace faceflt::model::detail {

class BinaryReader {
public:
    explicit BinaryReader(const std::string& path);

    const std::string& path() const { return path_; }
    std::size_t remaining() const { return data_.size() - pos_; }
    std::size_t position() const { return pos_; }

    [[noreturn]] void fail(const std::string& field, const std::string& what) const;

    template <typename T>
    T scalar(const std::string& field) {
        need(sizeof(T), field);
        T value;
        std::memcpy(&value, data_.data() + pos_, sizeof(T));
        pos_ += sizeof(T);
        return value;
    }

    // A uint64 element count, checked against the bytes left given the smallest element size.
    std::size_t count(const std::string& field, std::size_t min_element_bytes);
    std::string string(const std::string& field);
    bool boolean(const std::string& field);

    // Eigen float matrix: int32 rows, int32 cols, column-major data of element type T.
    template <typename T = float>
    Eigen::MatrixXf matrix(const std::string& field) {
        const auto rows = scalar<std::int32_t>(field + ".rows");
        const auto cols = scalar<std::int32_t>(field + ".cols");
        if (rows < 0 || cols < 0) {
            fail(field, "negative matrix size " + std::to_string(rows) + "x" + std::to_string(cols));
        }
        const std::size_t n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols);
        if (n > remaining() / sizeof(T)) {
            fail(field, "matrix of " + std::to_string(rows) + "x" + std::to_string(cols) + " needs " +
                            std::to_string(n * sizeof(T)) + " bytes, only " + std::to_string(remaining()) +
                            " left (file truncated or corrupted)");
        }
        Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> m(rows, cols);
        if (n) std::memcpy(m.data(), data_.data() + pos_, n * sizeof(T));  // an empty matrix has no data pointer
        pos_ += n * sizeof(T);
        if constexpr (std::is_same_v<T, float>) {
            return m;
        } else {
            return m.template cast<float>();
        }
    }

    Eigen::VectorXf vector(const std::string& field);

    // std::vector<std::array<T, N>>: uint64 count, then count * N raw T.
    template <typename T, int N>
    std::vector<std::array<T, N>> array_list(const std::string& field) {
        const std::size_t n = count(field, N * sizeof(T));
        std::vector<std::array<T, N>> out(n);
        if (n) std::memcpy(out.data(), data_.data() + pos_, n * N * sizeof(T));
        pos_ += n * N * sizeof(T);
        return out;
    }

    void expect_end() const;

private:
    void need(std::size_t bytes, const std::string& field) const;

    std::string path_;
    std::vector<char> data_;
    std::size_t pos_ = 0;
};

}  // namespace faceflt::model::detail
