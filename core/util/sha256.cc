#include "core/util/sha256.h"

#include <openssl/evp.h>

#include <cstdio>
#include <memory>
#include <vector>

#include "absl/strings/str_cat.h"

namespace codiff {

absl::StatusOr<std::string> Sha256OfFile(const std::string& path, int64_t* bytes) {
  std::unique_ptr<FILE, int (*)(FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!file) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) != 1) {
    return absl::InternalError("SHA-256 is unavailable");
  }
  std::vector<unsigned char> buffer(size_t{1} << 20);
  int64_t total = 0;
  while (true) {
    const size_t n = std::fread(buffer.data(), 1, buffer.size(), file.get());
    if (n > 0) {
      EVP_DigestUpdate(ctx.get(), buffer.data(), n);
      total += static_cast<int64_t>(n);
    }
    if (n < buffer.size()) {
      if (std::ferror(file.get())) return absl::DataLossError(absl::StrCat("read error: ", path));
      break;
    }
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &length);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i)
    absl::StrAppend(&hex, absl::Hex(digest[i], absl::kZeroPad2));
  if (bytes != nullptr) *bytes = total;
  return hex;
}

}  // namespace codiff
