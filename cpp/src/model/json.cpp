#include "json.hpp"

#include "faceflt/core/errors.hpp"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace faceflt::model::detail {

namespace {

class Parser {
public:
    Parser(std::string path, std::string text) : path_(std::move(path)), text_(std::move(text)) {}

    JsonValue document() {
        JsonValue v = value(0);
        skip_space();
        if (pos_ != text_.size()) fail("unexpected characters after the JSON document");
        return v;
    }

private:
    static constexpr int kMaxDepth = 64;

    [[noreturn]] void fail(const std::string& what) const {
        throw core::ModelFormatError(path_ + ": invalid JSON at byte " + std::to_string(pos_) + ": " + what);
    }

    void skip_space() {
        while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\n' || text_[pos_] == '\r' || text_[pos_] == '\t')) ++pos_;
    }

    bool consume(char c) {
        skip_space();
        if (pos_ < text_.size() && text_[pos_] == c) {
            ++pos_;
            return true;
        }
        return false;
    }

    void expect(char c) {
        if (!consume(c)) fail(std::string("expected '") + c + "'");
    }

    bool literal(const char* word) {
        const std::string w(word);
        if (text_.compare(pos_, w.size(), w) == 0) {
            pos_ += w.size();
            return true;
        }
        return false;
    }

    std::string string_body() {
        expect('"');
        std::string out;
        while (pos_ < text_.size() && text_[pos_] != '"') {
            char c = text_[pos_++];
            if (c == '\\') {
                if (pos_ >= text_.size()) fail("unterminated escape");
                const char e = text_[pos_++];
                switch (e) {
                    case 'n': out += '\n'; break;
                    case 't': out += '\t'; break;
                    case 'r': out += '\r'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'u':
                        if (pos_ + 4 > text_.size()) fail("truncated \\u escape");
                        pos_ += 4;  // names in model files are ASCII; keep a placeholder
                        out += '?';
                        break;
                    default: out += e;
                }
            } else {
                out += c;
            }
        }
        if (pos_ >= text_.size()) fail("unterminated string");
        ++pos_;
        return out;
    }

    JsonValue value(int depth) {
        if (depth > kMaxDepth) fail("nesting deeper than 64 levels");
        skip_space();
        if (pos_ >= text_.size()) fail("unexpected end of file");
        JsonValue v;
        const char c = text_[pos_];
        if (c == '{') {
            ++pos_;
            v.type = JsonValue::Type::Object;
            if (consume('}')) return v;
            do {
                skip_space();
                std::string key = string_body();
                expect(':');
                v.object.emplace_back(std::move(key), value(depth + 1));
            } while (consume(','));
            expect('}');
        } else if (c == '[') {
            ++pos_;
            v.type = JsonValue::Type::Array;
            if (consume(']')) return v;
            do {
                v.array.push_back(value(depth + 1));
            } while (consume(','));
            expect(']');
        } else if (c == '"') {
            v.type = JsonValue::Type::String;
            v.string = string_body();
        } else if (literal("true")) {
            v.type = JsonValue::Type::Bool;
            v.boolean = true;
        } else if (literal("false")) {
            v.type = JsonValue::Type::Bool;
        } else if (literal("null")) {
            v.type = JsonValue::Type::Null;
        } else {
            const char* begin = text_.c_str() + pos_;
            char* end = nullptr;
            v.number = std::strtod(begin, &end);
            if (end == begin) fail("expected a value");
            pos_ += static_cast<std::size_t>(end - begin);
            v.type = JsonValue::Type::Number;
        }
        return v;
    }

    std::string path_;
    std::string text_;
    std::size_t pos_ = 0;
};

}  // namespace

JsonValue parse_json_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw core::ModelFormatError(path + ": cannot open the file (does it exist and is it readable?)");
    std::ostringstream buffer;
    buffer << file.rdbuf();
    return Parser(path, buffer.str()).document();
}

const JsonValue& json_member(const std::string& path, const JsonValue& object, const std::string& key, const std::string& where) {
    if (object.type != JsonValue::Type::Object) throw core::ModelFormatError(path + ": '" + where + "' must be a JSON object");
    for (const auto& [k, v] : object.object) {
        if (k == key) return v;
    }
    throw core::ModelFormatError(path + ": missing field '" + where + "." + key + "'");
}

int json_int(const std::string& path, const JsonValue& value, const std::string& where) {
    if (value.type != JsonValue::Type::Number || value.number != std::floor(value.number) || std::abs(value.number) > 2e9) {
        throw core::ModelFormatError(path + ": '" + where + "' must be an integer");
    }
    return static_cast<int>(value.number);
}

std::vector<int> json_int_array(const std::string& path, const JsonValue& value, const std::string& where) {
    if (value.type != JsonValue::Type::Array) throw core::ModelFormatError(path + ": '" + where + "' must be a JSON array");
    std::vector<int> out;
    out.reserve(value.array.size());
    for (std::size_t i = 0; i < value.array.size(); ++i) {
        out.push_back(json_int(path, value.array[i], where + "[" + std::to_string(i) + "]"));
    }
    return out;
}

}  // namespace faceflt::model::detail
