// The bytes a TCP socket has received so far, from the kernel's TCP_INFO.
#include "tcp_bytes_received.hpp"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

namespace perch::bench {

std::uint64_t tcp_bytes_received(int fd) {
    tcp_info info{};
    socklen_t length = sizeof(info);
    if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0 || length < sizeof(info)) {
        return 0;
    }
    return info.tcpi_bytes_received;
}

} // namespace perch::bench
