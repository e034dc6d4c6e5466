#include <pollux/fs/error.hpp>
// Own header first: this proves it is self-contained (STYLE H1).

#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

// The categories of pollux::fs's errors, one per path text.
//
// An error_code is a value and a raw pointer to its category, so a category
// must live as long as any error_code that may name it: here, for the rest
// of the process. They are interned in one process-wide table (a mutex and
// a hash map from the path text to the category), never freed, and the table
// itself is never destroyed (an error made or printed by a static destructor
// still finds it). Interning keeps the memory bounded by the number of
// distinct paths rather than errors, and makes two errors for one path
// compare equal. The table stops growing at `max_entries` paths or
// `max_bytes` bytes of text; past that, errors keep the system category
// (error.hpp says so).
//
// Only the error path pays: one lookup under the mutex, and for a new path,
// one allocation of the category.
//
// Tests: test/fs_error_test.cpp ("the table's bound", "many threads").

namespace pollux::fs {

namespace {

class PathCategory final : public boost::system::error_category {
public:
    explicit PathCategory(std::string text) : text_(std::move(text)) {}

    const char* name() const noexcept override { return "pollux.fs"; }

    std::string message(int ev) const override {
        std::string out = text_;
        out += ": ";
        out += boost::system::system_category().message(ev);
        return out;
    }

    // The value is an errno, mapped as the system category maps it: to the
    // generic category where POSIX names it, so `ec == errc::...` holds.
    boost::system::error_condition default_error_condition(int ev) const noexcept override {
        return boost::system::system_category().default_error_condition(ev);
    }

    std::string_view text() const noexcept { return text_; }

private:
    const std::string text_;
};

struct Table {
    std::mutex mutex;
    // Keys view the categories' own text (a category never moves or dies).
    std::unordered_map<std::string_view, const PathCategory*> map;
    std::size_t bytes = 0;
    std::size_t max_entries = path_category_max_entries;
    std::size_t max_bytes = path_category_max_bytes;
};

Table& table() {
    // Never destroyed: see the comment at the top.
    static Table* const t = new Table();
    return *t;
}

// The category of `text`, made if there is room; null when the table is full.
// Throws std::bad_alloc.
const PathCategory* intern(std::string_view text) {
    Table& t = table();
    std::lock_guard lock(t.mutex);
    if (auto it = t.map.find(text); it != t.map.end()) {
        return it->second;
    }
    if (t.map.size() >= t.max_entries || t.bytes + text.size() > t.max_bytes) {
        return nullptr;
    }
    auto made = std::make_unique<PathCategory>(std::string(text));
    t.map.emplace(made->text(), made.get());
    t.bytes += text.size();
    return made.release();
}

bool is_errno(const boost::system::error_code& ec) noexcept {
    return ec.category() == boost::system::system_category() ||
           ec.category() == boost::system::generic_category();
}

boost::system::error_code named(const boost::system::error_code& ec,
                                std::string_view text) noexcept {
    try {
        if (const PathCategory* cat = intern(text)) {
            return boost::system::error_code(ec.value(), *cat);
        }
    } catch (...) {
        // Out of memory: the plain error still says what failed.
    }
    return ec;
}

} // namespace

std::string_view error_path(const boost::system::error_code& ec) noexcept {
    if (const auto* cat = dynamic_cast<const PathCategory*>(&ec.category())) {
        return cat->text();
    }
    return {};
}

namespace detail {

boost::system::error_code path_error(const boost::system::error_code& ec,
                                     const std::filesystem::path& path) noexcept {
    if (!ec || path.empty() || !is_errno(ec)) {
        return ec;
    }
    return named(ec, path.native());
}

boost::system::error_code path_error(const boost::system::error_code& ec,
                                     const std::filesystem::path& from,
                                     const std::filesystem::path& to) noexcept {
    if (!ec || (from.empty() && to.empty()) || !is_errno(ec)) {
        return ec;
    }
    try {
        std::string text;
        text.reserve(from.native().size() + 4 + to.native().size());
        text += from.native();
        text += " -> ";
        text += to.native();
        return named(ec, text);
    } catch (...) {
        return ec;
    }
}

std::size_t path_category_count() noexcept {
    Table& t = table();
    std::lock_guard lock(t.mutex);
    return t.map.size();
}

std::pair<std::size_t, std::size_t> set_path_category_limits(std::size_t entries,
                                                             std::size_t bytes) noexcept {
    Table& t = table();
    std::lock_guard lock(t.mutex);
    return {std::exchange(t.max_entries, entries), std::exchange(t.max_bytes, bytes)};
}

} // namespace detail

} // namespace pollux::fs
