// The JSON reader/writer: values, escapes, exact integers, key order, and errors
// that point at the line and column.
#include <gtest/gtest.h>

#include "formats/json.h"
#include "test_util.h"

namespace gpt {
namespace {
using test::expect_error;

TEST(Json, ParsesEveryKindOfValue) {
  Json j = Json::parse(R"( {"a": [1, -2.5e2, 0.125], "b": {"c": true, "d": null}, "e": "x\"y\\z\n\u00e9\ud83d\ude00"} )",
                       "t");
  ASSERT_TRUE(j.is_object());
  const auto& a = j.find("a")->as_array("a");
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[0].as_int("a0"), 1);
  EXPECT_EQ(a[1].as_number("a1"), -250.0);
  EXPECT_EQ(a[2].as_number("a2"), 0.125);
  EXPECT_TRUE(j.find("b")->find("c")->as_bool("c"));
  EXPECT_TRUE(j.find("b")->find("d")->is_null());
  EXPECT_EQ(j.find("e")->as_string("e"), "x\"y\\z\n\xc3\xa9\xf0\x9f\x98\x80");  // é and U+1F600 in UTF-8
  EXPECT_EQ(j.find("missing"), nullptr);
}

TEST(Json, IntegersBeyondDoublePrecisionStayExact) {
  Json j = Json::parse("[9007199254740993]", "t");
  EXPECT_EQ(j.as_array("x")[0].as_int("x"), 9007199254740993LL);
  EXPECT_EQ(j.dump(), "[9007199254740993]");
  EXPECT_EQ(Json::integer(1LL << 60).dump(), "1152921504606846976");
}

TEST(Json, DumpRoundTripsAndKeepsKeyOrder) {
  Json o = Json::object();
  o.set("zeta", Json::number(0.1));
  o.set("alpha", Json::array({Json::integer(3), Json::string("tab\there")}));
  o.set("zeta", Json::number(2.5));  // replaces in place
  std::string text = o.dump();
  EXPECT_EQ(text, R"({"zeta":2.5,"alpha":[3,"tab\there"]})");
  Json back = Json::parse(o.dump(2), "t");
  EXPECT_EQ(back.dump(), text);
  EXPECT_EQ(back.as_object("o")[0].first, "zeta");
}

TEST(Json, ErrorsNameLineColumnAndWhat) {
  expect_error([] { Json::parse("{\n  \"a\": [1, 2,,]\n}", "in.json"); },
               {"in.json", "line 2", "column 14", "expected a value"});
  expect_error([] { Json::parse("{\"a\": 1, \"a\": 2}", "in.json"); }, {"duplicate key \"a\""});
  // Where the object with the duplicate starts (it was the end of the input), and a
  // byte-order mark named as one (it was shown as a broken character).
  expect_error([] { Json::parse("[1,\n {\"a\": 1, \"a\": 2}]", "in.json"); },
               {"line 2, column 2: duplicate key \"a\" in the object that starts here (found '{')"});
  expect_error([] { Json::parse("\xEF\xBB\xBF{}", "in.json"); }, {"byte-order mark", "found byte 0xEF"});
  expect_error([] { Json::parse("[1] x", "in.json"); }, {"unexpected text"});
  expect_error([] { Json::parse("\"abc", "in.json"); }, {"unterminated string"});
  expect_error([] { Json::parse("", "in.json"); }, {"expected a value"});
  expect_error([] { Json::parse("[01]", "in.json"); }, {"expected ',' or ']'"});
  expect_error([] { Json::parse("[1.5]", "t").as_array("v")[0].as_int("heads"); },
               {"heads", "expected an integer", "1.5"});
  expect_error([] { Json::parse("\"s\"", "t").as_array("X"); }, {"X: expected an array, found a string"});
}

}  // namespace
}  // namespace gpt
