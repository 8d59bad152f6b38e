# The one-way include rule of gateway/ (docs/DESIGN.md, "Source map"), checked over every .cpp and
# .hpp under gateway/, mqtt/ and store/ of PERCH_LAYOUT_ROOT:
#   cmake -DPERCH_LAYOUT_ROOT=<source root> -P tests/layout/check_includes.cmake
# Each file and each "gateway/...", "mqtt/..." or "store/..." it includes is given a layer by its
# path; an include outside the layers its file's layer may use is reported, and the script fails.
cmake_minimum_required(VERSION 3.25)

if(NOT DEFINED PERCH_LAYOUT_ROOT)
    message(FATAL_ERROR "set PERCH_LAYOUT_ROOT to the source root")
endif()

# The assistant's HTTP side (perch_assistant): knows no MQTT, uses only common/endpoint_url.
set(assistant_http_files completion_client completion_protocol rate_limiter sse_parser)
# The outbound clients' TLS stream (perch_client_tls): knows no MQTT, used below the broker too.
set(client_tls_files tls_client_stream)

# The layers each layer may include, itself first. Dependencies run one way:
# program -> {assistant, bridge} -> broker -> {chat, stream, observability, web, push, client}
#   -> client_tls -> common -> {mqtt, store}; client (the in-process MQTT client) knows streams,
#   not the broker, which hands it an endpoint.
set(allowed_mqtt mqtt)
set(allowed_store store)
set(allowed_common common mqtt store)
set(allowed_stream stream common mqtt store)
set(allowed_chat chat push common mqtt store)
set(allowed_observability observability common)
set(allowed_web web common)
set(allowed_client_tls client_tls common)
set(allowed_push push client_tls common mqtt store)
set(allowed_broker broker chat stream observability web push client common mqtt store)
set(allowed_assistant_http assistant_http client_tls common)
set(allowed_client client client_tls stream common mqtt store)
set(allowed_assistant assistant assistant_http client client_tls broker chat stream observability
                      web common mqtt store)
set(allowed_bridge bridge client client_tls broker chat stream observability web common mqtt
                   store)
set(allowed_program program assistant assistant_http bridge client client_tls broker chat stream
                    observability web push common mqtt store)

# Sets `out` to the layer of `path` (relative to the source root), or "unplaced".
function(layer_of path out)
    if(path MATCHES "^mqtt/")
        set(layer mqtt)
    elseif(path MATCHES "^store/")
        set(layer store)
    elseif(path MATCHES "^gateway/(common|stream|chat|observability|web|push|broker|program)/")
        set(layer ${CMAKE_MATCH_1})
    elseif(path MATCHES "^gateway/client/([a-z0-9_]+)\\.[ch]pp$")
        if(CMAKE_MATCH_1 IN_LIST client_tls_files)
            set(layer client_tls)
        else()
            set(layer client)
        endif()
    elseif(path MATCHES "^gateway/bridge/")
        set(layer bridge)
    elseif(path MATCHES "^gateway/assistant/([a-z0-9_]+)\\.[ch]pp$")
        if(CMAKE_MATCH_1 IN_LIST assistant_http_files)
            set(layer assistant_http)
        else()
            set(layer assistant)
        endif()
    else()
        set(layer unplaced)
    endif()
    set(${out} ${layer} PARENT_SCOPE)
endfunction()

file(GLOB_RECURSE sources RELATIVE ${PERCH_LAYOUT_ROOT}
     ${PERCH_LAYOUT_ROOT}/gateway/*.cpp ${PERCH_LAYOUT_ROOT}/gateway/*.hpp
     ${PERCH_LAYOUT_ROOT}/mqtt/*.cpp ${PERCH_LAYOUT_ROOT}/mqtt/*.hpp
     ${PERCH_LAYOUT_ROOT}/store/*.cpp ${PERCH_LAYOUT_ROOT}/store/*.hpp)
list(SORT sources)
if(NOT sources)
    message(FATAL_ERROR "no sources under ${PERCH_LAYOUT_ROOT}")
endif()

set(violations 0)
foreach(source IN LISTS sources)
    layer_of(${source} from)
    if(from STREQUAL "unplaced")
        message(SEND_ERROR "${source}: not in a layer folder of gateway/")
        math(EXPR violations "${violations} + 1")
        continue()
    endif()
    file(STRINGS ${PERCH_LAYOUT_ROOT}/${source} includes
         REGEX "^[ \t]*#[ \t]*include[ \t]*[\"<](gateway|mqtt|store)/")
    foreach(line IN LISTS includes)
        string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*[\"<]([^\">]+)[\">].*$" "\\1" target
                             "${line}")
        layer_of(${target} to)
        if(NOT to IN_LIST allowed_${from})
            message(SEND_ERROR "${source} (${from}) includes ${target} (${to}); "
                               "${from} may include only: ${allowed_${from}}")
            math(EXPR violations "${violations} + 1")
        endif()
    endforeach()
endforeach()

list(LENGTH sources checked)
if(violations GREATER 0)
    message(FATAL_ERROR "${violations} include(s) break the layer rule of docs/DESIGN.md")
endif()
message(STATUS "include rule holds in ${checked} files")
