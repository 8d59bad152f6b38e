// Tests of the `perch` command line parser.
#include <array>
#include <string_view>

#include <gtest/gtest.h>

#include "gateway/program/cli.hpp"

namespace perch::gateway {
namespace {

template <std::size_t Count>
std::variant<cli_options, cli_error> parse(const std::array<std::string_view, Count>& args) {
    return parse_command_line(std::span<const std::string_view>(args));
}

TEST(CommandLine, EmptyCommandLineUsesDefaults) {
    const auto result = parse_command_line({});
    ASSERT_TRUE(std::holds_alternative<cli_options>(result));
    EXPECT_EQ(std::get<cli_options>(result), cli_options{});
}

TEST(CommandLine, CheckAsksTheRunningBroker) {
    const auto result = parse(std::array<std::string_view, 3>{"--check", "-p", "1884"});
    ASSERT_TRUE(std::holds_alternative<cli_options>(result));
    const auto& options = std::get<cli_options>(result);
    EXPECT_TRUE(options.wants_check);
    EXPECT_EQ(options.port, 1884);
}

TEST(CommandLine, TestConfigChecksTheGivenFile) {
    const auto result =
        parse(std::array<std::string_view, 3>{"--test-config", "-c", "/etc/perch.conf"});
    ASSERT_TRUE(std::holds_alternative<cli_options>(result));
    EXPECT_TRUE(std::get<cli_options>(result).wants_config_test);
    const auto without_file = parse(std::array<std::string_view, 1>{"--test-config"});
    ASSERT_TRUE(std::holds_alternative<cli_error>(without_file));
    EXPECT_NE(std::get<cli_error>(without_file).message.find("-c FILE"), std::string::npos);
}

TEST(CommandLine, ReadsConfigFilePortAndVerbose) {
    const auto result =
        parse(std::array<std::string_view, 5>{"-c", "/etc/perch.conf", "-p", "18883", "-v"});
    ASSERT_TRUE(std::holds_alternative<cli_options>(result));
    const auto& options = std::get<cli_options>(result);
    EXPECT_EQ(options.config_path, "/etc/perch.conf");
    EXPECT_EQ(options.port, 18883);
    EXPECT_TRUE(options.is_verbose);
    EXPECT_FALSE(options.wants_help);
}

TEST(CommandLine, AcceptsLongOptionNames) {
    const auto result = parse(std::array<std::string_view, 6>{"--config-file", "a.conf", "--port",
                                                              "1884", "--verbose", "--version"});
    ASSERT_TRUE(std::holds_alternative<cli_options>(result));
    const auto& options = std::get<cli_options>(result);
    EXPECT_EQ(options.config_path, "a.conf");
    EXPECT_EQ(options.port, 1884);
    EXPECT_TRUE(options.is_verbose);
    EXPECT_TRUE(options.wants_version);
}

TEST(CommandLine, HelpIsRecognised) {
    const auto result = parse(std::array<std::string_view, 1>{"--help"});
    ASSERT_TRUE(std::holds_alternative<cli_options>(result));
    EXPECT_TRUE(std::get<cli_options>(result).wants_help);
    const auto short_result = parse(std::array<std::string_view, 1>{"-h"});
    ASSERT_TRUE(std::holds_alternative<cli_options>(short_result));
    EXPECT_TRUE(std::get<cli_options>(short_result).wants_help);
}

TEST(CommandLine, RejectsMissingValue) {
    const auto result = parse(std::array<std::string_view, 1>{"-p"});
    ASSERT_TRUE(std::holds_alternative<cli_error>(result));
    EXPECT_NE(std::get<cli_error>(result).message.find("-p"), std::string::npos);
}

TEST(CommandLine, RejectsPortOutOfRange) {
    for (const std::string_view bad : {"65536", "-1", "12ab", "", "99999999999"}) {
        const auto result = parse(std::array<std::string_view, 2>{"-p", bad});
        EXPECT_TRUE(std::holds_alternative<cli_error>(result)) << bad;
    }
}

TEST(CommandLine, RejectsUnknownOption) {
    const auto result = parse(std::array<std::string_view, 1>{"--frobnicate"});
    ASSERT_TRUE(std::holds_alternative<cli_error>(result));
    EXPECT_NE(std::get<cli_error>(result).message.find("--frobnicate"), std::string::npos);
}

TEST(CommandLine, UsageNamesEveryOption) {
    const std::string text = usage_text("perch");
    for (const std::string_view option : {"-c", "-p", "-v", "--help", "--version"}) {
        EXPECT_NE(text.find(option), std::string::npos) << option;
    }
}

TEST(CommandLine, UsageTellsHowToServeMetrics) {
    const std::string text = usage_text("perch");
    EXPECT_NE(text.find("protocol http"), std::string::npos);
    EXPECT_NE(text.find("/metrics"), std::string::npos);
    EXPECT_NE(text.find("/healthz"), std::string::npos);
}

// `perch -c FILE room create lobby` as docs/ASSISTANT.md writes it: the options before the
// subcommand are skipped with their values, so the command reaches the administration parser.
TEST(CommandLine, FindsSubcommandAfterOptions) {
    const std::array<std::string_view, 5> before{"-c", "/etc/perch/perch.conf", "room", "create",
                                                 "lobby"};
    EXPECT_EQ(find_subcommand(before), 2U);
    const std::array<std::string_view, 5> after{"room", "create", "lobby", "-c", "perch.conf"};
    EXPECT_EQ(find_subcommand(after), 0U);
    const std::array<std::string_view, 4> data_dir{"--data-dir", "user", "user", "list"};
    EXPECT_EQ(find_subcommand(data_dir), 2U);
    // The administration options' values are skipped too (a user named "room" included).
    for (const std::string_view option : {"--owner", "--user", "--for", "--reason"}) {
        const std::array<std::string_view, 5> valued{option, "room", "room", "create", "lobby"};
        EXPECT_EQ(find_subcommand(valued), 2U) << option;
    }
}

TEST(CommandLine, FindsNoSubcommandAmongOptions) {
    const std::array<std::string_view, 5> options{"-c", "perch.conf", "-p", "1884", "-v"};
    EXPECT_EQ(find_subcommand(options), std::nullopt);
    EXPECT_EQ(find_subcommand({}), std::nullopt);
}

} // namespace
} // namespace perch::gateway
