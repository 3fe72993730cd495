// The HTTP front end's pure translation (issue 31): query strings to
// RestoreOptions by proto reflection, and gRPC codes to HTTP statuses.
#include "server/http_api.h"

#include <gtest/gtest.h>

namespace codiff::server {
namespace {

namespace v1 = ::codiff::v1;

TEST(HttpApiQueryTest, EveryOptionParsesByItsProtoName) {
  v1::RestoreRequest r;
  ASSERT_TRUE(ParseRestoreQuery(
                  "mode=fidelity&output_format=JPEG&output_quality=85&color_fix=COLOR_FIX_WAVELET"
                  "&seed=18446744073709551615&tile_size=512&skip_jpeg_consistency"
                  "&restore_high_quality_jpeg=0&metadata=keep&output_color=srgb&id=a%2Bb+c",
                  &r)
                  .ok());
  const v1::RestoreOptions& o = r.options();
  EXPECT_EQ(o.mode(), v1::RESTORE_MODE_FIDELITY);
  EXPECT_EQ(o.output_format(), v1::IMAGE_FORMAT_JPEG);
  EXPECT_EQ(o.output_quality(), 85);
  EXPECT_EQ(o.color_fix(), v1::COLOR_FIX_WAVELET);
  EXPECT_TRUE(o.has_seed());
  EXPECT_EQ(o.seed(), 18446744073709551615ull);
  EXPECT_EQ(o.tile_size(), 512);
  EXPECT_TRUE(o.skip_jpeg_consistency());
  EXPECT_FALSE(o.restore_high_quality_jpeg());
  EXPECT_EQ(o.metadata(), v1::METADATA_POLICY_KEEP);
  EXPECT_EQ(o.output_color(), v1::OUTPUT_COLOR_SRGB);
  EXPECT_EQ(r.id(), "a+b c");
  // Nothing given: nothing set.
  v1::RestoreRequest empty;
  ASSERT_TRUE(ParseRestoreQuery("", &empty).ok());
  ASSERT_TRUE(ParseRestoreQuery("&&", &empty).ok());
  EXPECT_FALSE(empty.options().has_seed());
  EXPECT_EQ(empty.options().mode(), v1::RESTORE_MODE_UNSPECIFIED);
}

TEST(HttpApiQueryTest, BadQueriesAreInvalidArgumentWithTheReason) {
  struct Case {
    const char* query;
    const char* reason;
  };
  const Case cases[] = {
      {"mode=sharp", "perceptual, fidelity"},
      {"mode=fidelity&mode=fidelity", "more than once"},
      {"tile_size=12x", "an integer"},
      {"tile_size=99999999999", "an integer"},
      {"seed=-1", "unsigned"},
      {"skip_jpeg_consistency=maybe", "true, false"},
      {"colour=1", "unknown query parameter 'colour'"},
      {"id=%4", "percent-escape"},
      {"id=%zz", "percent-escape"},
      {"%=1", "percent-escape"},
  };
  for (const Case& c : cases) {
    v1::RestoreRequest r;
    const absl::Status status = ParseRestoreQuery(c.query, &r);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << c.query;
    EXPECT_NE(status.message().find(c.reason), std::string::npos) << c.query << ": " << status;
  }
  // A huge value is not echoed whole.
  v1::RestoreRequest r;
  const absl::Status huge = ParseRestoreQuery("mode=" + std::string(100000, 'x'), &r);
  EXPECT_LT(huge.message().size(), 300u);
}

TEST(HttpApiStatusTest, GrpcCodesMapToGooglesHttpTable) {
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kOk), 200);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInvalidArgument), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kFailedPrecondition), 400);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnauthenticated), 401);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kPermissionDenied), 403);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kNotFound), 404);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kResourceExhausted), 429);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kCancelled), 499);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnimplemented), 501);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kUnavailable), 503);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDeadlineExceeded), 504);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kInternal), 500);
  EXPECT_EQ(HttpStatusFor(absl::StatusCode::kDataLoss), 500);
}

}  // namespace
}  // namespace codiff::server
