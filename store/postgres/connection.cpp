// The libpq calls behind connection.hpp, through the library loaded on demand (libpq_library.hpp).
#include "store/postgres/connection.hpp"

#include <cstdlib>

#include "store/postgres/libpq_library.hpp"

namespace perch::store::postgres {
namespace {

std::string message_of(PGconn* handle) {
    std::string message = handle != nullptr ? libpq().error_message(handle) : "out of memory";
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) {
        message.pop_back();
    }
    return message;
}

} // namespace

parameters& parameters::text(std::string_view value) {
    values_.emplace_back(value);
    formats_.push_back(0);
    return *this;
}

parameters& parameters::integer(std::int64_t value) {
    return text(std::to_string(value));
}

parameters& parameters::bytes(std::span<const std::uint8_t> value) {
    values_.emplace_back(reinterpret_cast<const char*>(value.data()), value.size());
    formats_.push_back(1);
    return *this;
}

void result::release(pg_result* handle) {
    libpq().clear(handle);
}

int result::rows() const {
    return libpq().ntuples(handle_.get());
}

std::uint64_t result::changed() const {
    const char* count = libpq().cmd_tuples(handle_.get());
    return count == nullptr || *count == '\0' ? 0 : std::strtoull(count, nullptr, 10);
}

std::string result::text(int row, int column) const {
    return std::string(libpq().get_value(handle_.get(), row, column),
                       static_cast<std::size_t>(libpq().get_length(handle_.get(), row, column)));
}

std::int64_t result::integer(int row, int column) const {
    return std::strtoll(libpq().get_value(handle_.get(), row, column), nullptr, 10);
}

bool result::boolean(int row, int column) const {
    return libpq().get_value(handle_.get(), row, column)[0] == 't';
}

bool result::is_null(int row, int column) const {
    return libpq().get_is_null(handle_.get(), row, column) != 0;
}

byte_vector result::bytes(int row, int column) const {
    std::size_t length = 0;
    unsigned char* raw = libpq().unescape_bytea(
        reinterpret_cast<const unsigned char*>(libpq().get_value(handle_.get(), row, column)),
        &length);
    if (raw == nullptr) {
        throw postgres_error("cannot decode a bytea value");
    }
    byte_vector value(raw, raw + length);
    libpq().free_memory(raw);
    return value;
}

connection::connection(const std::string& conninfo, std::string settings)
    : settings_(std::move(settings)), handle_(libpq().connectdb(conninfo.c_str())) {
    if (handle_ == nullptr || libpq().status(handle_) != CONNECTION_OK) {
        const std::string message = message_of(handle_);
        libpq().finish(handle_);
        handle_ = nullptr;
        throw postgres_error("cannot connect to PostgreSQL: " + message);
    }
    // Notices (a table that exists already) are not errors: keep them off stderr.
    libpq().set_notice_processor(
        handle_, [](void*, const char*) {}, nullptr);
    apply_settings();
}

void connection::apply_settings() {
    execute("SET client_min_messages = warning");
    if (!settings_.empty()) {
        execute(settings_);
    }
}

connection::~connection() {
    libpq().finish(handle_);
}

result connection::run(std::string_view sql, const parameters& arguments) {
    if (!is_in_transaction_) {
        reconnect_if_lost();
    }
    std::vector<const char*> values;
    std::vector<int> lengths;
    values.reserve(arguments.size());
    for (const std::string& value : arguments.values_) {
        values.push_back(value.data());
        lengths.push_back(static_cast<int>(value.size()));
    }
    const std::string statement(sql);
    PGresult* raw =
        libpq().exec_params(handle_, statement.c_str(), static_cast<int>(values.size()), nullptr,
                            values.data(), lengths.data(), arguments.formats_.data(), 0);
    result rows(raw);
    const ExecStatusType status = raw == nullptr ? PGRES_FATAL_ERROR : libpq().result_status(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        throw postgres_error(message_of(handle_));
    }
    return rows;
}

void connection::execute(std::string_view sql) {
    const std::string statements(sql);
    PGresult* raw = libpq().exec(handle_, statements.c_str());
    result outcome(raw);
    const ExecStatusType status = raw == nullptr ? PGRES_FATAL_ERROR : libpq().result_status(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        throw postgres_error(message_of(handle_));
    }
}

void connection::reconnect_if_lost() {
    if (libpq().status(handle_) == CONNECTION_BAD) {
        libpq().reset(handle_);
        if (libpq().status(handle_) != CONNECTION_OK) {
            throw postgres_error("cannot reconnect to PostgreSQL: " + message_of(handle_));
        }
        apply_settings();
    }
}

void connection::begin() {
    reconnect_if_lost();
    run("BEGIN");
    is_in_transaction_ = true;
}

void connection::begin_snapshot() {
    reconnect_if_lost();
    run("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    is_in_transaction_ = true;
}

void connection::commit() {
    // A COMMIT that fails (or a lost connection) leaves nothing open either way.
    is_in_transaction_ = false;
    const result outcome = run("COMMIT");
    (void)outcome;
}

void connection::rollback() noexcept {
    is_in_transaction_ = false;
    if (libpq().transaction_status(handle_) != PQTRANS_IDLE) {
        libpq().clear(libpq().exec(handle_, "ROLLBACK"));
    }
}

} // namespace perch::store::postgres
