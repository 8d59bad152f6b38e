// Never compiled: a chat file that includes the broker, which check_includes.cmake must refuse.
#include "gateway/broker/server.hpp"
#include "gateway/chat/chat_service.hpp"
