#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "feitp/auth.hpp"

using feitp::hash_password;
using feitp::is_crypt_hash;
using feitp::verify_password;

class HashMethod : public ::testing::TestWithParam<const char*> {};

TEST_P(HashMethod, RoundTrip) {
  std::string h = hash_password("s3cret pass", GetParam());
  EXPECT_TRUE(is_crypt_hash(h)) << h;
  EXPECT_TRUE(verify_password("s3cret pass", h));
  EXPECT_FALSE(verify_password("s3cret pas", h));
  EXPECT_FALSE(verify_password("", h));
  // A fresh salt every time.
  EXPECT_NE(h, hash_password("s3cret pass", GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Methods, HashMethod, ::testing::Values("yescrypt", "sha512", "bcrypt"));

TEST(Password, Prefixes) {
  EXPECT_EQ(hash_password("x").rfind("$y$", 0), 0U);
  EXPECT_EQ(hash_password("x", "sha512").rfind("$6$", 0), 0U);
  EXPECT_EQ(hash_password("x", "bcrypt").rfind("$2b$", 0), 0U);
}

TEST(Password, UnknownMethodThrows) {
  EXPECT_THROW((void)hash_password("x", "md5"), std::invalid_argument);
  EXPECT_THROW((void)hash_password(std::string("a\0b", 3)), std::invalid_argument);
}

TEST(Password, IsCryptHash) {
  EXPECT_TRUE(is_crypt_hash("$y$j9T$1fSkS9N2wFNf6v90y3S9A0$k2aNBSTstvodkftafhq9ak.9Pb6ZtTaRHxPtajBD7S/"));
  EXPECT_FALSE(is_crypt_hash(""));
  EXPECT_FALSE(is_crypt_hash("secret"));
  EXPECT_FALSE(is_crypt_hash("gaxDyoamrjlO6"));                       // DES: legacy, refused
  EXPECT_FALSE(is_crypt_hash("$1$abcdefgh$0123456789abcdefghijkl"));  // MD5-crypt: refused
  EXPECT_FALSE(is_crypt_hash("$y$"));
  EXPECT_FALSE(is_crypt_hash("$y$j9T$abc$"));
  EXPECT_FALSE(is_crypt_hash("$6$salt$has space in it and more"));
  EXPECT_FALSE(is_crypt_hash("plain$y$j9T$1fSkS9N2wFNf6v90y3S9A0$k2aNBSTs"));
}

TEST(Password, VerifyRejectsPlaintextAndMalformed) {
  EXPECT_FALSE(verify_password("secret", "secret"));
  EXPECT_FALSE(verify_password("", ""));
  EXPECT_FALSE(verify_password("pw", "gaxDyoamrjlO6"));
  EXPECT_FALSE(verify_password("pw", "$y$j9T$"));
  EXPECT_FALSE(verify_password(std::string("pw\0x", 4),
                               "$y$j9T$1fSkS9N2wFNf6v90y3S9A0$k2aNBSTstvodkftafhq9ak.9Pb6ZtTaRHxPtajBD7S/"));
  EXPECT_TRUE(
      verify_password("pw", "$y$j9T$1fSkS9N2wFNf6v90y3S9A0$k2aNBSTstvodkftafhq9ak.9Pb6ZtTaRHxPtajBD7S/"));
}
