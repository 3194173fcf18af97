// A small JSON reader and writer, written for the formats gpt.cc reads and writes
// (safetensors headers, config.json, `gpt attention` inputs, --json outputs).
// Objects keep their key order. Not here: streaming, comments, duplicate-key merging
// (a duplicate key is an error), numbers beyond double precision (kept as text too).
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace gpt {

class Json {
 public:
  enum class Type { null, boolean, number, string, array, object };

  Json() = default;  // null
  static Json boolean(bool b);
  static Json number(double x);
  static Json integer(int64_t x);
  static Json string(std::string s);
  static Json array(std::vector<Json> items = {});
  static Json object();

  // Parses the whole text (trailing non-space is an error). `source` names the
  // input in errors: "FILE: line 3, column 7: expected ',' or ']' in an array, found 'x'".
  static Json parse(const std::string& text, const std::string& source);

  Type type() const { return type_; }
  bool is_null() const { return type_ == Type::null; }
  bool is_number() const { return type_ == Type::number; }
  bool is_string() const { return type_ == Type::string; }
  bool is_array() const { return type_ == Type::array; }
  bool is_object() const { return type_ == Type::object; }
  static const char* type_name(Type t);

  // Typed access; the wrong type is a gpt::Error naming `what` (e.g. "config.json: n_embd").
  bool as_bool(const std::string& what) const;
  double as_number(const std::string& what) const;
  int64_t as_int(const std::string& what) const;  // must be an integer value exactly
  const std::string& as_string(const std::string& what) const;
  const std::vector<Json>& as_array(const std::string& what) const;
  const std::vector<std::pair<std::string, Json>>& as_object(const std::string& what) const;

  // Objects: nullptr when absent.
  const Json* find(const std::string& key) const;
  Json& set(const std::string& key, Json value);  // appends or replaces; returns the stored value
  // Arrays.
  void push(Json value);
  size_t size() const;

  // Compact text ("indent" < 0) or pretty-printed with that many spaces per level.
  // Numbers print with up to 9 significant digits unless integral (exact); `precision`
  // overrides (e.g. 17 for round-trip doubles).
  std::string dump(int indent = -1, int precision = 9) const;

 private:
  Type type_ = Type::null;
  bool b_ = false;
  double num_ = 0.0;
  std::string str_;  // string value, or a number's source text when parsed
  std::vector<Json> arr_;
  std::vector<std::pair<std::string, Json>> obj_;
  friend class JsonParser;
  void dump_to(std::string& out, int indent, int depth, int precision) const;
};

// Appends s as a JSON string literal (quotes and escapes) to out.
void json_escape(std::string& out, const std::string& s);

}  // namespace gpt
