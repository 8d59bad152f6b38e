// /proc readers for the broker under test.
#include "broker_probe.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

namespace perch::loadgen {

namespace {

double stat_cpu_seconds(pid_t broker_pid) {
    std::ifstream file("/proc/" + std::to_string(broker_pid) + "/stat");
    std::string line;
    if (!std::getline(file, line)) {
        return 0;
    }
    // The command name may hold spaces; fields are counted after its closing parenthesis.
    const auto close = line.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream fields(line.substr(close + 2));
    std::string field;
    unsigned long long utime = 0;
    unsigned long long stime = 0;
    // Field 3 (state) is the first after the name; utime and stime are fields 14 and 15.
    for (int number = 3; number <= 15 && fields >> field; ++number) {
        if (number == 14) {
            utime = std::stoull(field);
        } else if (number == 15) {
            stime = std::stoull(field);
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

} // namespace

broker_sample sample_broker(pid_t broker_pid) {
    broker_sample sample;
    sample.cpu_seconds = stat_cpu_seconds(broker_pid);
    const std::string base = "/proc/" + std::to_string(broker_pid);
    std::ifstream io(base + "/io");
    std::string key;
    std::uint64_t value = 0;
    while (io >> key >> value) {
        if (key == "syscr:") {
            sample.read_syscalls = value;
        } else if (key == "syscw:") {
            sample.write_syscalls = value;
        } else if (key == "write_bytes:") {
            sample.written_bytes = value;
        }
    }
    std::ifstream status(base + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            sample.resident_bytes = std::stoull(line.substr(6)) * 1024;
        }
    }
    return sample;
}

syscall_counter::syscall_counter(pid_t broker_pid, bool is_enabled) {
    if (!is_enabled) {
        return;
    }
    output_path_ = "/tmp/perch-loadgen-perf-" + std::to_string(getpid()) + ".txt";
    const std::string target = std::to_string(broker_pid);
    perf_pid_ = fork();
    if (perf_pid_ == 0) {
        execlp("perf", "perf", "stat", "-x", ",", "-e", "raw_syscalls:sys_enter", "-p",
               target.c_str(), "-o", output_path_.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    // perf needs a moment to open its counters on every thread of the broker.
    usleep(300000);
}

syscall_counter::~syscall_counter() {
    stop();
}

long long syscall_counter::stop() {
    if (perf_pid_ <= 0) {
        return -1;
    }
    kill(perf_pid_, SIGINT);
    int status = 0;
    waitpid(perf_pid_, &status, 0);
    perf_pid_ = -1;
    std::ifstream file(output_path_);
    std::string line;
    long long count = -1;
    while (std::getline(file, line)) {
        if (line.find("raw_syscalls:sys_enter") != std::string::npos) {
            try {
                count = std::stoll(line.substr(0, line.find(',')));
            } catch (const std::exception&) {
                count = -1;
            }
        }
    }
    std::remove(output_path_.c_str());
    return count;
}

double own_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

} // namespace perch::loadgen
