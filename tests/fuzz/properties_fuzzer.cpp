// libFuzzer target for property blocks alone: read_properties over arbitrary bytes in each
// context, and for every block it accepts, write then read again to the same properties.
//
// Input: byte 0 selects the property_context (modulo the number of contexts); the rest is the
// block, Property Length first.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "mqtt/property_codec.hpp"

namespace {

using namespace perch::mqtt;

void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "properties_fuzzer: %s\n", what);
        std::abort();
    }
}

constexpr unsigned context_count = static_cast<unsigned>(property_context::auth) + 1;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    const auto context = static_cast<property_context>(data[0] % context_count);
    wire_reader reader(byte_view(data + 1, size - 1));
    properties decoded;
    if (const auto failure = read_properties(reader, context, decoded)) {
        require(is_failure(failure->reason) && !failure->rule.empty(), "bad violation");
        return 0;
    }
    const std::size_t content_size = properties_content_size(decoded, context);
    byte_vector block(varint_size(static_cast<std::uint32_t>(content_size)) + content_size);
    wire_writer writer(block);
    write_properties(writer, decoded, context, content_size);
    require(writer.written() == block.size(), "property block size");
    wire_reader again(block);
    properties reread;
    require(!read_properties(again, context, reread), "written block rejected");
    require(again.is_empty(), "written block not read whole");
    require(reread == decoded, "property round trip changed the properties");
    return 0;
}
