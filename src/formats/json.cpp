// JSON reader and writer (see json.h). Recursive descent over RFC 8259; strings are
// UTF-8 with \uXXXX escapes (surrogate pairs combined) decoded on input.
#include "formats/json.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "check.h"
#include "text/tokenizer.h"

namespace gpt {

Json Json::boolean(bool b) {
  Json j;
  j.type_ = Type::boolean;
  j.b_ = b;
  return j;
}
Json Json::number(double x) {
  Json j;
  j.type_ = Type::number;
  j.num_ = x;
  return j;
}
Json Json::integer(int64_t x) {
  Json j = number(double(x));
  j.str_ = std::to_string(x);  // exact text even beyond 2^53
  return j;
}
Json Json::string(std::string s) {
  Json j;
  j.type_ = Type::string;
  j.str_ = std::move(s);
  return j;
}
Json Json::array(std::vector<Json> items) {
  Json j;
  j.type_ = Type::array;
  j.arr_ = std::move(items);
  return j;
}
Json Json::object() {
  Json j;
  j.type_ = Type::object;
  return j;
}

const char* Json::type_name(Type t) {
  switch (t) {
    case Type::null: return "null";
    case Type::boolean: return "a boolean";
    case Type::number: return "a number";
    case Type::string: return "a string";
    case Type::array: return "an array";
    case Type::object: return "an object";
  }
  return "?";
}

namespace {
[[noreturn]] void wrong_type(const std::string& what, const char* want, Json::Type got) {
  GPT_FAIL(what, ": expected ", want, ", found ", Json::type_name(got));
}
}  // namespace

bool Json::as_bool(const std::string& what) const {
  if (type_ != Type::boolean) wrong_type(what, "true or false", type_);
  return b_;
}
double Json::as_number(const std::string& what) const {
  if (type_ != Type::number) wrong_type(what, "a number", type_);
  return num_;
}
int64_t Json::as_int(const std::string& what) const {
  if (type_ != Type::number) wrong_type(what, "an integer", type_);
  if (!str_.empty() && str_.find_first_of(".eE") == std::string::npos) {
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(str_.c_str(), &end, 10);
    if (errno == 0 && end && *end == '\0') return v;
  }
  if (!(std::isfinite(num_) && num_ == std::floor(num_) && std::fabs(num_) < 9.007199254740992e15))
    GPT_FAIL(what, ": expected an integer, found ", dump());
  return int64_t(num_);
}
const std::string& Json::as_string(const std::string& what) const {
  if (type_ != Type::string) wrong_type(what, "a string", type_);
  return str_;
}
const std::vector<Json>& Json::as_array(const std::string& what) const {
  if (type_ != Type::array) wrong_type(what, "an array", type_);
  return arr_;
}
const std::vector<std::pair<std::string, Json>>& Json::as_object(const std::string& what) const {
  if (type_ != Type::object) wrong_type(what, "an object", type_);
  return obj_;
}

const Json* Json::find(const std::string& key) const {
  if (type_ != Type::object) return nullptr;
  for (const auto& kv : obj_)
    if (kv.first == key) return &kv.second;
  return nullptr;
}

Json& Json::set(const std::string& key, Json value) {
  GPT_CHECK(type_ == Type::object, "set() on ", type_name(type_));
  for (auto& kv : obj_)
    if (kv.first == key) return kv.second = std::move(value);
  obj_.emplace_back(key, std::move(value));
  return obj_.back().second;
}

void Json::push(Json value) {
  GPT_CHECK(type_ == Type::array, "push() on ", type_name(type_));
  arr_.push_back(std::move(value));
}

size_t Json::size() const { return type_ == Type::array ? arr_.size() : type_ == Type::object ? obj_.size() : 0; }

// ---- parser ----------------------------------------------------------------------

class JsonParser {
 public:
  JsonParser(const std::string& text, const std::string& source) : s_(text), src_(source) {}

  Json parse_document() {
    skip_ws();
    Json v = value(0);
    skip_ws();
    if (i_ != s_.size()) fail("unexpected text after the JSON value");
    return v;
  }

 private:
  const std::string& s_;
  const std::string& src_;
  size_t i_ = 0;

  [[noreturn]] void fail(const std::string& msg) const {
    int line = 1, col = 1;
    for (size_t k = 0; k < i_ && k < s_.size(); k++) {
      if (s_[k] == '\n') line++, col = 1;
      else col++;
    }
    std::string found = "the end of the input";
    if (i_ < s_.size()) {  // a byte that prints as itself, else its value
      const auto b = static_cast<unsigned char>(s_[i_]);
      char hex[16];
      std::snprintf(hex, sizeof hex, "byte 0x%02X", b);
      found = b >= 0x20 && b < 0x7f ? "'" + std::string(1, s_[i_]) + "'" : std::string(hex);
    }
    GPT_FAIL(src_, ": line ", line, ", column ", col, ": ", msg, " (found ", found,
             "); the file must be valid JSON");
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) i_++;
  }
  bool eat(char c) {
    if (i_ < s_.size() && s_[i_] == c) {
      i_++;
      return true;
    }
    return false;
  }
  void expect_word(const char* w) {
    for (const char* p = w; *p; p++)
      if (!eat(*p)) fail(std::string("expected '") + w + "'");
  }

  Json value(int depth) {
    if (depth > 512) fail("nesting deeper than 512 levels");
    if (i_ >= s_.size()) fail("expected a value");
    char c = s_[i_];
    if (c == '{') return object(depth);
    if (c == '[') return array(depth);
    if (c == '"') return Json::string(string_lit());
    if (c == 't') return expect_word("true"), Json::boolean(true);
    if (c == 'f') return expect_word("false"), Json::boolean(false);
    if (c == 'n') return expect_word("null"), Json();
    if (c == '-' || (c >= '0' && c <= '9')) return number();
    if (i_ == 0 && s_.compare(0, 3, "\xEF\xBB\xBF") == 0)
      fail("the file starts with a UTF-8 byte-order mark (EF BB BF), which JSON does not allow; save it without one");
    fail("expected a value (object, array, string, number, true, false or null)");
  }

  Json object(int depth) {
    Json o = Json::object();
    const size_t start = i_;
    i_++;  // '{'
    skip_ws();
    if (eat('}')) return o;
    for (;;) {
      skip_ws();
      if (i_ >= s_.size() || s_[i_] != '"') fail("expected a string key in an object");
      std::string key = string_lit();

      skip_ws();
      if (!eat(':')) fail("expected ':' after an object key");
      skip_ws();
      o.obj_.emplace_back(std::move(key), value(depth + 1));
      skip_ws();
      if (eat('}')) return check_unique_keys(o, start), o;
      if (!eat(',')) fail("expected ',' or '}' in an object");
    }
  }

  // Duplicate keys by sorting views of them: O(n log n) whatever the keys are (a
  // linear search per key made a safetensors header of 300k keys take minutes, and a
  // hash set could be flooded with colliding keys).
  // A duplicate is reported where its object starts.
  void check_unique_keys(const Json& o, size_t start) {
    if (o.obj_.size() < 2) return;
    std::vector<std::string_view> keys;
    keys.reserve(o.obj_.size());
    for (const auto& kv : o.obj_) keys.push_back(kv.first);
    std::sort(keys.begin(), keys.end());
    const auto dup = std::adjacent_find(keys.begin(), keys.end());
    if (dup != keys.end()) {
      i_ = start;
      fail("duplicate key \"" + std::string(*dup) + "\" in the object that starts here");
    }
  }

  Json array(int depth) {
    Json a = Json::array();
    i_++;  // '['
    skip_ws();
    if (eat(']')) return a;
    for (;;) {
      skip_ws();
      a.arr_.push_back(value(depth + 1));
      skip_ws();
      if (eat(']')) return a;
      if (!eat(',')) fail("expected ',' or ']' in an array");
    }
  }

  Json number() {
    size_t start = i_;
    eat('-');
    if (eat('0')) {
    } else if (i_ < s_.size() && s_[i_] >= '1' && s_[i_] <= '9') {
      while (i_ < s_.size() && isdigit((unsigned char)s_[i_])) i_++;
    } else {
      fail("expected a digit");
    }
    if (eat('.')) {
      if (!(i_ < s_.size() && isdigit((unsigned char)s_[i_]))) fail("expected a digit after '.'");
      while (i_ < s_.size() && isdigit((unsigned char)s_[i_])) i_++;
    }
    if (i_ < s_.size() && (s_[i_] == 'e' || s_[i_] == 'E')) {
      i_++;
      if (!eat('+')) eat('-');
      if (!(i_ < s_.size() && isdigit((unsigned char)s_[i_]))) fail("expected a digit in the exponent");
      while (i_ < s_.size() && isdigit((unsigned char)s_[i_])) i_++;
    }
    Json n = Json::number(std::strtod(s_.substr(start, i_ - start).c_str(), nullptr));
    n.str_ = s_.substr(start, i_ - start);
    return n;
  }

  unsigned hex4() {
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
      if (i_ >= s_.size()) fail("expected 4 hex digits after \\u");
      char c = s_[i_++];
      v <<= 4;
      if (c >= '0' && c <= '9') v |= unsigned(c - '0');
      else if (c >= 'a' && c <= 'f') v |= unsigned(c - 'a' + 10);
      else if (c >= 'A' && c <= 'F') v |= unsigned(c - 'A' + 10);
      else i_--, fail("expected a hex digit after \\u");
    }
    return v;
  }



  std::string string_lit() {
    i_++;  // opening quote
    std::string out;
    for (;;) {
      if (i_ >= s_.size()) fail("unterminated string");
      char c = s_[i_++];
      if (c == '"') return out;
      if ((unsigned char)c < 0x20) i_--, fail("control character inside a string (escape it)");
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("unterminated escape");
      char e = s_[i_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned cp = hex4();
          if (cp >= 0xD800 && cp < 0xDC00) {
            if (!(eat('\\') && eat('u'))) fail("expected a low surrogate \\uDC00..\\uDFFF");
            unsigned lo = hex4();
            if (lo < 0xDC00 || lo > 0xDFFF) fail("expected a low surrogate \\uDC00..\\uDFFF");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else if (cp >= 0xDC00 && cp < 0xE000) {
            fail("lone low surrogate in \\u escape");
          }
          append_utf8(out, cp);
          break;
        }
        default: i_--, fail("unknown escape");
      }
    }
  }
};

Json Json::parse(const std::string& text, const std::string& source) {
  return JsonParser(text, source).parse_document();
}

// ---- writer ----------------------------------------------------------------------

void json_escape(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
}

void Json::dump_to(std::string& out, int indent, int depth, int precision) const {
  auto newline = [&](int d) {
    if (indent < 0) return;
    out += '\n';
    out.append(size_t(indent) * size_t(d), ' ');
  };
  switch (type_) {
    case Type::null: out += "null"; break;
    case Type::boolean: out += b_ ? "true" : "false"; break;
    case Type::number: {
      if (!str_.empty()) {
        out += str_;  // parsed or exact integer: keep its text
      } else if (!std::isfinite(num_)) {
        out += "null";  // JSON has no NaN/Inf
      } else if (num_ == std::floor(num_) && std::fabs(num_) < 1e15) {
        out += std::to_string(int64_t(num_));
      } else {
        char buf[40];
        std::snprintf(buf, sizeof buf, "%.*g", precision, num_);
        out += buf;
      }
      break;
    }
    case Type::string: json_escape(out, str_); break;
    case Type::array: {
      out += '[';
      // Arrays of scalars stay on one line (matrices print one row per line).
      bool scalars = true;
      for (const Json& v : arr_) scalars = scalars && v.type_ != Type::array && v.type_ != Type::object;
      for (size_t k = 0; k < arr_.size(); k++) {
        if (k) out += scalars || indent < 0 ? (indent < 0 ? "," : ", ") : ",";
        if (!scalars) newline(depth + 1);
        arr_[k].dump_to(out, indent, depth + 1, precision);
      }
      if (!scalars && !arr_.empty()) newline(depth);
      out += ']';
      break;
    }
    case Type::object: {
      out += '{';
      for (size_t k = 0; k < obj_.size(); k++) {
        if (k) out += ',';
        newline(depth + 1);
        json_escape(out, obj_[k].first);
        out += indent < 0 ? ":" : ": ";
        obj_[k].second.dump_to(out, indent, depth + 1, precision);
      }
      if (!obj_.empty()) newline(depth);
      out += '}';
      break;
    }
  }
}

std::string Json::dump(int indent, int precision) const {
  std::string out;
  dump_to(out, indent, 0, precision);
  return out;
}

}  // namespace gpt
