// The Prometheus text exposition format 0.0.4.
#include "gateway/observability/metrics_exposition.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace perch::gateway {

namespace {

/// Help text escapes backslash and newline; label values also escape the double quote.
std::string escape(std::string_view text, bool is_label_value) {
    std::string out;
    out.reserve(text.size());
    for (const char letter : text) {
        if (letter == '\\') {
            out += "\\\\";
        } else if (letter == '\n') {
            out += "\\n";
        } else if (letter == '"' && is_label_value) {
            out += "\\\"";
        } else {
            out += letter;
        }
    }
    return out;
}

/// A number as the format writes it: integers without a fraction, +Inf/-Inf/NaN by name.
std::string number(double value) {
    if (std::isnan(value)) {
        return "NaN";
    }
    if (std::isinf(value)) {
        return value > 0 ? "+Inf" : "-Inf";
    }
    if (value == std::floor(value) && std::fabs(value) < 1e15) {
        return fmt::format("{}", static_cast<std::int64_t>(value));
    }
    return fmt::format("{}", value);
}

/// `{a="1",b="2"}`, with `extra` appended last (for `le`); empty when there is no label.
std::string label_text(const metric_labels& labels,
                       const std::pair<std::string, std::string>* extra = nullptr) {
    if (labels.empty() && extra == nullptr) {
        return {};
    }
    std::string out = "{";
    bool is_first = true;
    const auto append = [&](const std::pair<std::string, std::string>& label) {
        if (!is_first) {
            out += ',';
        }
        is_first = false;
        out += fmt::format("{}=\"{}\"", label.first, escape(label.second, true));
    };
    for (const auto& label : labels) {
        append(label);
    }
    if (extra != nullptr) {
        append(*extra);
    }
    out += '}';
    return out;
}

std::string_view type_word(metric_type type) {
    switch (type) {
    case metric_type::counter: return "counter";
    case metric_type::gauge: return "gauge";
    case metric_type::histogram: return "histogram";
    }
    return "untyped";
}

void render_histogram(const std::string& name, const histogram_sample& histogram,
                      std::string& out) {
    std::uint64_t cumulative = 0;
    for (std::size_t index = 0; index <= histogram.upper_bounds.size(); ++index) {
        if (index < histogram.bucket_counts.size()) {
            cumulative += histogram.bucket_counts[index];
        }
        const bool is_last = index == histogram.upper_bounds.size();
        // The +Inf bucket always equals the count [Prometheus exposition format, histograms].
        const std::uint64_t value = is_last ? std::max(cumulative, histogram.count) : cumulative;
        const std::pair<std::string, std::string> bound{
            "le", is_last ? "+Inf" : number(histogram.upper_bounds[index])};
        out += fmt::format("{}_bucket{} {}\n", name, label_text(histogram.labels, &bound), value);
    }
    out += fmt::format("{}_sum{} {}\n", name, label_text(histogram.labels), number(histogram.sum));
    out += fmt::format("{}_count{} {}\n", name, label_text(histogram.labels), histogram.count);
}

} // namespace

metric_family& metrics_snapshot::family(std::string_view name, std::string_view help,
                                        metric_type type) {
    const auto found = std::ranges::find(families_, name, &metric_family::name);
    if (found != families_.end()) {
        return *found;
    }
    families_.push_back(metric_family{std::string(name), std::string(help), type, {}, {}});
    return families_.back();
}

void metrics_snapshot::add(std::string_view name, std::string_view help, metric_type type,
                           double value, metric_labels labels) {
    family(name, help, type).samples.push_back(metric_sample{std::move(labels), value});
}

void metrics_snapshot::add_histogram(std::string_view name, std::string_view help,
                                     histogram_sample histogram) {
    family(name, help, metric_type::histogram).histograms.push_back(std::move(histogram));
}

const metric_family* metrics_snapshot::find(std::string_view name) const {
    const auto found = std::ranges::find(families_, name, &metric_family::name);
    return found != families_.end() ? &*found : nullptr;
}

std::string render_prometheus(const metrics_snapshot& snapshot) {
    std::string out;
    for (const metric_family& family : snapshot.families()) {
        out += fmt::format("# HELP {} {}\n", family.name, escape(family.help, false));
        out += fmt::format("# TYPE {} {}\n", family.name, type_word(family.type));
        for (const metric_sample& sample : family.samples) {
            out += fmt::format("{}{} {}\n", family.name, label_text(sample.labels),
                               number(sample.value));
        }
        for (const histogram_sample& histogram : family.histograms) {
            render_histogram(family.name, histogram, out);
        }
    }
    return out;
}

} // namespace perch::gateway
