// Reload (docs/DESIGN.md "Reload"): SIGHUP and `perch reload` apply a new configuration to new
// connections while live ones stay; new TLS handshakes get the new certificate; a broken file
// changes nothing; keys that need a restart are named; `perch reload` without a broker fails
// clearly; connection log lines carry their connection id, in text or JSON.
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "raw_mqtt_client.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;
constexpr auto command_timeout = 30s;
/// CONNACK return code 5 (3.1.1): not authorized.
constexpr std::uint8_t not_authorized = 5;

/// A perch started with `-c FILE` in a scratch directory (FILE rewritten by the test between
/// reloads), its output in a file; stopped with SIGTERM when the object goes, expecting a clean
/// exit.
class reloadable_perch {
public:
    /// `body(plain_port, tls_port)` is the config text after the listeners and data_dir.
    explicit reloadable_perch(const std::string& body, const std::string& tls_lines = {})
        : plain_port_(free_loopback_port()), tls_port_(free_loopback_port()) {
        tls_lines_ = tls_lines;
        write_config(body);
        log_path_ = directory_.path() / "perch.log";
        process_ = std::make_unique<child_process>(
            std::vector<std::string>{PERCH_BROKER_PATH, "-c", config_path().string()},
            process_streams{{}, log_path_, log_path_});
    }
    ~reloadable_perch() {
        const process_exit ending = stop();
        EXPECT_TRUE(ending.is_success()) << describe(ending) << "\n" << log();
    }
    /// Stops the broker with SIGTERM (SIGKILL after five seconds); later calls return the same
    /// ending.
    process_exit stop() {
        if (!ending_) {
            ending_ = process_->stop(5s);
        }
        return *ending_;
    }
    reloadable_perch(const reloadable_perch&) = delete;
    reloadable_perch& operator=(const reloadable_perch&) = delete;

    /// Replaces the config file: the same listeners, then `body`.
    void write_config(const std::string& body) {
        std::string text = "listener " + std::to_string(plain_port_) + " 127.0.0.1\n";
        if (!tls_lines_.empty()) {
            text += "listener " + std::to_string(tls_port_) + " 127.0.0.1\nprotocol mqtt_tls\n" +
                    tls_lines_;
        }
        text += "data_dir " + data_dir().string() + "\npersistence false\n" + body;
        write_file_text(config_path(), text);
    }
    /// As write_config, with `tls_lines` replacing the TLS listener's lines.
    void write_config(const std::string& body, const std::string& tls_lines) {
        tls_lines_ = tls_lines;
        write_config(body);
    }

    /// True once "perch VERSION running" was logged.
    bool is_ready() { return wait_for_log(" running"); }
    std::filesystem::path config_path() const { return directory_.path() / "perch.conf"; }
    std::filesystem::path data_dir() const { return directory_.path() / "data"; }
    const std::filesystem::path& directory() const { return directory_.path(); }
    std::uint16_t plain_port() const { return plain_port_; }
    std::uint16_t tls_port() const { return tls_port_; }
    void send_signal(int signal_number) { process_->send_signal(signal_number); }
    pid_t pid() const { return process_->pid(); }

    /// True once the log holds `needle` `count` times (bounded wait).
    bool wait_for_log(std::string_view needle, std::size_t count = 1) {
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            if (occurrences(needle) >= count) {
                return true;
            }
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }
    std::size_t occurrences(std::string_view needle) const {
        const std::string text = log();
        std::size_t found = 0;
        for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
            ++found;
        }
        return found;
    }
    std::string log() const { return read_file_text(log_path_); }

private:
    temporary_directory directory_;
    std::uint16_t plain_port_;
    std::uint16_t tls_port_;
    std::string tls_lines_;
    std::filesystem::path log_path_;
    std::unique_ptr<child_process> process_;
    std::optional<process_exit> ending_;
};

/// The line of `text` that holds `needle`, without its newline; empty when none does.
std::string line_with(const std::string& text, std::string_view needle) {
    const auto at = text.find(needle);
    if (at == std::string::npos) {
        return {};
    }
    const auto start = text.rfind('\n', at);
    const auto begin = start == std::string::npos ? 0 : start + 1;
    return text.substr(begin, text.find('\n', at) - begin);
}

/// `perch ARGS...` run to completion.
command_result run_perch(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), PERCH_BROKER_PATH);
    return run_command(arguments, {}, command_timeout);
}

TEST(Reload, SighupAppliesNewLimitsToNewConnectionsAndKeepsLiveOnes) {
    reloadable_perch broker("log_level info\n");
    ASSERT_TRUE(broker.is_ready()) << broker.log();
    raw_mqtt_client first;
    ASSERT_TRUE(first.connect(broker.plain_port(), "first", true, answer_timeout));
    ASSERT_TRUE(first.subscribe("news", 0, 1, answer_timeout));

    broker.write_config("log_level debug\nmax_connections 1\n");
    broker.send_signal(SIGHUP);
    ASSERT_TRUE(broker.wait_for_log("reload: log level debug")) << broker.log();

    // One connection open, the limit is now one: the next is refused before CONNECT.
    raw_mqtt_client second;
    EXPECT_FALSE(second.connect(broker.plain_port(), "second", true, answer_timeout));
    EXPECT_EQ(second.connack_code(), std::nullopt);
    EXPECT_TRUE(broker.wait_for_log("max_connections (1) reached")) << broker.log();
    // The live connection keeps working.
    EXPECT_TRUE(first.ping(answer_timeout));
    // Its slot is free once its end is logged; the next connection is then let in, and the new
    // level shows its debug line.
    first.disconnect();
    ASSERT_TRUE(broker.wait_for_log("disconnected: client sent DISCONNECT")) << broker.log();
    raw_mqtt_client third;
    EXPECT_TRUE(third.connect(broker.plain_port(), "third", true, answer_timeout));
    third.disconnect();
    EXPECT_TRUE(broker.wait_for_log("debug: [c")) << broker.log();
}

TEST(Reload, PerchReloadAppliesAllowAnonymousToNewConnections) {
    reloadable_perch broker("");
    ASSERT_TRUE(broker.is_ready()) << broker.log();
    raw_mqtt_client before;
    ASSERT_TRUE(before.connect(broker.plain_port(), "before", true, answer_timeout));

    broker.write_config("allow_anonymous false\n");
    const command_result reload = run_perch({"reload", "-c", broker.config_path().string()});
    ASSERT_TRUE(reload.ending.is_success()) << reload.errors;
    EXPECT_NE(reload.output.find("asked the broker"), std::string::npos) << reload.output;
    ASSERT_TRUE(broker.wait_for_log("reload: log level")) << broker.log();

    raw_mqtt_client after;
    EXPECT_FALSE(after.connect(broker.plain_port(), "after", true, answer_timeout));
    EXPECT_EQ(after.connack_code(), not_authorized);
    EXPECT_TRUE(before.ping(answer_timeout));
    before.disconnect();
}

TEST(Reload, BrokenFileChangesNothingAndNamesFileLineAndKey) {
    reloadable_perch broker("max_connections 0\n");
    ASSERT_TRUE(broker.is_ready()) << broker.log();
    // Line 5, after the listener, data_dir, persistence and allow_anonymous lines.
    broker.write_config("allow_anonymous false\nmax_connections lots\n");
    broker.send_signal(SIGHUP);
    const std::string expected =
        "reload failed, keeping the current configuration: " + broker.config_path().string() +
        ":5: max_connections:";
    ASSERT_TRUE(broker.wait_for_log(expected)) << broker.log();
    // allow_anonymous false came before the broken line, and was not applied either.
    raw_mqtt_client client;
    EXPECT_TRUE(client.connect(broker.plain_port(), "still-anonymous", true, answer_timeout));
    client.disconnect();
}

TEST(Reload, KeysThatNeedARestartAreNamedAndKept) {
    reloadable_perch broker("workers 1\n");
    ASSERT_TRUE(broker.is_ready()) << broker.log();
    broker.write_config("workers 2\ndata_dir /nonexistent\nsys_interval 1\n");
    broker.send_signal(SIGHUP);
    ASSERT_TRUE(broker.wait_for_log("reload: log level")) << broker.log();
    EXPECT_EQ(broker.occurrences("reload: 'workers' changes take effect after a restart"), 1U)
        << broker.log();
    EXPECT_EQ(broker.occurrences("reload: 'data_dir' changes take effect after a restart"), 1U)
        << broker.log();
    EXPECT_NE(broker.log().find("sys_interval 1s"), std::string::npos) << broker.log();
}

TEST(Reload, PerchReloadWithoutARunningBrokerFailsClearly) {
    temporary_directory scratch;
    const auto config = scratch.path() / "perch.conf";
    write_file_text(config, "data_dir " + (scratch.path() / "data").string() + "\n");
    const command_result missing = run_perch({"reload", "-c", config.string()});
    EXPECT_EQ(missing.ending.exit_code, 1);
    EXPECT_NE(missing.errors.find("no running broker found"), std::string::npos) << missing.errors;
    // A pid file left by a broker that was killed: stale, not signalled.
    std::filesystem::create_directories(scratch.path() / "data");
    write_file_text(scratch.path() / "data" / "perch.pid", std::to_string(::getpid()) + "\n");
    const command_result stale = run_perch({"reload", "-c", config.string()});
    EXPECT_EQ(stale.ending.exit_code, 1);
    EXPECT_NE(stale.errors.find("stale"), std::string::npos) << stale.errors;
    // A broken file is reported before any broker is looked for.
    write_file_text(config, "max_qos 7\n");
    const command_result broken = run_perch({"reload", "-c", config.string()});
    EXPECT_EQ(broken.ending.exit_code, 1);
    EXPECT_NE(broken.errors.find(config.string() + ":1: max_qos:"), std::string::npos)
        << broken.errors;
}

TEST(Reload, PidFileIsRemovedAtACleanStop) {
    reloadable_perch broker("");
    ASSERT_TRUE(broker.is_ready()) << broker.log();
    const auto pid_path = broker.data_dir() / "perch.pid";
    EXPECT_EQ(read_file_text(pid_path), std::to_string(broker.pid()) + "\n");
    EXPECT_TRUE(broker.stop().is_success()) << broker.log();
    EXPECT_FALSE(std::filesystem::exists(pid_path));
}

TEST(Reload, JsonLogLinesCarryTheConnectionIdAndClientId) {
    reloadable_perch broker("log_format json\n");
    ASSERT_TRUE(broker.is_ready()) << broker.log();
    raw_mqtt_client client;
    ASSERT_TRUE(client.connect(broker.plain_port(), "json-client", true, answer_timeout));
    client.disconnect();
    ASSERT_TRUE(broker.wait_for_log("client json-client (")) << broker.log();
    const std::string line = line_with(broker.log(), "\"message\":\"client json-client connected");
    ASSERT_FALSE(line.empty()) << broker.log();
    EXPECT_TRUE(line.starts_with("{\"time\":\"")) << line;
    EXPECT_NE(line.find("\"level\":\"info\",\"conn\":\"c"), std::string::npos) << line;
    EXPECT_NE(line.find("\"client_id\":\"json-client\""), std::string::npos) << line;
    EXPECT_NE(line.find("\"remote\":\"127.0.0.1:"), std::string::npos) << line;
    EXPECT_TRUE(line.ends_with("}")) << line;
    const auto conn_at = line.find("\"conn\":\"") + 8;
    const std::string conn = line.substr(conn_at, line.find('"', conn_at) - conn_at);
    // The disconnect line names the same connection and why it ended.
    ASSERT_TRUE(broker.wait_for_log("disconnected: client sent DISCONNECT")) << broker.log();
    const std::string gone = line_with(broker.log(), "disconnected: client sent DISCONNECT");
    EXPECT_NE(gone.find("\"conn\":\"" + conn + "\""), std::string::npos) << gone;

    // Back to text on reload: the id in brackets.
    broker.write_config("log_format text\n");
    broker.send_signal(SIGHUP);
    ASSERT_TRUE(broker.wait_for_log("reload: log level")) << broker.log();
    raw_mqtt_client again;
    ASSERT_TRUE(again.connect(broker.plain_port(), "text-client", true, answer_timeout));
    again.disconnect();
    ASSERT_TRUE(broker.wait_for_log("client text-client connected")) << broker.log();
    const std::string text_line = line_with(broker.log(), "client text-client connected");
    EXPECT_NE(text_line.find(" info: [c"), std::string::npos) << text_line;
    EXPECT_FALSE(text_line.starts_with("{")) << text_line;
}

// ---- TLS certificate swap -------------------------------------------------------------------

/// Makes NAME.key and NAME.pem (self-signed, CN=NAME) in `directory`.
void make_certificate(const std::filesystem::path& directory, const std::string& name) {
    const std::string base = (directory / name).string();
    const auto result = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + ".key",
                                     "-out", base + ".pem", "-days", "2", "-subj", "/CN=" + name},
                                    {}, command_timeout);
    ASSERT_TRUE(result.ending.is_success()) << result.errors;
}

/// An MQTT 3.1.1 client over TLS (OpenSSL, certificate not verified: the test reads it), with
/// blocking reads bounded by a socket timeout.
class tls_mqtt_client {
public:
    explicit tls_mqtt_client(std::uint16_t port) {
        context_ = SSL_CTX_new(TLS_client_method());
        descriptor_ = ::socket(AF_INET, SOCK_STREAM, 0);
        timeval timeout{5, 0};
        ::setsockopt(descriptor_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        ::setsockopt(descriptor_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(descriptor_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
            return;
        }
        session_ = SSL_new(context_);
        SSL_set_fd(session_, descriptor_);
        if (SSL_connect(session_) != 1) {
            return;
        }
        if (X509* peer = SSL_get1_peer_certificate(session_)) {
            char name[256] = {};
            X509_NAME_oneline(X509_get_subject_name(peer), name, sizeof(name));
            subject_ = name;
            X509_free(peer);
        }
        is_connected_ = true;
    }
    ~tls_mqtt_client() {
        if (session_ != nullptr) {
            SSL_free(session_);
        }
        if (descriptor_ >= 0) {
            ::close(descriptor_);
        }
        SSL_CTX_free(context_);
    }
    tls_mqtt_client(const tls_mqtt_client&) = delete;
    tls_mqtt_client& operator=(const tls_mqtt_client&) = delete;

    bool is_connected() const { return is_connected_; }
    /// The server certificate's subject, "/CN=name".
    const std::string& subject() const { return subject_; }

    /// CONNECT (clean session, keep alive 0) and its CONNACK; true when accepted.
    bool connect(const std::string& client_id) {
        std::vector<std::uint8_t> packet{0x10, 0, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 0};
        append_string(packet, client_id);
        packet[1] = static_cast<std::uint8_t>(packet.size() - 2);
        const auto answer = exchange(packet, 4);
        return answer.size() == 4 && answer[0] == 0x20 && answer[3] == 0;
    }
    /// SUBSCRIBE at QoS 0 and its SUBACK; true when granted.
    bool subscribe(const std::string& filter) {
        std::vector<std::uint8_t> packet{0x82, 0, 0, 1};
        append_string(packet, filter);
        packet.push_back(0);
        packet[1] = static_cast<std::uint8_t>(packet.size() - 2);
        const auto answer = exchange(packet, 5);
        return answer.size() == 5 && answer[0] == 0x90 && answer[4] == 0;
    }
    /// The payload of the next QoS 0 PUBLISH (short packets only), or nothing.
    std::optional<std::string> read_publish() {
        const auto header = read_exactly(2);
        if (header.size() != 2 || (header[0] & 0xF0) != 0x30 || header[1] > 127) {
            return std::nullopt;
        }
        const auto body = read_exactly(header[1]);
        if (body.size() != header[1] || body.size() < 2) {
            return std::nullopt;
        }
        const std::size_t topic_size = (std::size_t{body[0]} << 8) | body[1];
        return std::string(body.begin() + 2 + static_cast<std::ptrdiff_t>(topic_size), body.end());
    }

private:
    static void append_string(std::vector<std::uint8_t>& packet, const std::string& text) {
        packet.push_back(static_cast<std::uint8_t>(text.size() >> 8));
        packet.push_back(static_cast<std::uint8_t>(text.size() & 0xFF));
        packet.insert(packet.end(), text.begin(), text.end());
    }
    std::vector<std::uint8_t> exchange(const std::vector<std::uint8_t>& packet,
                                       std::size_t answer_size) {
        if (!is_connected_ ||
            SSL_write(session_, packet.data(), static_cast<int>(packet.size())) <= 0) {
            return {};
        }
        return read_exactly(answer_size);
    }
    std::vector<std::uint8_t> read_exactly(std::size_t size) {
        std::vector<std::uint8_t> bytes(size);
        std::size_t filled = 0;
        while (is_connected_ && filled < size) {
            const int count =
                SSL_read(session_, bytes.data() + filled, static_cast<int>(size - filled));
            if (count <= 0) {
                break;
            }
            filled += static_cast<std::size_t>(count);
        }
        bytes.resize(filled);
        return bytes;
    }

    SSL_CTX* context_ = nullptr;
    SSL* session_ = nullptr;
    int descriptor_ = -1;
    bool is_connected_ = false;
    std::string subject_;
};

TEST(Reload, NewTlsHandshakesGetTheNewCertificateWhileLiveConnectionsStay) {
    temporary_directory certificates;
    make_certificate(certificates.path(), "first");
    make_certificate(certificates.path(), "second");
    const auto tls_lines = [&](const std::string& name) {
        const std::string base = (certificates.path() / name).string();
        return "certfile " + base + ".pem\nkeyfile " + base + ".key\n";
    };
    reloadable_perch broker("", tls_lines("first"));
    ASSERT_TRUE(broker.is_ready()) << broker.log();

    tls_mqtt_client old_client(broker.tls_port());
    ASSERT_TRUE(old_client.is_connected());
    EXPECT_EQ(old_client.subject(), "/CN=first");
    ASSERT_TRUE(old_client.connect("old-tls"));
    ASSERT_TRUE(old_client.subscribe("alerts"));

    // A key that does not parse: logged, and the first certificate stays.
    write_file_text(certificates.path() / "broken.key", "not a key\n");
    broker.write_config("", "certfile " + (certificates.path() / "second.pem").string() +
                                "\nkeyfile " + (certificates.path() / "broken.key").string() +
                                "\n");
    broker.send_signal(SIGHUP);
    ASSERT_TRUE(broker.wait_for_log("reload: log level")) << broker.log();
    EXPECT_NE(broker.log().find("keeps its current certificate"), std::string::npos)
        << broker.log();
    {
        tls_mqtt_client still_first(broker.tls_port());
        ASSERT_TRUE(still_first.is_connected());
        EXPECT_EQ(still_first.subject(), "/CN=first");
    }

    broker.write_config("", tls_lines("second"));
    broker.send_signal(SIGHUP);
    ASSERT_TRUE(broker.wait_for_log("reload: log level", 2)) << broker.log();
    tls_mqtt_client new_client(broker.tls_port());
    ASSERT_TRUE(new_client.is_connected());
    EXPECT_EQ(new_client.subject(), "/CN=second");
    ASSERT_TRUE(new_client.connect("new-tls"));

    // The connection made under the first certificate still receives.
    raw_mqtt_client publisher;
    ASSERT_TRUE(publisher.connect(broker.plain_port(), "publisher", true, answer_timeout));
    ASSERT_TRUE(publisher.publish("alerts", "after the swap", 0, 0));
    EXPECT_EQ(old_client.read_publish(), "after the swap");
    publisher.disconnect();
}

TEST(TestConfigReload, NamesAMissingAclFileAndABrokenCertificate) {
    temporary_directory scratch;
    const auto config = scratch.path() / "perch.conf";
    write_file_text(config, "# rules\nacl_file " + (scratch.path() / "none.acl").string() + "\n");
    const command_result missing = run_perch({"--test-config", "-c", config.string()});
    EXPECT_EQ(missing.ending.exit_code, 1);
    EXPECT_NE(missing.errors.find(config.string() + ":2: acl_file:"), std::string::npos)
        << missing.errors;
    write_file_text(scratch.path() / "bad.pem", "not a certificate\n");
    write_file_text(config, "listener 18883 127.0.0.1\nprotocol mqtt_tls\ncertfile " +
                                (scratch.path() / "bad.pem").string() + "\nkeyfile " +
                                (scratch.path() / "bad.pem").string() + "\n");
    const command_result broken = run_perch({"--test-config", "-c", config.string()});
    EXPECT_EQ(broken.ending.exit_code, 1);
    EXPECT_NE(broken.errors.find(config.string() + ": listener 18883 (mqtt_tls):"),
              std::string::npos)
        << broken.errors;
    EXPECT_NE(broken.errors.find("bad.pem"), std::string::npos) << broken.errors;
}

} // namespace
} // namespace perch::integration
