// Child processes of the integration tests. Processes are started with fork + execve so that each
// child asks the kernel to kill it when the test process dies (PR_SET_PDEATHSIG): a crashed or
// timed-out test never leaves a broker listening.
#include "broker_process.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto poll_interval = 5ms;
constexpr auto broker_start_timeout = 5s;
constexpr auto broker_stop_grace = 5s;
constexpr int port_attempts = 5;

std::system_error system_failure(const std::string& what) {
    return std::system_error(errno, std::generic_category(), what);
}

/// argv[0] resolved against PATH the way a shell would, done before fork so that the child only
/// makes async-signal-safe calls.
std::string resolve_program(const std::string& name) {
    if (name.find('/') != std::string::npos) {
        return name;
    }
    const char* path_variable = std::getenv("PATH");
    std::istringstream directories(path_variable != nullptr ? path_variable : "/usr/bin:/bin");
    std::string directory;
    while (std::getline(directories, directory, ':')) {
        const auto candidate = std::filesystem::path(directory.empty() ? "." : directory) / name;
        if (::access(candidate.c_str(), X_OK) == 0) {
            return candidate.string();
        }
    }
    return name;
}

/// Opens `path` for the child's stream `target_fd`, or /dev/null when empty. Only
/// async-signal-safe calls: it runs between fork and exec.
bool redirect(const char* path, int flags, int target_fd) {
    const int fd = ::open(path, flags, 0644);
    if (fd < 0) {
        return false;
    }
    if (fd != target_fd) {
        if (::dup2(fd, target_fd) < 0) {
            return false;
        }
        ::close(fd);
    }
    return true;
}

process_exit decode_wait_status(int status) {
    process_exit ending;
    if (WIFEXITED(status)) {
        ending.exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        ending.signal_number = WTERMSIG(status);
    }
    return ending;
}

/// A port on 127.0.0.1 that was free a moment ago: bind port 0, read the port, release it.
std::uint16_t pick_port_once() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        throw system_failure("socket");
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const auto failure = system_failure("bind 127.0.0.1:0");
        ::close(fd);
        throw failure;
    }
    ::close(fd);
    return ntohs(address.sin_port);
}

/// As pick_port_once, but never a port this process was given before: the kernel may hand out
/// a port just released again, and two listeners of one test must not get the same one.
std::uint16_t pick_free_port() {
    static std::mutex mutex;
    static std::set<std::uint16_t> given;
    std::lock_guard lock(mutex);
    for (int attempt = 0; attempt < 64; ++attempt) {
        const std::uint16_t port = pick_port_once();
        if (given.insert(port).second) {
            return port;
        }
    }
    throw std::runtime_error("no loopback port that was not given out before");
}

/// True when a TCP connection to 127.0.0.1:`port` is accepted.
bool accepts_connections(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    const bool is_connected =
        ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
    ::close(fd);
    return is_connected;
}

/// The "socket:[INODE]" names of the sockets listening on TCP port `port`, from the kernel's
/// IPv4 and IPv6 socket tables.
std::vector<std::string> listening_sockets(std::uint16_t port) {
    constexpr std::string_view listen_state = "0A";
    std::vector<std::string> names;
    for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
        std::istringstream lines(read_file_text(table));
        std::string line;
        std::getline(lines, line);
        while (std::getline(lines, line)) {
            std::istringstream fields(line);
            std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
            fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
                timeout >> inode;
            const auto colon = local.rfind(':');
            if (state != listen_state || colon == std::string::npos) {
                continue;
            }
            if (std::stoul(local.substr(colon + 1), nullptr, 16) == port) {
                names.push_back("socket:[" + inode + "]");
            }
        }
    }
    return names;
}

/// Whether process `pid` holds the socket listening on `port`. Parallel tests can pick the same
/// free port; the loser's broker fails to bind while the probe reaches the winner's. True when
/// the process's descriptors cannot be read, so a restricted /proc never blocks a run.
bool is_listening_on(pid_t pid, std::uint16_t port) {
    const auto wanted = listening_sockets(port);
    std::error_code error;
    std::filesystem::directory_iterator descriptors("/proc/" + std::to_string(pid) + "/fd", error);
    if (error) {
        return true;
    }
    for (const auto& descriptor : descriptors) {
        const auto target = std::filesystem::read_symlink(descriptor.path(), error);
        if (!error && std::find(wanted.begin(), wanted.end(), target.string()) != wanted.end()) {
            return true;
        }
    }
    return false;
}

std::string perch_program() {
    if (const char* path = std::getenv("PERCH_TEST_PERCH_PATH"); path != nullptr && *path != 0) {
        return path;
    }
    return PERCH_BROKER_PATH;
}

} // namespace

std::uint16_t free_loopback_port() {
    return pick_free_port();
}

std::string_view to_string(broker_kind kind) {
    switch (kind) {
    case broker_kind::perch: return "perch";
    case broker_kind::mosquitto: return "mosquitto";
    }
    return "unknown";
}

broker_kind broker_under_test() {
    const char* name = std::getenv("PERCH_TEST_BROKER");
    if (name == nullptr || *name == 0) {
        return std::string_view(PERCH_BROKER_PATH).empty() ? broker_kind::mosquitto
                                                           : broker_kind::perch;
    }
    if (std::string_view(name) == "perch") {
        return broker_kind::perch;
    }
    if (std::string_view(name) == "mosquitto") {
        return broker_kind::mosquitto;
    }
    throw std::invalid_argument("PERCH_TEST_BROKER must be perch or mosquitto, not " +
                                std::string(name));
}

temporary_directory::temporary_directory() {
    auto pattern = (std::filesystem::temp_directory_path() / "perch-integration-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw system_failure("mkdtemp " + pattern);
    }
    path_ = pattern;
    // Mosquitto started as root drops to its own user; it must still reach files in here.
    ::chmod(path_.c_str(), 0755);
}

temporary_directory::~temporary_directory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::string describe(const process_exit& ending) {
    std::string text = ending.signal_number != 0 ? "signal " + std::to_string(ending.signal_number)
                                                 : "exit " + std::to_string(ending.exit_code);
    if (ending.was_killed_at_deadline) {
        text = "killed at deadline (" + text + ")";
    }
    return text;
}

child_process::child_process(const std::vector<std::string>& argv, const process_streams& streams,
                             const std::vector<std::string>& extra_environment) {
    if (argv.empty()) {
        throw std::invalid_argument("child_process: empty argument vector");
    }
    // Everything the child needs is prepared here: after fork it may not allocate.
    const std::string program = resolve_program(argv[0]);
    std::vector<char*> arguments;
    for (const auto& argument : argv) {
        arguments.push_back(const_cast<char*>(argument.c_str()));
    }
    arguments.push_back(nullptr);
    std::vector<char*> environment;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        const std::string_view variable(*entry);
        const auto name_end = variable.find('=') + 1;
        const bool is_replaced = std::any_of(
            extra_environment.begin(), extra_environment.end(), [&](const std::string& extra) {
                return name_end != 0 &&
                       extra.compare(0, name_end, variable.substr(0, name_end)) == 0;
            });
        if (!is_replaced) {
            environment.push_back(*entry);
        }
    }
    for (const auto& extra : extra_environment) {
        environment.push_back(const_cast<char*>(extra.c_str()));
    }
    environment.push_back(nullptr);
    const std::string input = streams.input_path.empty() ? "/dev/null" : streams.input_path;
    const std::string output = streams.output_path.empty() ? "/dev/null" : streams.output_path;
    const std::string errors = streams.error_path.empty() ? "/dev/null" : streams.error_path;
    const bool is_shared_output = !streams.output_path.empty() && output == errors;
    const pid_t parent = ::getpid();

    // The child reports a failed exec through this pipe; a successful exec closes it.
    int exec_pipe[2];
    if (::pipe2(exec_pipe, O_CLOEXEC) != 0) {
        throw system_failure("pipe2");
    }
    pid_ = ::fork();
    if (pid_ < 0) {
        const auto failure = system_failure("fork");
        ::close(exec_pipe[0]);
        ::close(exec_pipe[1]);
        throw failure;
    }
    if (pid_ == 0) {
        ::close(exec_pipe[0]);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) {
            ::_exit(127);
        }
        constexpr int write_flags = O_WRONLY | O_CREAT | O_APPEND;
        bool is_ready = redirect(input.c_str(), O_RDONLY, STDIN_FILENO) &&
                        redirect(output.c_str(), write_flags, STDOUT_FILENO);
        if (is_ready) {
            is_ready = is_shared_output ? ::dup2(STDOUT_FILENO, STDERR_FILENO) >= 0
                                        : redirect(errors.c_str(), write_flags, STDERR_FILENO);
        }
        if (is_ready) {
            ::execve(program.c_str(), arguments.data(), environment.data());
        }
        const int error = errno;
        [[maybe_unused]] const auto written = ::write(exec_pipe[1], &error, sizeof(error));
        ::_exit(127);
    }
    ::close(exec_pipe[1]);
    int child_error = 0;
    ssize_t received = 0;
    do {
        received = ::read(exec_pipe[0], &child_error, sizeof(child_error));
    } while (received < 0 && errno == EINTR);
    ::close(exec_pipe[0]);
    if (received == sizeof(child_error)) {
        int status = 0;
        ::waitpid(pid_, &status, 0);
        pid_ = -1;
        throw std::system_error(child_error, std::generic_category(), "cannot start " + program);
    }
}

child_process::~child_process() {
    if (pid_ > 0 && !ending_) {
        ::kill(pid_, SIGKILL);
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
}

bool child_process::is_running() {
    if (ending_ || pid_ <= 0) {
        return false;
    }
    int status = 0;
    const pid_t result = ::waitpid(pid_, &status, WNOHANG);
    if (result == pid_) {
        ending_ = decode_wait_status(status);
        return false;
    }
    return result == 0;
}

void child_process::send_signal(int signal_number) {
    if (is_running()) {
        ::kill(pid_, signal_number);
    }
}

std::optional<process_exit> child_process::wait_for(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (is_running()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return std::nullopt;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    return ending_;
}

process_exit child_process::stop(std::chrono::milliseconds grace, int signal_number) {
    send_signal(signal_number);
    if (auto ending = wait_for(grace)) {
        return *ending;
    }
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    ending_ = decode_wait_status(status);
    ending_->was_killed_at_deadline = true;
    return *ending_;
}

std::string read_file_text(const std::filesystem::path& path) {
    std::ifstream file(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(file), std::istreambuf_iterator<char>()};
}

void write_file_text(const std::filesystem::path& path, std::string_view text) {
    std::ofstream file(path, std::ios::binary | std::ios::trunc);
    file.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!file) {
        throw std::system_error(EIO, std::generic_category(), "write " + path.string());
    }
}

bool wait_for_text(const std::filesystem::path& path, std::string_view needle,
                   std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (read_file_text(path).find(needle) == std::string::npos) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    return true;
}

command_result run_command(const std::vector<std::string>& argv, std::string_view input,
                           std::chrono::milliseconds timeout) {
    const temporary_directory directory;
    const process_streams streams{directory.path() / "input", directory.path() / "output",
                                  directory.path() / "errors"};
    write_file_text(streams.input_path, input);
    child_process process(argv, streams);
    command_result result;
    if (auto ending = process.wait_for(timeout)) {
        result.ending = *ending;
    } else {
        result.ending = process.stop(std::chrono::milliseconds(0), SIGKILL);
        result.ending.was_killed_at_deadline = true;
    }
    result.output = read_file_text(streams.output_path);
    result.errors = read_file_text(streams.error_path);
    return result;
}

broker_process::broker_process(broker_kind kind) : broker_process(kind, std::string()) {}

broker_process::broker_process(broker_kind kind, std::string extra_config)
    : broker_process(kind, std::move(extra_config), {}) {}

broker_process::broker_process(broker_kind kind, std::string extra_config,
                               std::vector<std::string> extra_environment)
    : kind_(kind), extra_config_(std::move(extra_config)),
      extra_environment_(std::move(extra_environment)) {
    if (kind_ == broker_kind::perch && perch_program().empty()) {
        throw std::runtime_error("this build has no perch binary; build the perch target, set "
                                 "PERCH_TEST_PERCH_PATH, or run with PERCH_TEST_BROKER=mosquitto");
    }
    for (int attempt = 0; attempt < port_attempts; ++attempt) {
        if (start_on_free_port()) {
            return;
        }
    }
    throw std::runtime_error(std::string(to_string(kind_)) + " did not start:\n" + log());
}

broker_process::~broker_process() {
    stop();
}

std::string broker_process::uri() const {
    return "tcp://" + host() + ":" + std::to_string(port_);
}

std::string broker_process::url() const {
    return "mqtt://" + host() + ":" + std::to_string(port_);
}

std::string broker_process::config_text() const {
    const std::string port = std::to_string(port_);
    const std::string keep_alive = std::to_string(max_keep_alive_seconds);
    if (kind_ == broker_kind::mosquitto) {
        return "listener " + port + " 127.0.0.1\n" + "allow_anonymous true\n" +
               "persistence false\n" + "max_keepalive " + keep_alive + "\n";
    }
    // Perch tells every 5.0 client its server_keep_alive; Mosquitto only those asking for more.
    return "listener " + port + " 127.0.0.1\n" + "allow_anonymous true\n" + "server_keep_alive " +
           keep_alive + "\n" + "data_dir " + (directory_.path() / "data").string() + "\n" +
           extra_config_;
}

bool broker_process::start_on_free_port() {
    port_ = pick_free_port();
    const auto config_path = directory_.path() / "broker.conf";
    write_file_text(config_path, config_text());
    std::filesystem::create_directories(directory_.path() / "data");
    const std::string program =
        kind_ == broker_kind::perch ? perch_program() : PERCH_MOSQUITTO_PATH;
    const auto log_path = directory_.path() / "broker.log";
    process_ = std::make_unique<child_process>(
        std::vector<std::string>{program, "-c", config_path.string()},
        process_streams{{}, log_path, log_path}, extra_environment_);

    const auto deadline = std::chrono::steady_clock::now() + broker_start_timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (!process_->is_running()) {
            // Most likely the port was taken between pick_free_port and the broker's bind.
            process_.reset();
            return false;
        }
        if (accepts_connections(port_)) {
            if (is_listening_on(process_->pid(), port_)) {
                return true;
            }
            // Another test's broker holds the port; ours cannot bind it.
            process_->stop(std::chrono::milliseconds(0), SIGKILL);
            process_.reset();
            return false;
        }
        std::this_thread::sleep_for(poll_interval);
    }
    ending_ = process_->stop(std::chrono::milliseconds(0), SIGKILL);
    throw std::runtime_error(std::string(to_string(kind_)) + " did not accept connections on " +
                             uri() + " within 5 s:\n" + log());
}

process_exit broker_process::stop() {
    if (!ending_ && process_) {
        ending_ = process_->stop(broker_stop_grace, SIGTERM);
    }
    return ending_.value_or(process_exit{});
}

process_exit broker_process::kill() {
    if (!ending_ && process_) {
        ending_ = process_->stop(std::chrono::milliseconds(0), SIGKILL);
    }
    return ending_.value_or(process_exit{});
}

std::string broker_process::log() const {
    return read_file_text(directory_.path() / "broker.log");
}

void broker_test::SetUp() {
    broker_ = std::make_unique<broker_process>(broker_under_test());
}

void broker_test::TearDown() {
    if (!broker_) {
        return;
    }
    const process_exit ending = broker_->stop();
    EXPECT_TRUE(ending.is_success())
        << to_string(broker_->kind()) << " did not exit cleanly on SIGTERM: " << describe(ending);
    if (HasFailure()) {
        std::cerr << "---- " << to_string(broker_->kind()) << " output (" << broker_->uri()
                  << ") ----\n"
                  << broker_->log() << "---- end of broker output ----\n";
    }
}

} // namespace perch::integration
