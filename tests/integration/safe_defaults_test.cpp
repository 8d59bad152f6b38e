// Start-up configuration. Secure defaults (docs/DESIGN.md "Secure defaults"): a perch started
// without a config file serves loopback only and says so first; a listener beyond loopback
// refuses clients without a user name unless the file allows them. `perch --test-config` names
// the file, line and key of a problem.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;
/// CONNACK return code 5 (3.1.1): not authorized.
constexpr std::uint8_t not_authorized = 5;

/// A perch started with `argv` (after the program) in a scratch directory, its output in a file;
/// stopped with SIGTERM when the object goes.
class started_perch {
public:
    explicit started_perch(const std::vector<std::string>& arguments) {
        std::vector<std::string> argv{PERCH_BROKER_PATH};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        log_path_ = directory_.path() / "perch.log";
        const auto previous = std::filesystem::current_path();
        // The default data_dir is ./data: the scratch directory, not the test's own.
        std::filesystem::current_path(directory_.path());
        process_ = std::make_unique<child_process>(argv, process_streams{{}, log_path_, log_path_});
        std::filesystem::current_path(previous);
    }
    ~started_perch() { process_->stop(5s); }
    started_perch(const started_perch&) = delete;
    started_perch& operator=(const started_perch&) = delete;

    const std::filesystem::path& directory() const { return directory_.path(); }
    pid_t pid() const { return process_->pid(); }
    /// Waits until the log holds `needle`.
    bool wait_for_log(std::string_view needle) { return wait_for_text(log_path_, needle, 10s); }
    std::string log() const { return read_file_text(log_path_); }

private:
    temporary_directory directory_;
    std::filesystem::path log_path_;
    std::unique_ptr<child_process> process_;
};

TEST(SafeDefaults, WithoutAConfigFileOnlyLoopbackIsServedAndTheFirstLineSaysSo) {
    const std::uint16_t port = free_loopback_port();
    started_perch broker({"-p", std::to_string(port)});
    const std::string listening = "listening for mqtt on 127.0.0.1:" + std::to_string(port);
    ASSERT_TRUE(broker.wait_for_log(listening)) << broker.log();
    const std::string log = broker.log();
    const std::string first_line = log.substr(0, log.find('\n'));
    EXPECT_NE(first_line.find("loopback only"), std::string::npos) << first_line;
    EXPECT_NE(log.find(listening + " with"), std::string::npos) << log;
    EXPECT_EQ(log.find("listening for mqtt on *"), std::string::npos) << log;
    // Anonymous clients are welcome on loopback.
    raw_mqtt_client client;
    EXPECT_TRUE(client.connect(port, "local", true, answer_timeout));
    client.disconnect();
}

// On its embedded defaults (the chat store in SQLite) perch never loads libpq, so neither it nor
// its dependencies (Kerberos, LDAP, GnuTLS, OpenSSL: about 5 MiB resident) take memory
// (docs/DECISIONS.md "libpq loaded on demand"; a PostgreSQL gateway loading it:
// PostgresGateways.AGatewayOnPostgresqlLoadsTheClientLibraryOnDemand).
TEST(SafeDefaults, AGatewayOnSqliteNeverLoadsThePostgresqlClientLibrary) {
    const std::uint16_t port = free_loopback_port();
    started_perch broker({"-p", std::to_string(port)});
    ASSERT_TRUE(broker.wait_for_log("listening for mqtt on 127.0.0.1:" + std::to_string(port)))
        << broker.log();
    raw_mqtt_client client;
    ASSERT_TRUE(client.connect(port, "local", true, answer_timeout));
    const std::string maps = read_file_text("/proc/" + std::to_string(broker.pid()) + "/maps");
    ASSERT_NE(maps.find("libsqlite3.so"), std::string::npos) << maps;
    EXPECT_EQ(maps.find("/libpq.so"), std::string::npos) << maps;
    client.disconnect();
}

TEST(SafeDefaults, AListenerBeyondLoopbackRefusesAnonymousClientsUnlessTheFileAllowsThem) {
    const std::uint16_t everywhere = free_loopback_port();
    const std::uint16_t loopback = free_loopback_port();
    temporary_directory scratch;
    const auto write_config = [&](const std::string& extra) {
        const auto path = scratch.path() / "perch.conf";
        write_file_text(path, "listener " + std::to_string(everywhere) + " 0.0.0.0\n" +
                                  "listener " + std::to_string(loopback) + " 127.0.0.1\n" +
                                  "data_dir " + (scratch.path() / "data").string() + "\n" + extra);
        return path.string();
    };
    {
        started_perch broker({"-c", write_config("")});
        ASSERT_TRUE(
            broker.wait_for_log("listening for mqtt on 127.0.0.1:" + std::to_string(loopback)))
            << broker.log();
        const std::string log = broker.log();
        const auto line_start = log.find("on 0.0.0.0:" + std::to_string(everywhere) + " with");
        ASSERT_NE(line_start, std::string::npos) << log;
        const std::string line = log.substr(line_start, log.find('\n', line_start) - line_start);
        EXPECT_TRUE(line.ends_with("clients must log in")) << line;
        raw_mqtt_client stranger;
        EXPECT_FALSE(stranger.connect(everywhere, "stranger", true, answer_timeout));
        EXPECT_EQ(stranger.connack_code(), not_authorized);
        raw_mqtt_client local;
        EXPECT_TRUE(local.connect(loopback, "local", true, answer_timeout));
        local.disconnect();
    }
    {
        started_perch broker({"-c", write_config("allow_anonymous true\n")});
        ASSERT_TRUE(
            broker.wait_for_log("listening for mqtt on 127.0.0.1:" + std::to_string(loopback)))
            << broker.log();
        raw_mqtt_client guest;
        EXPECT_TRUE(guest.connect(everywhere, "guest", true, answer_timeout));
        // No acl_file and a listener beyond loopback: anonymous clients get nothing outside
        // chat/ either (docs/ACCESS.md), on either listener.
        EXPECT_FALSE(guest.subscribe("home/#", 1, 1, answer_timeout));
        EXPECT_TRUE(guest.is_open());
        guest.disconnect();
        raw_mqtt_client local;
        EXPECT_TRUE(local.connect(loopback, "local", true, answer_timeout));
        EXPECT_FALSE(local.subscribe("#", 1, 1, answer_timeout));
        local.disconnect();
    }
}

TEST(SafeDefaults, AnHttpListenerBeyondLoopbackLeavesALoopbackBrokerOpen) {
    // The http listener serves metrics, not MQTT: it does not close the topics outside chat/ to
    // anonymous clients of a broker whose MQTT listeners are all loopback-only.
    const std::uint16_t mqtt_port = free_loopback_port();
    const std::uint16_t http_port = free_loopback_port();
    temporary_directory scratch;
    const auto path = scratch.path() / "perch.conf";
    write_file_text(path, "listener " + std::to_string(mqtt_port) + " 127.0.0.1\nlistener " +
                              std::to_string(http_port) + " 0.0.0.0\nprotocol http\ndata_dir " +
                              (scratch.path() / "data").string() + "\n");
    started_perch broker({"-c", path.string()});
    ASSERT_TRUE(broker.wait_for_log("listening for mqtt on 127.0.0.1:" + std::to_string(mqtt_port)))
        << broker.log();
    raw_mqtt_client local;
    ASSERT_TRUE(local.connect(mqtt_port, "local", true, answer_timeout));
    EXPECT_TRUE(local.subscribe("home/#", 1, 1, answer_timeout)) << broker.log();
    local.disconnect();
}

TEST(TestConfig, NamesTheFileLineAndKeyOfAProblemAndPassesAGoodFile) {
    temporary_directory scratch;
    const auto broken = scratch.path() / "broken.conf";
    write_file_text(broken, "# limits\nworkers 2\nmax_packet_size lots\n");
    const command_result refused =
        run_command({PERCH_BROKER_PATH, "--test-config", "-c", broken.string()}, "", 10s);
    EXPECT_FALSE(refused.ending.is_success());
    EXPECT_NE(refused.errors.find(broken.string() + ":3: max_packet_size"), std::string::npos)
        << refused.errors;

    const auto good = scratch.path() / "good.conf";
    write_file_text(good, "workers 2\nlistener 1883 127.0.0.1\n");
    const command_result accepted =
        run_command({PERCH_BROKER_PATH, "--test-config", "-c", good.string()}, "", 10s);
    EXPECT_TRUE(accepted.ending.is_success()) << accepted.errors;
    EXPECT_NE(accepted.output.find("configuration OK"), std::string::npos) << accepted.output;

    // A broken acl_file fails the check with its own file and line.
    const auto acl = scratch.path() / "perch.acl";
    write_file_text(acl, "topic read a/#\nuser alice\ntopic read a/#/b\n");
    const auto with_acl = scratch.path() / "with-acl.conf";
    write_file_text(with_acl, "listener 1883 127.0.0.1\nacl_file " + acl.string() + "\n");
    const command_result bad_acl =
        run_command({PERCH_BROKER_PATH, "--test-config", "-c", with_acl.string()}, "", 10s);
    EXPECT_FALSE(bad_acl.ending.is_success());
    EXPECT_NE(bad_acl.errors.find(acl.string() + ":3: topic"), std::string::npos) << bad_acl.errors;
}

} // namespace
} // namespace perch::integration
