// Conversions between yaml-cpp nodes and nlohmann::json, so configuration
// files can be YAML while the model configs keep diffusers' JSON vocabulary.
#pragma once

#include <string>

#include <yaml-cpp/yaml.h>
#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace codiff {

// Scalars become integers, then floats, then booleans where they parse as
// such, else strings; quoted scalars stay strings. Aliases are expanded;
// throws YAML::Exception beyond 256 levels of nesting (an alias inside its own
// anchor) or 100,000 nodes (nested aliases).
nlohmann::json YamlToJson(const YAML::Node& node);
std::string JsonToYaml(const nlohmann::json& json);
absl::StatusOr<nlohmann::json> ReadYamlFileAsJson(const std::string& path);

}  // namespace codiff
