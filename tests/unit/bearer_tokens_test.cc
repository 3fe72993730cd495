#include "server/bearer_tokens.h"

#include <gtest/gtest.h>

namespace codiff::server {
namespace {

TEST(BearerTokensTest, ParsesOneTokenPerLineSkippingBlanksAndComments) {
  auto tokens = BearerTokens::Parse("# ops\nalpha-1\r\n\n  beta.2  \n#gamma\n");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  EXPECT_EQ(tokens->size(), 2u);
  EXPECT_TRUE(tokens->Accepts("Bearer alpha-1"));
  EXPECT_TRUE(tokens->Accepts("bearer beta.2"));
  EXPECT_TRUE(tokens->Accepts("BEARER  beta.2"));
  EXPECT_FALSE(tokens->Accepts("Bearer gamma"));
  EXPECT_FALSE(tokens->Accepts("Bearer alpha-"));
  EXPECT_FALSE(tokens->Accepts("Bearer alpha-12"));
  EXPECT_FALSE(tokens->Accepts("Bearer "));
  EXPECT_FALSE(tokens->Accepts("alpha-1"));
  EXPECT_FALSE(tokens->Accepts("Basic alpha-1"));
  EXPECT_FALSE(tokens->Accepts(""));
}

TEST(BearerTokensTest, AFileWithoutATokenOrWithSpacesInsideIsRefused) {
  EXPECT_FALSE(BearerTokens::Parse("").ok());
  EXPECT_FALSE(BearerTokens::Parse("# only a comment\n\n").ok());
  EXPECT_FALSE(BearerTokens::Parse("two words\n").ok());
  EXPECT_FALSE(BearerTokens::Load("/nonexistent/tokens").ok());
}

TEST(BearerTokensTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", "secreT"));
  EXPECT_FALSE(ConstantTimeEquals("secretsecret", "secret"));  // repeats the expected one
  EXPECT_FALSE(ConstantTimeEquals("secre", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", ""));
}

}  // namespace
}  // namespace codiff::server
