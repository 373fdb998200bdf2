#include "proto/command.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace feitp::proto;

TEST(ParseCommand, VerbAndArg) {
  auto c = parse_command("USER bob");
  EXPECT_EQ(c.verb, Verb::USER);
  EXPECT_EQ(c.name, "USER");
  EXPECT_EQ(c.arg, "bob");
}

TEST(ParseCommand, CaseInsensitive) {
  EXPECT_EQ(parse_command("retr x").verb, Verb::RETR);
  EXPECT_EQ(parse_command("Retr x").verb, Verb::RETR);
  auto c = parse_command("pWd");
  EXPECT_EQ(c.verb, Verb::PWD);
  EXPECT_EQ(c.name, "pWd");
  EXPECT_EQ(c.arg, "");
}

TEST(ParseCommand, ArgumentWithSpacesKept) {
  auto c = parse_command("STOR my file.txt  ");
  EXPECT_EQ(c.verb, Verb::STOR);
  EXPECT_EQ(c.arg, "my file.txt  ");
  c = parse_command("CWD  lead");
  EXPECT_EQ(c.verb, Verb::CWD);
  EXPECT_EQ(c.arg, " lead");
  c = parse_command("PASS ");
  EXPECT_EQ(c.verb, Verb::PASS);
  EXPECT_EQ(c.arg, "");
}

TEST(ParseCommand, DigitsInHashVerbs) {
  EXPECT_EQ(parse_command("XSHA1 f").verb, Verb::XSHA1);
  EXPECT_EQ(parse_command("xsha256 f").verb, Verb::XSHA256);
  EXPECT_EQ(parse_command("XSHA512 f").verb, Verb::XSHA512);
  EXPECT_EQ(parse_command("XSHA384 f").verb, Verb::unknown);
  EXPECT_EQ(parse_command("1USER x").verb, Verb::unknown);
  EXPECT_EQ(parse_command("US1R x").verb, Verb::unknown);
}

TEST(ParseCommand, Unknown) {
  auto c = parse_command("FOO bar");
  EXPECT_EQ(c.verb, Verb::unknown);
  EXPECT_EQ(c.name, "FOO");
  EXPECT_EQ(c.arg, "bar");
  EXPECT_EQ(parse_command("").verb, Verb::unknown);
  EXPECT_EQ(parse_command(" USER x").verb, Verb::unknown);
  EXPECT_EQ(parse_command("USERX").verb, Verb::unknown);
  EXPECT_EQ(parse_command("US").verb, Verb::unknown);
  EXPECT_EQ(parse_command("USER\tbob").verb, Verb::unknown);
  EXPECT_EQ(parse_command("NOOP\r").verb, Verb::unknown);
}

TEST(ParseCommand, OverlongVerb) {
  EXPECT_EQ(parse_command("ABCDEFGH x").verb, Verb::unknown);
  auto c = parse_command("ABCDEFGHIJKLMNOPQRSTUVWXYZ x");
  EXPECT_EQ(c.verb, Verb::unknown);
  EXPECT_EQ(c.name, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
  // A long verb whose first 8 letters spell a real one must not match.
  EXPECT_EQ(parse_command("USERUSERUSER").verb, Verb::unknown);
  EXPECT_EQ(parse_command("AAAAUSER").verb, Verb::unknown);
}

TEST(ParseCommand, NulRejected) {
  EXPECT_EQ(parse_command(std::string("RETR a\0b", 8)).verb, Verb::unknown);
  EXPECT_EQ(parse_command(std::string("NO\0OP", 5)).verb, Verb::unknown);
}

TEST(ParseCommand, HighBytesRejected) { EXPECT_EQ(parse_command("\xC3\xA9TR x").verb, Verb::unknown); }

TEST(ParseCommand, AllNamesRoundTrip) {
  for (int i = 1; i <= static_cast<int>(Verb::SMNT); ++i) {
    const auto v = static_cast<Verb>(i);
    const std::string name(verb_name(v));
    ASSERT_FALSE(name.empty()) << i;
    EXPECT_EQ(parse_command(name).verb, v) << name;
    std::string lower = name;
    for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    EXPECT_EQ(parse_command(lower + " arg").verb, v) << lower;
  }
  EXPECT_EQ(verb_name(Verb::unknown), "");
}

TEST(VerbInfo, LoginExemptions) {
  for (Verb v : {Verb::USER, Verb::PASS, Verb::QUIT, Verb::HOST, Verb::FEAT, Verb::SYST, Verb::HELP,
                 Verb::NOOP, Verb::AUTH, Verb::PBSZ, Verb::PROT, Verb::CCC, Verb::OPTS, Verb::CLNT,
                 Verb::LANG, Verb::ACCT, Verb::REIN}) {
    EXPECT_FALSE(verb_info(v).needs_login) << verb_name(v);
  }
  for (Verb v : {Verb::CWD, Verb::RETR, Verb::STOR, Verb::LIST, Verb::PASV, Verb::EPSV, Verb::PORT,
                 Verb::SIZE, Verb::MLSD, Verb::STAT, Verb::TYPE, Verb::SITE, Verb::ABOR, Verb::PWD}) {
    EXPECT_TRUE(verb_info(v).needs_login) << verb_name(v);
  }
}

TEST(VerbInfo, PermissionsAndArgs) {
  EXPECT_EQ(verb_info(Verb::CWD).permission, 'e');
  EXPECT_EQ(verb_info(Verb::CDUP).permission, 'e');
  EXPECT_EQ(verb_info(Verb::LIST).permission, 'l');
  EXPECT_EQ(verb_info(Verb::MLST).permission, 'l');
  EXPECT_EQ(verb_info(Verb::SIZE).permission, 'l');
  EXPECT_EQ(verb_info(Verb::RETR).permission, 'r');
  EXPECT_EQ(verb_info(Verb::APPE).permission, 'a');
  EXPECT_EQ(verb_info(Verb::DELE).permission, 'd');
  EXPECT_EQ(verb_info(Verb::RMD).permission, 'd');
  EXPECT_EQ(verb_info(Verb::RNFR).permission, 'f');
  EXPECT_EQ(verb_info(Verb::RNTO).permission, 'f');
  EXPECT_EQ(verb_info(Verb::MKD).permission, 'm');
  EXPECT_EQ(verb_info(Verb::STOR).permission, 'w');
  EXPECT_EQ(verb_info(Verb::STOU).permission, 'w');
  EXPECT_EQ(verb_info(Verb::MFMT).permission, 'T');
  EXPECT_EQ(verb_info(Verb::PWD).permission, 0);
  EXPECT_TRUE(verb_info(Verb::RETR).needs_arg);
  EXPECT_FALSE(verb_info(Verb::LIST).needs_arg);
  EXPECT_FALSE(verb_info(Verb::PASS).needs_arg);
  EXPECT_TRUE(verb_info(Verb::USER).needs_arg);
  EXPECT_FALSE(verb_info(Verb::unknown).needs_login);
  // Where the letter applies on a symlink: the name for what acts on the name, the whole tree
  // for what removes or moves a directory, the target for the rest.
  EXPECT_EQ(verb_info(Verb::MKD).reach, Reach::name);
  EXPECT_EQ(verb_info(Verb::DELE).reach, Reach::name);
  EXPECT_EQ(verb_info(Verb::MFMT).reach, Reach::name);
  EXPECT_EQ(verb_info(Verb::RMD).reach, Reach::tree);
  EXPECT_EQ(verb_info(Verb::RNFR).reach, Reach::tree);
  EXPECT_EQ(verb_info(Verb::RNTO).reach, Reach::tree);
  EXPECT_EQ(verb_info(Verb::RETR).reach, Reach::follow);
  EXPECT_EQ(verb_info(Verb::CWD).reach, Reach::follow);
}

TEST(VerbInfo, EveryLetteredVerbNamesAPathAndEveryPathHasALetter) {
  // The permission step (Session::target_of) checks the letter on the path the row names: a
  // letter without a path would never be checked, a path without a letter never guarded.
  for (int i = 1; verb_name(static_cast<Verb>(i)) != ""; ++i) {
    const auto v = static_cast<Verb>(i);
    EXPECT_EQ(verb_info(v).permission != 0, verb_info(v).path != PathArg::none) << verb_name(v);
  }
}

TEST(PathText, TakesThePathFromTheArgumentAsTheRowSays) {
  EXPECT_EQ(path_text(Verb::RETR, "a b.txt"), "a b.txt");
  EXPECT_EQ(path_text(Verb::CWD, "/x"), "/x");
  EXPECT_EQ(path_text(Verb::CDUP, ""), "..");
  EXPECT_EQ(path_text(Verb::XCUP, "ignored"), "..");
  EXPECT_EQ(path_text(Verb::MLSD, ""), ".");
  EXPECT_EQ(path_text(Verb::MLST, "f"), "f");
  EXPECT_EQ(path_text(Verb::LIST, ""), ".");
  EXPECT_EQ(path_text(Verb::LIST, "-la"), ".");
  EXPECT_EQ(path_text(Verb::LIST, "-la dir"), "dir");
  EXPECT_EQ(path_text(Verb::NLST, "-- -odd"), "-odd");
  EXPECT_EQ(path_text(Verb::STAT, ""), std::nullopt);  // the server's status, no path
  EXPECT_EQ(path_text(Verb::STAT, "-l"), ".");
  EXPECT_EQ(path_text(Verb::STAT, "dir"), "dir");
  EXPECT_EQ(path_text(Verb::MFMT, "20200102030405 dir/f"), "dir/f");
  EXPECT_EQ(path_text(Verb::MFMT, "2020 f"), std::nullopt);  // bad time: the handler says 501
  EXPECT_EQ(path_text(Verb::STOU, ""), "file");
  EXPECT_EQ(path_text(Verb::STOU, "hint"), "hint");
  EXPECT_EQ(path_text(Verb::XSHA256, "f"), "f");
  EXPECT_EQ(path_text(Verb::PWD, ""), std::nullopt);
  EXPECT_EQ(path_text(Verb::SITE, "CHMOD 644 f"), std::nullopt);  // SITE checks its own
  EXPECT_EQ(path_text(Verb::SMNT, "/mnt"), std::nullopt);
  EXPECT_EQ(path_text(Verb::unknown, "x"), std::nullopt);
}

TEST(HelpText, ListsTheTableRowsMarkedForHelpInOrder) {
  // Made from the command table: alphabetical, 13 to a line; the security-mechanism verbs
  // (ADAT, MIC, CONF, ENC), LANG, PRET, SMNT and the X* digests are not listed.
  EXPECT_EQ(help_text(true),
            "ABOR ACCT ALLO APPE AUTH CCC CDUP CLNT CWD DELE EPRT EPSV FEAT\n"
            "HASH HELP HOST LIST MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS\n"
            "PASS PASV PBSZ PORT PROT PWD QUIT REIN REST RETR RMD RNFR RNTO\n"
            "SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD\n"
            "XRMD\n");
}

TEST(HelpText, WithoutTlsTheRfc4217CommandsAreNotListed) {
  EXPECT_EQ(help_text(false),
            "ABOR ACCT ALLO APPE CDUP CLNT CWD DELE EPRT EPSV FEAT HASH HELP\n"
            "HOST LIST MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV\n"
            "PORT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE SIZE STAT STOR\n"
            "STOU STRU SYST TYPE USER XCUP XCWD XMKD XPWD XRMD\n");
  for (Verb v : {Verb::AUTH, Verb::PBSZ, Verb::PROT, Verb::CCC}) EXPECT_TRUE(needs_tls(v));
  EXPECT_FALSE(needs_tls(Verb::RETR));
  EXPECT_TRUE(listed_by_help(Verb::AUTH, true));
  EXPECT_FALSE(listed_by_help(Verb::AUTH, false));
  EXPECT_FALSE(listed_by_help(Verb::CCC, false));
  EXPECT_TRUE(listed_by_help(Verb::RETR, false));
  EXPECT_FALSE(listed_by_help(Verb::LANG, true));
  EXPECT_FALSE(listed_by_help(Verb::unknown, true));
}
