// The bytes a TCP socket has received so far, as the kernel counts them (TCP_INFO). Kept apart
// from code that includes Asio: <linux/tcp.h> and <netinet/tcp.h> cannot share a file.
#pragma once

#include <cstdint>

namespace perch::bench {

/// Payload bytes received on the connected TCP socket `fd` (tcpi_bytes_received: after TCP, before
/// any TLS or WebSocket layer); 0 when the kernel does not say.
std::uint64_t tcp_bytes_received(int fd);

} // namespace perch::bench
