// A small JSON reader for eos's cereal JSON files (model contours, edge topology).
// Errors are core::ModelFormatError naming the file and the byte offset.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace faceflt::model::detail {

struct JsonValue {
    enum class Type { Null, Bool, Number, String, Array, Object };
    Type type = Type::Null;
    bool boolean = false;
    double number = 0.0;
    std::string string;
    std::vector<JsonValue> array;
    std::vector<std::pair<std::string, JsonValue>> object;
};

// Parses the whole file; throws core::ModelFormatError on a syntax error or a missing file.
JsonValue parse_json_file(const std::string& path);

// Navigation helpers that name the file and the JSON path when something is missing or of the wrong type.
const JsonValue& json_member(const std::string& path, const JsonValue& object, const std::string& key, const std::string& where);
int json_int(const std::string& path, const JsonValue& value, const std::string& where);
std::vector<int> json_int_array(const std::string& path, const JsonValue& value, const std::string& where);

}  // namespace faceflt::model::detail
