// A throwaway PostgreSQL cluster for tests: Debian's initdb and pg_ctl (/usr/lib/postgresql/N/
// bin) in a temporary folder, listening only on a unix socket in that folder (no TCP port, so
// parallel test processes never collide), stopped and removed when the process exits. PostgreSQL
// refuses to run as root: as root, the server runs as the `postgres` system user (runuser), and
// the folder is its. The cluster is a copy of a template made once by initdb. When the binaries
// are missing, available() is false with the reason, and the tests skip with it.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>

#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <unistd.h>

namespace perch::testing_support {

class postgres_cluster {
public:
    /// The cluster of this test process, started at the first call.
    static postgres_cluster& shared() {
        static postgres_cluster cluster;
        return cluster;
    }

    /// Why the cluster cannot run (binaries missing, start failed); empty when it runs.
    const std::string& unavailable_reason() const { return reason_; }
    bool is_available() const { return reason_.empty(); }

    /// A libpq connection string to `database` (created empty at the first call for a name).
    std::string conninfo(const std::string& database) {
        std::lock_guard lock(mutex_);
        if (created_.insert(database).second) {
            run_as_server("'" + (bin_ / "createdb").string() + "' -h '" + folder_.string() +
                          "' -p 5432 -U perch " + database);
        }
        return "host=" + folder_.string() + " port=5432 user=perch dbname=" + database;
    }

    /// Runs `sql` (no single quotes) in `database` with psql; true when it succeeded.
    bool run_sql(const std::string& database, const std::string& sql) const {
        return run_as_server("'" + (bin_ / "psql").string() + "' -h '" + folder_.string() +
                             "' -p 5432 -U perch -v ON_ERROR_STOP=1 -d " + database + " -c '" +
                             sql + "'");
    }

    /// The log of the server (for failure messages).
    std::string server_log() const {
        std::ifstream in(folder_ / "server.log");
        std::stringstream text;
        text << in.rdbuf();
        return text.str();
    }

    /// Runs `command` with the server's user (the `postgres` system user when root); true when
    /// it exits with 0. Its output goes to the folder's commands.log.
    bool run_as_server(const std::string& command) const {
        const std::string as_user =
            ::geteuid() == 0 ? "runuser -u postgres -- " + command : command;
        return std::system(
                   ("(" + as_user + ") >>'" + (folder_ / "commands.log").string() + "' 2>&1")
                       .c_str()) == 0;
    }

    ~postgres_cluster() {
        if (is_started_) {
            run_as_server("'" + (bin_ / "pg_ctl").string() + "' -D '" +
                          (folder_ / "data").string() + "' -m immediate -w stop");
        }
        if (!folder_.empty()) {
            std::error_code ignored;
            std::filesystem::remove_all(folder_, ignored);
        }
    }

    postgres_cluster(const postgres_cluster&) = delete;
    postgres_cluster& operator=(const postgres_cluster&) = delete;

private:
    postgres_cluster() {
        bin_ = find_binaries();
        if (bin_.empty()) {
            reason_ = "PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin "
                      "(apt-get install postgresql)";
            return;
        }
        std::string folder = (std::filesystem::temp_directory_path() / "perch-pg-XXXXXX").string();
        if (::mkdtemp(folder.data()) == nullptr) {
            reason_ = "cannot create a temporary folder for PostgreSQL";
            return;
        }
        folder_ = folder;
        if (::geteuid() == 0 && !give_to_postgres_user()) {
            return;
        }
        const std::string data = (folder_ / "data").string();
        const std::filesystem::path made = template_cluster();
        if (made.empty()) {
            return;
        }
        if (!run_as_server("cp -a '" + made.string() + "' '" + data + "'")) {
            reason_ =
                "cannot copy the template cluster: see " + (folder_ / "commands.log").string();
            return;
        }
        is_started_ = run_as_server(
            "'" + (bin_ / "pg_ctl").string() + "' -D '" + data + "' -l '" +
            (folder_ / "server.log").string() + "' -w -t 60 -o \"-c listen_addresses='' -k '" +
            folder_.string() + "' -p 5432 -c fsync=off -c full_page_writes=off\" start");
        if (!is_started_) {
            reason_ = "pg_ctl start failed: " + server_log();
        }
    }

    /// A cluster made by initdb once per machine and server version (initdb takes seconds; a
    /// copy, a fraction of one), shared by the test processes: made under a lock by the first.
    std::filesystem::path template_cluster() {
        const auto root = std::filesystem::temp_directory_path() /
                          ("perch-pg-template-" + bin_.parent_path().filename().string());
        const auto data = root / "data";
        const int lock = ::open((root.string() + ".lock").c_str(), O_CREAT | O_RDWR, 0600);
        if (lock < 0 || ::flock(lock, LOCK_EX) != 0) {
            reason_ = "cannot lock " + root.string() + ".lock";
            return {};
        }
        if (!std::filesystem::exists(root / "ready")) {
            std::error_code ignored;
            std::filesystem::remove_all(root, ignored);
            std::filesystem::create_directories(root);
            const passwd* user = ::geteuid() == 0 ? ::getpwnam("postgres") : nullptr;
            if (user != nullptr && ::chown(root.c_str(), user->pw_uid, user->pw_gid) != 0) {
                reason_ = "cannot give " + root.string() + " to the postgres user";
            } else if (!run_as_server("'" + (bin_ / "initdb").string() + "' -D '" + data.string() +
                                      "' -U perch -A trust -E UTF8 --locale=C --no-sync")) {
                reason_ = "initdb failed: see " + (folder_ / "commands.log").string();
            } else {
                std::ofstream(root / "ready").close();
            }
        }
        ::close(lock);
        return reason_.empty() ? data : std::filesystem::path();
    }

    static std::filesystem::path find_binaries() {
        std::filesystem::path found;
        std::error_code error;
        for (const auto& version :
             std::filesystem::directory_iterator("/usr/lib/postgresql", error)) {
            const auto bin = version.path() / "bin";
            if (std::filesystem::exists(bin / "initdb") &&
                std::filesystem::exists(bin / "pg_ctl") && (found.empty() || bin > found)) {
                found = bin;
            }
        }
        return found;
    }

    bool give_to_postgres_user() {
        const passwd* user = ::getpwnam("postgres");
        if (user == nullptr) {
            reason_ = "running as root and there is no `postgres` system user to run the server";
            return false;
        }
        if (::chown(folder_.c_str(), user->pw_uid, user->pw_gid) != 0) {
            reason_ = "cannot give the temporary folder to the postgres user";
            return false;
        }
        std::ofstream(folder_ / "commands.log").close();
        if (::chown((folder_ / "commands.log").c_str(), user->pw_uid, user->pw_gid) != 0) {
            reason_ = "cannot give the command log to the postgres user";
            return false;
        }
        return true;
    }

    std::filesystem::path bin_;
    std::filesystem::path folder_;
    std::string reason_;
    bool is_started_ = false;
    std::mutex mutex_;
    std::set<std::string> created_;
};

} // namespace perch::testing_support
