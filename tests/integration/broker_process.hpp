// Child processes of the integration tests: the broker under test (perch, or Mosquitto as the
// reference) on a free loopback port, and the command-line clients the tests drive. Knows no MQTT.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include <sys/types.h>

namespace perch::integration {

/// The broker a test run talks to.
enum class broker_kind : std::uint8_t {
    perch,     ///< The `perch` binary of this build.
    mosquitto, ///< /usr/sbin/mosquitto, the reference the tests are checked against.
};

/// "perch" or "mosquitto".
std::string_view to_string(broker_kind kind);

/// The broker named by the environment variable PERCH_TEST_BROKER ("perch" or "mosquitto").
/// Unset, it is perch when this build has the perch target and Mosquitto otherwise. Throws
/// std::invalid_argument for any other value.
broker_kind broker_under_test();

/// A fresh directory under the system temporary directory, removed with everything in it when the
/// object is destroyed. Throws std::system_error when it cannot be created.
class temporary_directory {
public:
    temporary_directory();
    /// Removes the directory and everything in it; errors are ignored.
    ~temporary_directory();
    temporary_directory(const temporary_directory&) = delete;
    temporary_directory& operator=(const temporary_directory&) = delete;

    /// The directory; it exists for the object's whole life.
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

/// How a child process ended.
struct process_exit {
    /// The status passed to exit(), when it exited by itself; -1 when a signal ended it.
    int exit_code = -1;
    /// The signal that ended it, or 0 when it exited by itself.
    int signal_number = 0;
    /// True when it was still running at its deadline and had to be killed.
    bool was_killed_at_deadline = false;

    /// Exited by itself with status 0.
    bool is_success() const { return exit_code == 0 && signal_number == 0; }
};

/// "exit 0", "signal 9", "killed at deadline (signal 9)" ...
std::string describe(const process_exit& ending);

/// Where a child's standard streams go. An empty path means /dev/null.
struct process_streams {
    std::filesystem::path input_path;
    std::filesystem::path output_path;
    std::filesystem::path error_path;
};

/// A program started from an argument vector (no shell; argv[0] is looked up in PATH). The object
/// owns the process: if it is still running when the object is destroyed, it is killed with
/// SIGKILL and reaped, so no test leaves a process behind.
class child_process {
public:
    /// Starts `argv` with this process's environment plus `extra_environment` ("NAME=value",
    /// replacing a variable of the same name). Throws std::system_error when the program cannot
    /// be started.
    child_process(const std::vector<std::string>& argv, const process_streams& streams,
                  const std::vector<std::string>& extra_environment = {});
    /// Kills (SIGKILL) and reaps the process if it is still running.
    ~child_process();
    child_process(const child_process&) = delete;
    child_process& operator=(const child_process&) = delete;

    /// The process id, valid until the process has been reaped.
    pid_t pid() const { return pid_; }

    /// True while the process has not ended. Reaps it when it has.
    bool is_running();

    /// Sends `signal_number` to the process if it is still running.
    void send_signal(int signal_number);

    /// Waits up to `timeout` for the process to end; nullopt if it is still running then.
    std::optional<process_exit> wait_for(std::chrono::milliseconds timeout);

    /// Sends `signal_number` (SIGTERM by default), waits up to `grace` and then kills it with
    /// SIGKILL. Returns how it ended; was_killed_at_deadline tells whether SIGKILL was needed.
    process_exit stop(std::chrono::milliseconds grace, int signal_number = 15);

private:
    pid_t pid_ = -1;
    std::optional<process_exit> ending_;
};

/// What a command run to completion did.
struct command_result {
    process_exit ending;
    std::string output; ///< Everything it wrote to standard output.
    std::string errors; ///< Everything it wrote to standard error.
};

/// Runs `argv` with `input` on its standard input and returns its output once it has ended. A
/// command still running after `timeout` is killed (ending.was_killed_at_deadline). Throws
/// std::system_error when the program cannot be started.
command_result run_command(const std::vector<std::string>& argv, std::string_view input,
                           std::chrono::milliseconds timeout);

/// A port on 127.0.0.1 that was free a moment ago (another process may take it before use).
std::uint16_t free_loopback_port();

/// Reads a whole file; an empty string when it does not exist.
std::string read_file_text(const std::filesystem::path& path);

/// Writes `text` to `path`, replacing the file. Throws std::system_error on failure.
void write_file_text(const std::filesystem::path& path, std::string_view text);

/// Polls `path` every few milliseconds until it contains `needle` or `timeout` passes. Returns
/// whether it does.
bool wait_for_text(const std::filesystem::path& path, std::string_view needle,
                   std::chrono::milliseconds timeout);

/// The broker under test, running as a child process on 127.0.0.1 with anonymous access allowed
/// and a Maximum Keep Alive of `max_keep_alive_seconds`. The port is found by binding port 0 and
/// releasing it; if the broker cannot take it (another process won the race), a new port is tried.
class broker_process {
public:
    /// The keep alive the broker grants at most; clients asking for more are told this value.
    static constexpr std::uint16_t max_keep_alive_seconds = 100;

    /// Starts `kind` and waits up to five seconds until it accepts TCP connections. Throws
    /// std::runtime_error, with the broker's output, when it does not come up.
    explicit broker_process(broker_kind kind);
    /// As above, with `extra_config` appended to the config file (a later line overrides an
    /// earlier one, so it may replace data_dir, for a broker restarted on the same store).
    broker_process(broker_kind kind, std::string extra_config);
    /// As above, with `extra_environment` ("NAME=value") added to the broker's environment.
    broker_process(broker_kind kind, std::string extra_config,
                   std::vector<std::string> extra_environment);
    /// Stops the broker as stop() does.
    ~broker_process();
    broker_process(const broker_process&) = delete;
    broker_process& operator=(const broker_process&) = delete;

    /// Which broker this is.
    broker_kind kind() const { return kind_; }
    /// The loopback port the broker listens on.
    std::uint16_t port() const { return port_; }
    /// "127.0.0.1".
    static std::string host() { return "127.0.0.1"; }
    /// "tcp://127.0.0.1:PORT", the form Paho expects.
    std::string uri() const;
    /// "mqtt://127.0.0.1:PORT", the form MQTT.js expects.
    std::string url() const;

    /// A directory that lives as long as the broker, for test scratch files.
    const std::filesystem::path& scratch_directory() const { return directory_.path(); }

    /// Stops the broker with SIGTERM (SIGKILL after five seconds) and returns how it ended. Later
    /// calls return the same ending.
    process_exit stop();
    /// Kills the broker with SIGKILL (a crash: nothing is flushed) and returns how it ended.
    process_exit kill();

    /// The broker's process id while it runs.
    pid_t pid() const { return process_->pid(); }

    /// Everything the broker has written to standard output and error so far.
    std::string log() const;

private:
    /// Starts the broker on a newly picked port; false when it exited at once (port taken).
    bool start_on_free_port();
    /// The config file for this broker kind and port.
    std::string config_text() const;

    broker_kind kind_;
    std::string extra_config_;
    std::vector<std::string> extra_environment_;
    temporary_directory directory_;
    std::uint16_t port_ = 0;
    std::unique_ptr<child_process> process_;
    std::optional<process_exit> ending_;
};

/// Base of every integration test: starts the broker under test before the test body, and after
/// it stops the broker and expects a clean exit (status 0 on SIGTERM, so a sanitizer report or a
/// hang fails the test). When the test failed, the broker's output is printed.
class broker_test : public ::testing::Test {
protected:
    /// Starts the broker chosen by broker_under_test(); a failure to start fails the test.
    void SetUp() override;
    /// Stops the broker, expects a clean exit, and prints its output if the test failed.
    void TearDown() override;

    /// The broker of the running test.
    broker_process& broker() { return *broker_; }

private:
    std::unique_ptr<broker_process> broker_;
};

} // namespace perch::integration
