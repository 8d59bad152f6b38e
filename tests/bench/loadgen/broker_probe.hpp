// Readings of the broker process from /proc: CPU time, read/write system calls, bytes written to
// storage and resident memory. The broker is any process on this machine, named by its process id.
#pragma once

#include <cstdint>
#include <string>

#include <sys/types.h>

namespace perch::loadgen {

/// One reading of the broker's counters; differences of two readings measure a run.
struct broker_sample {
    /// utime + stime of all the broker's threads, in seconds.
    double cpu_seconds = 0;
    /// Read-type (syscr) and write-type (syscw) system calls made so far.
    std::uint64_t read_syscalls = 0;
    std::uint64_t write_syscalls = 0;
    /// VmRSS in bytes.
    std::uint64_t resident_bytes = 0;
    /// Bytes the broker caused to be sent to storage (/proc/PID/io write_bytes).
    std::uint64_t written_bytes = 0;
};

/// Reads /proc/PID/{stat,io,status}. Fields that cannot be read are left 0 (the process is gone
/// or the caller may not read its io file).
broker_sample sample_broker(pid_t broker_pid);

/// Counts every system call the broker's threads enter, with `perf stat -e
/// raw_syscalls:sys_enter -p PID` running between start() and stop(). /proc/PID/io counts only
/// read- and write-type calls (not sendmsg, recvmsg, epoll_wait, futex), so brokers using
/// different calls compare only through this count.
class syscall_counter {
public:
    /// Starts perf on `broker_pid` and waits until it is attached. Does nothing when perf is
    /// missing or `is_enabled` is false; stop() then returns -1.
    syscall_counter(pid_t broker_pid, bool is_enabled);
    /// Stops perf if stop() was not called.
    ~syscall_counter();
    syscall_counter(const syscall_counter&) = delete;
    syscall_counter& operator=(const syscall_counter&) = delete;

    /// Stops perf and returns the system calls counted, or -1 if nothing was counted.
    long long stop();

private:
    pid_t perf_pid_ = -1;
    std::string output_path_;
};

/// User + system CPU seconds this load generator has used so far.
double own_cpu_seconds();

} // namespace perch::loadgen
