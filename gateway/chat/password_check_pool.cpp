// Password checks off the workers: a queue and a few threads.
#include "gateway/chat/password_check_pool.hpp"

#include <algorithm>
#include <utility>

namespace perch::gateway {

password_check_pool::password_check_pool(std::size_t thread_count, std::size_t max_waiting)
    : max_waiting_(max_waiting) {
    thread_count = std::max<std::size_t>(thread_count, 1);
    threads_.reserve(thread_count);
    for (std::size_t index = 0; index < thread_count; ++index) {
        threads_.emplace_back([this] { run(); });
    }
}

password_check_pool::~password_check_pool() {
    stop();
}

bool password_check_pool::submit(std::function<void()> check) {
    {
        std::lock_guard lock(mutex_);
        if (is_stopping_ || waiting_.size() >= max_waiting_) {
            return false;
        }
        waiting_.push_back(std::move(check));
    }
    wake_.notify_one();
    return true;
}

void password_check_pool::stop() {
    {
        std::lock_guard lock(mutex_);
        is_stopping_ = true;
    }
    wake_.notify_all();
    for (std::thread& thread : threads_) {
        if (thread.joinable()) {
            thread.join();
        }
    }
}

std::size_t password_check_pool::threads_for(unsigned cores) {
    return std::max(1U, cores / 2);
}

void password_check_pool::run() {
    while (true) {
        std::function<void()> check;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return is_stopping_ || !waiting_.empty(); });
            if (waiting_.empty()) {
                return;
            }
            check = std::move(waiting_.front());
            waiting_.pop_front();
        }
        check();
    }
}

} // namespace perch::gateway
