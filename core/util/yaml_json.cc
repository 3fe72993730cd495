#include "core/util/yaml_json.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace codiff {
namespace {

nlohmann::json ScalarToJson(const YAML::Node& node) {
  if (node.Tag() == "!") return node.Scalar();  // quoted in the file
  int64_t i = 0;
  if (YAML::convert<int64_t>::decode(node, i)) return i;
  double d = 0;
  if (YAML::convert<double>::decode(node, d)) return d;
  bool b = false;
  if (YAML::convert<bool>::decode(node, b)) return b;
  return node.Scalar();
}

void Emit(YAML::Emitter& out, const nlohmann::json& j) {
  if (j.is_object()) {
    out << YAML::BeginMap;
    for (auto it = j.begin(); it != j.end(); ++it) {
      out << YAML::Key << it.key() << YAML::Value;
      Emit(out, it.value());
    }
    out << YAML::EndMap;
  } else if (j.is_array()) {
    // Short numeric lists read best inline: [320, 640, 1280, 1280].
    bool flat = true;
    for (const auto& e : j) flat = flat && e.is_primitive();
    if (flat) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& e : j) Emit(out, e);
    out << YAML::EndSeq;
  } else if (j.is_string()) {
    const std::string s = j.get<std::string>();
    // Quote strings that would otherwise read back as numbers, booleans or
    // structure; a string that is not valid YAML on its own (e.g. "a: b: c")
    // makes the probe throw, and is quoted too.
    bool ambiguous = true;
    try {
      YAML::Node probe = YAML::Load(s.empty() ? "''" : s);
      ambiguous = !probe.IsScalar() || !ScalarToJson(probe).is_string();
    } catch (const YAML::Exception&) {
    }
    if (ambiguous) out << YAML::DoubleQuoted;
    out << s;
  } else if (j.is_boolean()) {
    out << j.get<bool>();
  } else if (j.is_number_integer()) {
    out << j.get<int64_t>();
  } else if (j.is_number()) {
    out << YAML::Precision(17) << j.get<double>();
  } else {
    out << YAML::Null;
  }
}

// Aliases make a YAML document a graph that the conversion expands: nested
// aliases let a 500-byte file name a billion nodes, and an alias inside its
// own anchor is a cycle. Both are refused (YAML::Exception) by these bounds.
constexpr int kMaxYamlDepth = 256;
constexpr int64_t kMaxYamlNodes = 100'000;

nlohmann::json ToJson(const YAML::Node& node, int depth, int64_t* nodes_left) {
  if (depth > kMaxYamlDepth) {
    throw YAML::Exception(node.Mark(), absl::StrCat("nested deeper than ", kMaxYamlDepth,
                                                    " levels (an alias inside its own anchor?)"));
  }
  if (--*nodes_left < 0) {
    throw YAML::Exception(
        node.Mark(), absl::StrCat("more than ", kMaxYamlNodes, " nodes once aliases are expanded"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      nlohmann::json obj = nlohmann::json::object();
      for (const auto& kv : node) {
        obj[kv.first.as<std::string>()] = ToJson(kv.second, depth + 1, nodes_left);
      }
      return obj;
    }
    case YAML::NodeType::Sequence: {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& e : node) arr.push_back(ToJson(e, depth + 1, nodes_left));
      return arr;
    }
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    default:
      return nullptr;
  }
}

}  // namespace

nlohmann::json YamlToJson(const YAML::Node& node) {
  int64_t nodes_left = kMaxYamlNodes;
  return ToJson(node, 0, &nodes_left);
}

std::string JsonToYaml(const nlohmann::json& json) {
  YAML::Emitter out;
  Emit(out, json);
  return std::string(out.c_str()) + "\n";
}

absl::StatusOr<nlohmann::json> ReadYamlFileAsJson(const std::string& path) {
  try {
    return YamlToJson(YAML::LoadFile(path));
  } catch (const YAML::BadFile&) {
    return absl::NotFoundError(absl::StrCat("cannot read ", path));
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": invalid YAML: ", e.what()));
  }
}

}  // namespace codiff
