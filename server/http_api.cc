#include "server/http_api.h"

#include <chrono>
#include <cmath>
#include <set>
#include <utility>

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "server/status_conversion.h"

namespace codiff::server {
namespace {

namespace v1 = ::codiff::v1;
namespace pb = ::google::protobuf;

constexpr char kTimeoutHeader[] = "x-request-timeout";

absl::StatusOr<std::string> PercentDecode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      int value = 0;
      if (i + 2 >= text.size() || !absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 1])) ||
          !absl::ascii_isxdigit(static_cast<unsigned char>(text[i + 2]))) {
        return absl::InvalidArgumentError("bad percent-escape in the query string");
      }
      for (int k = 1; k <= 2; ++k) {
        const char h = absl::ascii_tolower(text[i + k]);
        value = value * 16 + (h <= '9' ? h - '0' : h - 'a' + 10);
      }
      out.push_back(static_cast<char>(value));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// "RESTORE_MODE_": what the type's UNSPECIFIED value puts before the short
// names ("" when it has none).
std::string EnumPrefix(const pb::EnumDescriptor* type) {
  const std::string& first = type->value(0)->name();
  const size_t unspecified = first.rfind("UNSPECIFIED");
  return unspecified == std::string::npos ? "" : first.substr(0, unspecified);
}

// "RESTORE_MODE_FIDELITY", or "fidelity" after the prefix.
const pb::EnumValueDescriptor* FindEnumValue(const pb::EnumDescriptor* type,
                                             std::string_view text) {
  const std::string upper = absl::AsciiStrToUpper(std::string(text));
  if (const auto* value = type->FindValueByName(upper)) return value;
  return type->FindValueByName(EnumPrefix(type) + upper);
}

std::string ShortEnumNames(const pb::EnumDescriptor* type) {
  std::vector<std::string> names;
  const size_t prefix = EnumPrefix(type).size();
  for (int i = 1; i < type->value_count(); ++i) {
    names.push_back(absl::AsciiStrToLower(type->value(i)->name().substr(prefix)));
  }
  return absl::StrJoin(names, ", ");
}

absl::Status SetField(pb::Message* message, const pb::FieldDescriptor* field,
                      const std::string& value) {
  const pb::Reflection* reflection = message->GetReflection();
  auto bad = [&](const std::string& want) {
    // Echo at most 64 bytes: a value is the caller's to make huge.
    return absl::InvalidArgumentError(
        absl::StrCat("query parameter ", field->name(), "='", value.substr(0, 64),
                     value.size() > 64 ? "..." : "", "' is not ", want));
  };
  switch (field->cpp_type()) {
    case pb::FieldDescriptor::CPPTYPE_ENUM: {
      const auto* found = FindEnumValue(field->enum_type(), value);
      if (found == nullptr) {
        return bad(absl::StrCat("one of: ", ShortEnumNames(field->enum_type())));
      }
      reflection->SetEnum(message, field, found);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_BOOL: {
      const std::string lower = absl::AsciiStrToLower(value);
      if (lower.empty() || lower == "true" || lower == "1") {
        reflection->SetBool(message, field, true);
      } else if (lower == "false" || lower == "0") {
        reflection->SetBool(message, field, false);
      } else {
        return bad("true, false, 1 or 0");
      }
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_INT32: {
      int32_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) return bad("an integer");
      reflection->SetInt32(message, field, n);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_UINT64: {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(value, &n)) return bad("an unsigned 64-bit integer");
      reflection->SetUInt64(message, field, n);
      return absl::OkStatus();
    }
    case pb::FieldDescriptor::CPPTYPE_STRING:
      reflection->SetString(message, field, value);
      return absl::OkStatus();
    default:
      return absl::InternalError(
          absl::StrCat("RestoreOptions.", field->name(), " has a type the HTTP query cannot set"));
  }
}

HttpResponse ErrorFor(const absl::Status& status) {
  HttpResponse response = JsonError(HttpStatusFor(status.code()), CodeName(status.code()),
                                    std::string(status.message()));
  if (absl::IsResourceExhausted(status) || absl::IsUnavailable(status)) {
    response.headers.emplace_back("Retry-After", "1");
  }
  return response;
}

absl::StatusOr<std::string> ToJson(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string out;
  const auto status = pb::util::MessageToJsonString(message, &out, options);
  if (!status.ok()) return absl::InternalError(std::string(status.message()));
  return out;
}

HttpResponse JsonReply(const pb::Message& message) {
  auto json = ToJson(message);
  if (!json.ok()) return ErrorFor(json.status());
  HttpResponse response;
  response.body = *std::move(json);
  return response;
}

// X-Request-Timeout: seconds (a decimal), the HTTP side of a gRPC deadline.
absl::StatusOr<Expiry> ExpiryOf(const HttpRequest& request) {
  Expiry expiry{Clock::time_point::max(), [] { return false; }};
  if (!request.HasHeader(kTimeoutHeader)) return expiry;
  double seconds = 0;
  const std::string_view text = request.Header(kTimeoutHeader);
  if (!absl::SimpleAtod(absl::string_view(text.data(), text.size()), &seconds) ||
      !std::isfinite(seconds) || seconds <= 0 || seconds > 86400) {
    return absl::InvalidArgumentError(
        "X-Request-Timeout must be a number of seconds in (0, 86400]");
  }
  expiry.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                       std::chrono::duration<double>(seconds));
  return expiry;
}

std::string_view ContentTypeOf(v1::ImageFormat format) {
  switch (format) {
    case v1::IMAGE_FORMAT_JPEG:
      return "image/jpeg";
    case v1::IMAGE_FORMAT_WEBP:
      return "image/webp";
    default:
      return "image/png";
  }
}

HttpResponse RestoreReply(v1::RestoreResponse* r) {
  HttpResponse response;
  response.content_type = std::string(ContentTypeOf(r->format()));
  auto& h = response.headers;
  if (!r->id().empty()) h.emplace_back("X-Codiff-Id", r->id());
  h.emplace_back("X-Codiff-Width", absl::StrCat(r->width()));
  h.emplace_back("X-Codiff-Height", absl::StrCat(r->height()));
  if (r->unchanged_reason().empty()) {
    h.emplace_back("X-Codiff-Predicted-Qf", absl::StrFormat("%.2f", r->predicted_qf()));
  } else {
    h.emplace_back("X-Codiff-Unchanged-Reason", r->unchanged_reason());
  }
  h.emplace_back("X-Codiff-Mode",
                 r->mode_run() == v1::RESTORE_MODE_FIDELITY ? "fidelity" : "perceptual");
  if (!r->mode_note().empty()) h.emplace_back("X-Codiff-Mode-Note", r->mode_note());
  h.emplace_back("X-Codiff-Tiles", absl::StrCat(r->tile_count()));
  if (!r->color_profile().empty()) h.emplace_back("X-Codiff-Color-Profile", r->color_profile());
  for (const std::string& note : r->notes()) h.emplace_back("X-Codiff-Note", note);
  const auto& t = r->timings();
  h.emplace_back(
      "Server-Timing",
      absl::StrFormat("queue;dur=%.1f, compute;dur=%.1f, total;dur=%.1f", t.queue_seconds() * 1e3,
                      t.compute_seconds() * 1e3, t.total_seconds() * 1e3));
  response.body = std::move(*r->mutable_image());
  return response;
}

struct Path {
  std::string_view path;
  std::string_view method;
};

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kAlreadyExists:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

absl::Status ParseRestoreQuery(std::string_view query, v1::RestoreRequest* request) {
  const pb::Descriptor* options = v1::RestoreOptions::descriptor();
  std::set<std::string> seen;
  for (size_t start = 0; start <= query.size();) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view pair = query.substr(start, end - start);
    start = end + 1;
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    auto name = PercentDecode(pair.substr(0, eq));
    if (!name.ok()) return name.status();
    auto value = PercentDecode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
    if (!value.ok()) return value.status();
    if (!seen.insert(*name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("query parameter ", *name, " is given more than once"));
    }
    if (*name == "id") {
      request->set_id(*value);
      continue;
    }
    const pb::FieldDescriptor* field = options->FindFieldByName(*name);
    if (field == nullptr) {
      std::vector<std::string> known = {"id"};
      for (int i = 0; i < options->field_count(); ++i) known.push_back(options->field(i)->name());
      return absl::InvalidArgumentError(absl::StrCat("unknown query parameter '",
                                                     name->substr(0, 64),
                                                     "'; known: ", absl::StrJoin(known, ", ")));
    }
    if (absl::Status set = SetField(request->mutable_options(), field, *value); !set.ok()) {
      return set;
    }
  }
  return absl::OkStatus();
}

HttpApi::HttpApi(RestorationService* service, ServerMetrics* metrics, const ServerConfig& config,
                 std::shared_ptr<const BearerTokens> tokens)
    : service_(service),
      metrics_(metrics),
      max_body_bytes_(config.limits.max_message_bytes),
      tokens_(std::move(tokens)) {}

std::variant<HttpRoute, HttpResponse> HttpApi::Route(const HttpRequest& head) const {
  static const Path kPaths[] = {
      {"/v1/restore", "POST"},    {"/v1/estimate-qf", "POST"}, {"/v1/model", "GET"},
      {"/v2/health/live", "GET"}, {"/v2/health/ready", "GET"}, {"/metrics", "GET"},
  };
  const Path* found = nullptr;
  for (const Path& p : kPaths) {
    if (head.path == p.path) found = &p;
  }
  if (found == nullptr) {
    return JsonError(404, "NOT_FOUND",
                     absl::StrCat("no route ", std::string(head.path.substr(0, 128)),
                                  "; see /v1/restore, /v1/estimate-qf, /v1/model"));
  }
  if (head.method != found->method) {
    HttpResponse r =
        JsonError(405, "UNIMPLEMENTED",
                  absl::StrCat(std::string(found->path), " takes ", std::string(found->method)));
    r.headers.emplace_back("Allow", std::string(found->method));
    return r;
  }
  if (found->path == "/v2/health/live") {
    return HttpResponse{200, "application/json", {}, "{\"live\":true}"};
  }
  if (found->path == "/v2/health/ready") {
    const bool ready = service_->serving();
    return HttpResponse{ready ? 200 : 503,
                        "application/json",
                        {},
                        ready ? "{\"ready\":true}" : "{\"ready\":false}"};
  }
  // Everything else is the API: authenticated when the server has tokens.
  const std::string_view authorization = head.Header("authorization");
  if (tokens_ && !tokens_->Accepts(absl::string_view(authorization.data(), authorization.size()))) {
    metrics_->unauthenticated().Increment();
    HttpResponse r =
        JsonError(401, "UNAUTHENTICATED",
                  head.HasHeader("authorization") ? "the bearer token is not accepted"
                                                  : "missing Authorization: Bearer <token>");
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  if (found->path == "/metrics") {
    return HttpResponse{200, ServerMetrics::kExpositionContentType, {}, metrics_->Exposition()};
  }
  if (found->path == "/v1/model") {
    v1::GetModelInfoResponse info;
    const absl::Status status = service_->ModelInfo("http", &info);
    return status.ok() ? JsonReply(info) : ErrorFor(status);
  }
  HttpRoute route;
  route.max_body_bytes = static_cast<uint64_t>(max_body_bytes_);
  if (found->path == "/v1/restore") {
    route.handle = [this](HttpRequest r, HttpReply reply) {
      Restore(std::move(r), std::move(reply));
    };
  } else {
    route.handle = [this](HttpRequest r, HttpReply reply) {
      EstimateQf(std::move(r), std::move(reply));
    };
  }
  return route;
}

void HttpApi::Restore(HttpRequest request, HttpReply reply) const {
  struct Call {
    v1::RestoreRequest request;
    v1::RestoreResponse response;
  };
  auto call = std::make_shared<Call>();
  absl::Status parsed = ParseRestoreQuery(request.query, &call->request);
  auto expiry = ExpiryOf(request);
  if (parsed.ok() && !expiry.ok()) parsed = expiry.status();
  if (!parsed.ok()) {
    service_->RecordRefusal("http", "Restore", request.body.size(), parsed);
    return reply(ErrorFor(parsed));
  }
  call->request.set_image(std::move(request.body));
  service_->RunRestore(call->request, &call->response, *std::move(expiry), "http", "Restore",
                       [call, reply](const absl::Status& status) {
                         if (!status.ok()) return reply(ErrorFor(status));
                         reply(RestoreReply(&call->response));
                       });
}

void HttpApi::EstimateQf(HttpRequest request, HttpReply reply) const {
  struct Call {
    v1::EstimateQFRequest request;
    v1::EstimateQFResponse response;
  };
  auto call = std::make_shared<Call>();
  auto expiry = ExpiryOf(request);
  absl::Status parsed = expiry.status();
  if (parsed.ok() && !request.query.empty()) {
    parsed = absl::InvalidArgumentError("/v1/estimate-qf takes no query parameters");
  }
  if (!parsed.ok()) {
    service_->RecordRefusal("http", "EstimateQF", request.body.size(), parsed);
    return reply(ErrorFor(parsed));
  }
  call->request.set_image(std::move(request.body));
  service_->RunEstimate(call->request, &call->response, *std::move(expiry), "http",
                        [call, reply](const absl::Status& status) {
                          if (!status.ok()) return reply(ErrorFor(status));
                          reply(JsonReply(call->response));
                        });
}

}  // namespace codiff::server
