// Tests of the config file parser: values, defaults, listeners and the one-line errors.
#include <cstdio>
#include <fstream>
#include <sstream>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/common/config.hpp"

namespace perch::gateway {
namespace {

std::string error_of(std::string_view text) {
    try {
        parse_config(text, "test.conf");
    } catch (const config_error& error) {
        return error.what();
    }
    return "";
}

listener_config make_listener(listener_kind kind, std::uint16_t port, std::string bind_address) {
    listener_config listener;
    listener.kind = kind;
    listener.port = port;
    listener.bind_address = std::move(bind_address);
    return listener;
}

TEST(Config, EmptyTextGivesDefaults) {
    const broker_config config = parse_config("", "test.conf");
    ASSERT_EQ(config.listeners.size(), 4U);
    EXPECT_EQ(config.listeners[0].port, 1883);
    EXPECT_EQ(config.listeners[0].kind, listener_kind::mqtt);
    EXPECT_EQ(config.listeners[1].port, 8883);
    EXPECT_EQ(config.listeners[1].kind, listener_kind::mqtt_tls);
    EXPECT_EQ(config.listeners[2].port, 8083);
    EXPECT_EQ(config.listeners[2].kind, listener_kind::websocket);
    EXPECT_EQ(config.listeners[3].port, 8084);
    EXPECT_EQ(config.listeners[3].kind, listener_kind::websocket_tls);
    EXPECT_EQ(config.sys_interval_seconds, 10U);
    EXPECT_FALSE(config.allow_anonymous.has_value());
    EXPECT_TRUE(config.retain_available);
    EXPECT_EQ(config.log_threshold, log_level::info);
}

TEST(Config, TheDefaultListenersServeLoopbackOnlyAndLetAnonymousClientsIn) {
    // docs/DESIGN.md "Secure defaults", as Mosquitto 2: a perch nobody configured is reachable
    // from this machine only.
    const broker_config config;
    for (const listener_config& listener : config.listeners) {
        EXPECT_EQ(listener.bind_address, "127.0.0.1") << listener.port;
        EXPECT_TRUE(is_loopback_only(listener));
        EXPECT_TRUE(allows_anonymous(config, listener)) << listener.port;
    }
    broker_config only_port;
    use_only_mqtt_port(only_port, 18830);
    ASSERT_EQ(only_port.listeners.size(), 1U);
    EXPECT_TRUE(is_loopback_only(only_port.listeners[0]));
}

TEST(Config, AListenerBeyondLoopbackRefusesAnonymousClientsUnlessAllowed) {
    const broker_config config = parse_config("listener 1883 0.0.0.0\n"
                                              "listener 1884\n"
                                              "listener 1885 127.0.0.1\n"
                                              "listener 1886 ::1\n"
                                              "listener 1887 localhost\n"
                                              "listener 1888 192.168.1.10\n",
                                              "t.conf");
    const std::vector<bool> expected{false, false, true, true, true, false};
    ASSERT_EQ(config.listeners.size(), expected.size());
    for (std::size_t index = 0; index < expected.size(); ++index) {
        EXPECT_EQ(allows_anonymous(config, config.listeners[index]), expected[index])
            << config.listeners[index].port;
    }
    // Set, the key decides for every listener.
    const broker_config open = parse_config("listener 1883 0.0.0.0\nallow_anonymous true\n", "t");
    EXPECT_TRUE(allows_anonymous(open, open.listeners[0]));
    const broker_config closed =
        parse_config("listener 1883 127.0.0.1\nallow_anonymous false\n", "t");
    EXPECT_FALSE(allows_anonymous(closed, closed.listeners[0]));
}

TEST(Config, OverloadLimitsHaveSafeDefaults) {
    // DESIGN.md "Overload": a chat server's largest packet, a small first packet before login,
    // and a bounded stored queue per session.
    const broker_config config = parse_config("", "test.conf");
    EXPECT_EQ(config.max_packet_size, 1024U * 1024);
    EXPECT_EQ(config.max_connect_packet_size, 16U * 1024);
    EXPECT_EQ(config.max_stored_messages, 10'000U);
    EXPECT_EQ(config.max_stored_bytes, 16U * 1024 * 1024);
    const broker_config changed = parse_config("max_connect_packet_size 8192\n", "test.conf");
    EXPECT_EQ(changed.max_connect_packet_size, 8192U);
    EXPECT_THROW(parse_config("max_connect_packet_size 10\n", "test.conf"), config_error);
}

TEST(Config, ReadsEveryKindOfValueAndIgnoresComments) {
    const broker_config config = parse_config("# a comment\n"
                                              "\n"
                                              "   # indented comment\n"
                                              "workers 3\n"
                                              "max_connections\t500\n"
                                              "max_packet_size 65536\r\n"
                                              "receive_maximum 100\n"
                                              "max_inflight_messages 20\n"
                                              "max_queued_messages 50\n"
                                              "max_queued_bytes 1000000\n"
                                              "max_output_bytes 65536\n"
                                              "topic_alias_maximum 0\n"
                                              "server_keep_alive 120\n"
                                              "max_qos 1\n"
                                              "retain_available false\n"
                                              "allow_anonymous false\n"
                                              "max_session_expiry_seconds 3600\n"
                                              "sys_interval 0\n"
                                              "connect_timeout 5\n"
                                              "log_level debug\n"
                                              "persistence true\n"
                                              "data_dir /tmp/perch-data\n"
                                              "durability batched\n",
                                              "test.conf");
    EXPECT_EQ(config.workers, 3U);
    EXPECT_EQ(config.max_connections, 500U);
    EXPECT_EQ(config.max_packet_size, 65536U);
    EXPECT_EQ(config.receive_maximum, 100);
    EXPECT_EQ(config.max_inflight_messages, 20);
    EXPECT_EQ(config.max_queued_messages, 50U);
    EXPECT_EQ(config.max_queued_bytes, 1000000U);
    EXPECT_EQ(config.max_output_bytes, 65536U);
    EXPECT_EQ(config.topic_alias_maximum, 0);
    EXPECT_EQ(config.server_keep_alive_seconds, 120);
    EXPECT_EQ(config.max_qos, 1);
    EXPECT_FALSE(config.retain_available);
    EXPECT_EQ(config.allow_anonymous, false);
    EXPECT_EQ(config.max_session_expiry_seconds, 3600U);
    EXPECT_EQ(config.sys_interval_seconds, 0U);
    EXPECT_EQ(config.connect_timeout_seconds, 5U);
    EXPECT_EQ(config.log_threshold, log_level::debug);
    EXPECT_TRUE(config.persistence);
    EXPECT_EQ(config.data_dir, "/tmp/perch-data");
    EXPECT_EQ(config.durability, durability_mode::batched);
}

TEST(Config, StoreKeysAreReadAndDefaultToAPersistentFullStore) {
    const broker_config defaults = parse_config("", "test.conf");
    EXPECT_TRUE(defaults.persistence);
    EXPECT_EQ(defaults.data_dir, "./data");
    EXPECT_EQ(defaults.durability, durability_mode::full);
    EXPECT_EQ(defaults.commit_interval_ms, 5U);
    EXPECT_EQ(defaults.max_batch_operations, 4096U);
    EXPECT_EQ(defaults.chat_commit_interval_ms, 100U);
    const broker_config config = parse_config("commit_interval_ms 20\n"
                                              "chat_commit_interval_ms 250\n"
                                              "max_batch_operations 100\n"
                                              "max_stored_messages 7\n"
                                              "max_stored_bytes 4096\n"
                                              "max_database_bytes 1048576\n",
                                              "test.conf");
    EXPECT_EQ(config.commit_interval_ms, 20U);
    EXPECT_EQ(config.chat_commit_interval_ms, 250U);
    EXPECT_EQ(config.max_batch_operations, 100U);
    EXPECT_EQ(config.max_stored_messages, 7U);
    EXPECT_EQ(config.max_stored_bytes, 4096U);
    EXPECT_EQ(config.max_database_bytes, 1048576U);
    EXPECT_THROW(parse_config("max_batch_operations 0\n", "test.conf"), config_error);
}

TEST(Config, ChatStoreKeysChooseTheBackendAndKeepTheConnectionStringWhole) {
    const broker_config defaults = parse_config("", "test.conf");
    EXPECT_EQ(defaults.chat_store, chat_store_kind::sqlite);
    EXPECT_EQ(defaults.postgresql_conninfo, "");
    const broker_config config =
        parse_config("chat_store postgresql\n"
                     "postgresql_conninfo \"host=db.lan dbname=perch  password=a b\"\n",
                     "test.conf");
    EXPECT_EQ(config.chat_store, chat_store_kind::postgresql);
    EXPECT_EQ(config.postgresql_conninfo, "host=db.lan dbname=perch  password=a b");
    EXPECT_EQ(parse_config("postgresql_conninfo postgresql://perch@db/perch\n", "test.conf")
                  .postgresql_conninfo,
              "postgresql://perch@db/perch");
    EXPECT_EQ(parse_config("chat_store sqlite\n", "test.conf").chat_store, chat_store_kind::sqlite);
    EXPECT_NE(error_of("chat_store mysql\n"), "");
    EXPECT_NE(error_of("postgresql_conninfo\n"), "");
    EXPECT_EQ(keys_needing_restart(defaults, config),
              (std::vector<std::string>{"chat_store", "postgresql_conninfo"}));
}

TEST(Config, PasswordIterationsDefaultToACurrentWorkFactor) {
    EXPECT_EQ(parse_config("", "test.conf").password_iterations, default_password_iterations);
    EXPECT_GE(default_password_iterations, 100'000U);
    EXPECT_EQ(parse_config("password_iterations 600000\n", "test.conf").password_iterations,
              600'000U);
    EXPECT_NE(error_of("password_iterations 0\n"), "");
    EXPECT_NE(error_of("password_iterations many\n"), "");
}

TEST(Config, LoginBackoffKeysHaveDefaultsAndBounds) {
    const broker_config defaults = parse_config("", "test.conf");
    EXPECT_EQ(defaults.login_backoff_user_failures, 3U);
    EXPECT_EQ(defaults.login_backoff_address_failures, 10U);
    EXPECT_EQ(defaults.login_backoff_initial_ms, 1000U);
    EXPECT_EQ(defaults.login_backoff_max_seconds, 60U);
    const broker_config config = parse_config("login_backoff_user_failures 0\n"
                                              "login_backoff_address_failures 50\n"
                                              "login_backoff_initial_ms 250\n"
                                              "login_backoff_max_seconds 300\n",
                                              "test.conf");
    EXPECT_EQ(config.login_backoff_user_failures, 0U);
    EXPECT_EQ(config.login_backoff_address_failures, 50U);
    EXPECT_EQ(config.login_backoff_initial_ms, 250U);
    EXPECT_EQ(config.login_backoff_max_seconds, 300U);
    EXPECT_NE(error_of("login_backoff_max_seconds 0\n"), "");
    EXPECT_NE(error_of("login_backoff_user_failures -1\n"), "");
}

TEST(Config, LaterLineOverridesEarlierLine) {
    EXPECT_EQ(parse_config("workers 2\nworkers 4\n", "test.conf").workers, 4U);
}

TEST(Config, PortAndBindAddressSetTheDefaultListener) {
    const broker_config config = parse_config("port 18830\nbind_address 127.0.0.1\n", "t.conf");
    ASSERT_EQ(config.listeners.size(), 4U);
    EXPECT_EQ(config.listeners[0].port, 18830);
    EXPECT_EQ(config.listeners[0].bind_address, "127.0.0.1");
}

TEST(Config, ListenerLinesReplaceTheDefaultListener) {
    const broker_config config = parse_config("listener 18831\n"
                                              "listener 18084 ::1\n"
                                              "protocol websockets\n"
                                              "listener 18090\n"
                                              "protocol http\n",
                                              "t.conf");
    ASSERT_EQ(config.listeners.size(), 3U);
    EXPECT_EQ(config.listeners[0], make_listener(listener_kind::mqtt, 18831, ""));
    EXPECT_EQ(config.listeners[1], make_listener(listener_kind::websocket, 18084, "::1"));
    EXPECT_EQ(config.listeners[2], make_listener(listener_kind::http, 18090, ""));
}

TEST(Config, ListenerAfterPortKeepsTheDefaultListener) {
    const broker_config config = parse_config("port 18832\nlistener 18833\n", "t.conf");
    ASSERT_EQ(config.listeners.size(), 2U);
    EXPECT_EQ(config.listeners[0].port, 18832);
    EXPECT_EQ(config.listeners[1].port, 18833);
}

TEST(Config, TwoListenersOnOnePortAreRefused) {
    EXPECT_EQ(error_of("listener 18833 127.0.0.1\nlistener 18833 127.0.0.1\nprotocol websocket\n"),
              "test.conf:2: listener: port 18833 is already taken by another listener");
    // Every interface overlaps any one address; the kept default listener counts too.
    EXPECT_NE(error_of("listener 18833\nlistener 18833 127.0.0.1\n"), "");
    EXPECT_NE(error_of("port 18832\nlistener 18832 127.0.0.1\n"), "");
    // Two addresses, or two ports, are two listeners.
    EXPECT_EQ(error_of("listener 18833 127.0.0.1\nlistener 18833 127.0.0.2\n"), "");
    EXPECT_EQ(error_of("listener 18833\nlistener 18834\n"), "");
}

TEST(Config, UnknownKeyNamesFileLineAndKey) {
    EXPECT_EQ(error_of("workers 2\n\nmax_conections 10\n"),
              "test.conf:3: max_conections: unknown key");
}

TEST(Config, BadValuesNameFileLineAndKey) {
    EXPECT_EQ(error_of("workers many\n"), "test.conf:1: workers: expected a whole number, got "
                                          "'many'");
    EXPECT_EQ(error_of("max_qos 3\n"), "test.conf:1: max_qos: 3 is out of range 0..2");
    EXPECT_EQ(error_of("port 70000\n"), "test.conf:1: port: 70000 is out of range 0..65535");
    EXPECT_EQ(error_of("retain_available yes\n"),
              "test.conf:1: retain_available: expected true or false, got 'yes'");
    EXPECT_EQ(error_of("# c\nsys_interval\n"), "test.conf:2: sys_interval: expected one value, "
                                               "got 0");
    EXPECT_EQ(error_of("log_level 1 2\n"), "test.conf:1: log_level: expected one value, got 2");
    EXPECT_EQ(error_of("log_level loud\n"),
              "test.conf:1: log_level: unknown level 'loud' (error, warning, notice, info, "
              "debug)");
    EXPECT_EQ(error_of("listener\n"), "test.conf:1: listener: expected PORT [BIND_ADDRESS]");
    EXPECT_EQ(error_of("protocol carrier-pigeon\n").substr(0, 61),
              "test.conf:1: protocol: unknown listener kind 'carrier-pigeon'");
    EXPECT_EQ(error_of("receive_maximum 0\n"),
              "test.conf:1: receive_maximum: 0 is out of range 1..65535");
}

TEST(Config, OutboundTopicAliasesAreFewByDefaultAndBounded) {
    // DECISIONS.md "Outbound topic aliases": a small table per connection, scanned per PUBLISH.
    EXPECT_EQ(parse_config("", "test.conf").outbound_topic_alias_maximum, 16);
    EXPECT_EQ(
        parse_config("outbound_topic_alias_maximum 0\n", "test.conf").outbound_topic_alias_maximum,
        0);
    EXPECT_EQ(parse_config("outbound_topic_alias_maximum 256\n", "test.conf")
                  .outbound_topic_alias_maximum,
              256);
    EXPECT_EQ(error_of("outbound_topic_alias_maximum 257\n"),
              "test.conf:1: outbound_topic_alias_maximum: 257 is out of range 0..256");
}

TEST(Config, OverridePortChangesTheFirstMqttListener) {
    broker_config config = parse_config("listener 18090\nprotocol http\nlistener 18834\n", "t");
    override_mqtt_port(config, 18835);
    ASSERT_EQ(config.listeners.size(), 2U);
    EXPECT_EQ(config.listeners[0].port, 18090);
    EXPECT_EQ(config.listeners[1].port, 18835);

    broker_config http_only = parse_config("listener 18090\nprotocol http\n", "t");
    override_mqtt_port(http_only, 18836);
    ASSERT_EQ(http_only.listeners.size(), 2U);
    // A listener only the command line names serves loopback, like the default ones.
    EXPECT_EQ(http_only.listeners[0], make_listener(listener_kind::mqtt, 18836, "127.0.0.1"));
}

TEST(Config, LoadsFileAndReportsMissingFile) {
    const std::string path = ::testing::TempDir() + "perch_config_test.conf";
    {
        std::ofstream file(path);
        file << "workers 2\nbogus 1\n";
    }
    try {
        load_config_file(path);
        FAIL() << "expected config_error";
    } catch (const config_error& error) {
        EXPECT_EQ(error.source_name(), path);
        EXPECT_EQ(error.line_number(), 2U);
        EXPECT_EQ(error.key(), "bogus");
    }
    std::remove(path.c_str());
    EXPECT_THROW(load_config_file(path), config_error);
}

std::string read_shipped_config() {
    std::ifstream file(PERCH_SHIPPED_CONFIG);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

TEST(Config, TlsKeysSetTheLatestListener) {
    const broker_config config = parse_config("listener 1883\nlistener 8883\nprotocol mqtt_tls\n"
                                              "certfile /c.pem\nkeyfile /k.pem\ncafile /ca.pem\n"
                                              "require_certificate true\n"
                                              "use_identity_as_username true\n",
                                              "t.conf");
    ASSERT_EQ(config.listeners.size(), 2U);
    EXPECT_TRUE(config.listeners[0].certfile.empty());
    EXPECT_FALSE(config.listeners[0].require_certificate);
    EXPECT_EQ(config.listeners[1].certfile, "/c.pem");
    EXPECT_EQ(config.listeners[1].keyfile, "/k.pem");
    EXPECT_EQ(config.listeners[1].cafile, "/ca.pem");
    EXPECT_TRUE(config.listeners[1].require_certificate);
    EXPECT_TRUE(config.listeners[1].use_identity_as_username);
}

TEST(Config, TlsKeysBeforeAnyListenerSetEveryDefaultListener) {
    const broker_config config = parse_config("certfile /c.pem\nkeyfile /k.pem\n", "t.conf");
    ASSERT_EQ(config.listeners.size(), 4U);
    for (const listener_config& listener : config.listeners) {
        EXPECT_EQ(listener.certfile, "/c.pem");
        EXPECT_EQ(listener.keyfile, "/k.pem");
    }
}

TEST(Config, WebsocketDeflateWindowBitsSetTheLatestListener) {
    const broker_config config =
        parse_config("listener 8083\nprotocol websocket\nlistener 8084\nprotocol websocket_tls\n"
                     "websocket_deflate_window_bits 12\n",
                     "t.conf");
    ASSERT_EQ(config.listeners.size(), 2U);
    EXPECT_EQ(config.listeners[0].websocket_deflate_window_bits, 9U) << "the default: 512 bytes";
    EXPECT_EQ(config.listeners[1].websocket_deflate_window_bits, 12U);
    EXPECT_EQ(parse_config("websocket_deflate_window_bits 0\n", "t.conf")
                  .listeners[2]
                  .websocket_deflate_window_bits,
              0U);
    for (const char* bad : {"8", "16", "x"}) {
        EXPECT_THROW(
            parse_config(std::string("websocket_deflate_window_bits ") + bad + "\n", "t.conf"),
            config_error)
            << bad;
    }
}

TEST(Config, OnlyMqttPortKeepsOnePlainListener) {
    broker_config config;
    use_only_mqtt_port(config, 18840);
    ASSERT_EQ(config.listeners.size(), 1U);
    EXPECT_EQ(config.listeners[0].kind, listener_kind::mqtt);
    EXPECT_EQ(config.listeners[0].port, 18840);
}

TEST(Config, RaspberryPiConfigParsesWithItsTuning) {
    // deploy/perch-pi.conf is the container image's and the systemd unit's config.
    std::ifstream file(PERCH_PI_CONFIG);
    std::ostringstream text;
    text << file.rdbuf();
    ASSERT_FALSE(text.str().empty());
    const broker_config config = parse_config(text.str(), "perch-pi.conf");
    // The same four listeners as the built-in defaults, so TLS and WebSocket work out of the box.
    std::vector<listener_kind> kinds;
    for (const listener_config& listener : config.listeners) {
        kinds.push_back(listener.kind);
    }
    EXPECT_EQ(kinds,
              (std::vector<listener_kind>{listener_kind::mqtt, listener_kind::mqtt_tls,
                                          listener_kind::websocket, listener_kind::websocket_tls}));
    // A board on a LAN: every interface, and everyone there logs in.
    for (const listener_config& listener : config.listeners) {
        EXPECT_FALSE(is_loopback_only(listener)) << listener.port;
        EXPECT_FALSE(allows_anonymous(config, listener)) << listener.port;
    }
    EXPECT_EQ(config.workers, 4U);
    EXPECT_EQ(config.data_dir, "/var/lib/perch");
    EXPECT_TRUE(config.persistence);
    EXPECT_EQ(config.durability, durability_mode::full);
    EXPECT_GT(config.commit_interval_ms, broker_config{}.commit_interval_ms);
    EXPECT_GT(config.max_database_bytes, 0U);
    EXPECT_LT(config.max_output_bytes, broker_config{}.max_output_bytes);
    // The chat app, where the image and the install guide put it.
    EXPECT_EQ(config.web_root, "/usr/share/perch/web");
}

TEST(Config, ShippedConfigFileGivesTheDefaults) {
    const std::string text = read_shipped_config();
    ASSERT_FALSE(text.empty());
    const broker_config config = parse_config(text, "perch.conf");
    const broker_config defaults;
    EXPECT_EQ(config.listeners, defaults.listeners);
    EXPECT_EQ(config.workers, defaults.workers);
    EXPECT_EQ(config.sys_interval_seconds, defaults.sys_interval_seconds);
}

TEST(Config, ShippedConfigShowsTheHttpListenerOnLoopback) {
    const std::string text = read_shipped_config();
    const auto at = text.find("#listener 9090 127.0.0.1\n#protocol http\n");
    ASSERT_NE(at, std::string::npos);
    const broker_config config =
        parse_config("listener 9090 127.0.0.1\nprotocol http\n", "perch.conf");
    ASSERT_EQ(config.listeners.size(), 1U);
    EXPECT_EQ(config.listeners[0].kind, listener_kind::http);
    EXPECT_TRUE(is_loopback_only(config.listeners[0]));
}

TEST(Config, EverySettingTheShippedFileDocumentsIsAKnownKey) {
    // Uncomment every "#key value" line; the result must parse.
    std::istringstream lines(read_shipped_config());
    std::string uncommented;
    std::string line;
    std::size_t settings = 0;
    while (std::getline(lines, line)) {
        if (line.size() > 1 && line[0] == '#' && line[1] >= 'a' && line[1] <= 'z') {
            line.erase(0, 1);
            ++settings;
        }
        uncommented += line + "\n";
    }
    EXPECT_GT(settings, 20U);
    EXPECT_NO_THROW(parse_config(uncommented, "perch.conf"));
}

TEST(ConfigReload, LogFormatIsTextOrJson) {
    EXPECT_EQ(parse_config("", "test.conf").log_style, log_format::text);
    EXPECT_EQ(parse_config("log_format json\n", "test.conf").log_style, log_format::json);
    EXPECT_EQ(error_of("log_format xml\n"),
              "test.conf:1: log_format: unknown format 'xml' (text, json)");
}

TEST(ConfigReload, NothingNeedsARestartWhenOnlyRuntimeSettingsChange) {
    const broker_config running = parse_config("listener 1883 127.0.0.1\n", "a.conf");
    const broker_config wanted =
        parse_config("listener 1883 127.0.0.1\nmax_connections 5\nlog_level debug\n"
                     "log_format json\nmax_packet_size 2000\nallow_anonymous false\n"
                     "sys_interval 1\nhistory_retention_days 3\npassword_iterations 20000\n",
                     "b.conf");
    EXPECT_TRUE(keys_needing_restart(running, wanted).empty());
}

TEST(ConfigReload, RestartKeysAreNamedOnceEach) {
    const broker_config running = parse_config("listener 1883 127.0.0.1\n", "a.conf");
    const broker_config wanted = parse_config(
        "listener 1884 127.0.0.1\nlistener 1885 127.0.0.1\nworkers 3\ndata_dir /elsewhere\n"
        "durability batched\npersistence false\npresence false\nsignal_expiry_s 5\n"
        "assistant_model m\n",
        "b.conf");
    EXPECT_EQ(
        keys_needing_restart(running, wanted),
        (std::vector<std::string>{"listener", "workers", "persistence", "data_dir", "durability",
                                  "presence", "signal_expiry_s", "assistant_model"}));
}

TEST(ConfigReload, TlsFilesOfAListenerChangeWithoutARestart) {
    const broker_config running =
        parse_config("listener 8883 127.0.0.1\nprotocol mqtt_tls\ncertfile a.pem\n"
                     "keyfile a.key\n",
                     "a.conf");
    const broker_config wanted =
        parse_config("listener 8883 127.0.0.1\nprotocol mqtt_tls\ncertfile b.pem\n"
                     "keyfile b.key\ncafile ca.pem\nrequire_certificate true\n",
                     "b.conf");
    EXPECT_TRUE(keys_needing_restart(running, wanted).empty());
    const broker_config moved =
        parse_config("listener 8884 127.0.0.1\nprotocol mqtt_tls\ncertfile a.pem\n"
                     "keyfile a.key\n",
                     "c.conf");
    EXPECT_EQ(keys_needing_restart(running, moved), std::vector<std::string>{"listener"});
}

TEST(ConfigReload, MissingAclFileNamesTheConfigLineAndKey) {
    const std::string path = ::testing::TempDir() + "perch_missing_acl.conf";
    {
        std::ofstream file(path);
        file << "# rules\nsys_interval 5\nacl_file /nonexistent/perch.acl\n";
    }
    try {
        load_config_file(path);
        ADD_FAILURE() << "no error";
    } catch (const config_error& error) {
        EXPECT_EQ(error.source_name(), path);
        EXPECT_EQ(error.line_number(), 3U);
        EXPECT_EQ(error.key(), "acl_file");
        EXPECT_NE(std::string(error.what()).find("/nonexistent/perch.acl"), std::string::npos);
    }
    std::remove(path.c_str());
}

TEST(Config, QuotaKeysSetEveryClientsQuota) {
    const broker_config defaults;
    EXPECT_EQ(defaults.quota.max_publish_rate, 1000U);
    EXPECT_EQ(defaults.max_connection_rate, 50U);
    const broker_config config =
        parse_config("max_publish_rate 20\nmax_publish_burst 40\nmax_publish_bytes_rate 0\n"
                     "max_publish_bytes_burst 9\nmax_subscriptions_per_client 7\n"
                     "max_connection_rate 3\nmax_connection_burst 6\n",
                     "q.conf");
    EXPECT_EQ(config.quota.message_limit(), (rate_limit{20, 40}));
    EXPECT_EQ(config.quota.byte_limit(), (rate_limit{0, 9}));
    EXPECT_EQ(config.quota.max_subscriptions_per_client, 7U);
    EXPECT_EQ(config.max_connection_rate, 3U);
    EXPECT_EQ(config.max_connection_burst, 6U);
    EXPECT_FALSE(config.quota.is_unlimited());
    const broker_config none = parse_config("max_publish_rate 0\nmax_publish_bytes_rate 0\n"
                                            "max_subscriptions_per_client 0\n"
                                            "max_subscribe_rate 0\n",
                                            "q.conf");
    EXPECT_TRUE(none.quota.is_unlimited());
}

TEST(Config, SubscribeRateKeysSetTheQuotaGloballyAndPerUser) {
    const broker_config defaults;
    EXPECT_EQ(defaults.quota.subscribe_limit(), (rate_limit{100, 100}));
    const broker_config config =
        parse_config("max_subscribe_rate 5\nmax_subscribe_burst 50\n"
                     "user_quota hub max_subscribe_rate 0\nuser_quota hub max_subscribe_burst 9\n",
                     "q.conf");
    EXPECT_EQ(config.quota.subscribe_limit(), (rate_limit{5, 50}));
    EXPECT_EQ(quota_for_user(config, "hub").subscribe_limit(), (rate_limit{0, 9}));
    // Only the subscribe rate left: a quota still applies.
    const broker_config rate_only = parse_config("max_publish_rate 0\nmax_publish_bytes_rate 0\n"
                                                 "max_subscriptions_per_client 0\n",
                                                 "q.conf");
    EXPECT_FALSE(rate_only.quota.is_unlimited());
    EXPECT_THROW(parse_config("max_subscribe_burst 0\n", "q.conf"), config_error);
}

TEST(Config, UserQuotaLinesOverrideOneUserWhereverTheGlobalLinesAre) {
    const broker_config config = parse_config(
        "user_quota sensor max_publish_rate 500\nmax_publish_rate 10\n"
        "user_quota sensor max_subscriptions_per_client 0\n"
        "user_quota phone max_publish_burst 3\nuser_quota sensor max_publish_rate 600\n",
        "q.conf");
    const client_quota sensor = quota_for_user(config, "sensor");
    EXPECT_EQ(sensor.max_publish_rate, 600U);
    EXPECT_EQ(sensor.max_subscriptions_per_client, 0U);
    EXPECT_EQ(sensor.max_publish_burst, config.quota.max_publish_burst);
    const client_quota phone = quota_for_user(config, "phone");
    EXPECT_EQ(phone.max_publish_rate, 10U);
    EXPECT_EQ(phone.max_publish_burst, 3U);
    EXPECT_EQ(quota_for_user(config, "someone"), config.quota);
    EXPECT_EQ(quota_for_user(config, ""), config.quota);
}

TEST(Config, BadQuotaLinesNameTheLineAndKey) {
    EXPECT_EQ(error_of("user_quota sensor max_publish_rate"),
              "test.conf:1: user_quota: expected NAME KEY VALUE");
    EXPECT_NE(error_of("\nuser_quota sensor max_queued 5")
                  .find("test.conf:2: user_quota: "
                        "'max_queued' is not a quota key"),
              std::string::npos);
    EXPECT_EQ(error_of("max_publish_burst 0"),
              "test.conf:1: max_publish_burst: 0 is out of range 1..1000000000");
    EXPECT_EQ(error_of("user_quota a max_publish_bytes_burst 0"),
              "test.conf:1: user_quota: 0 is out of range 1..1000000000");
    EXPECT_EQ(error_of("max_connection_rate x"),
              "test.conf:1: max_connection_rate: expected a whole number, got 'x'");
}

} // namespace
} // namespace perch::gateway
