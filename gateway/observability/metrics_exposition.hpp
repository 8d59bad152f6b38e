// The Prometheus text exposition format 0.0.4: a snapshot of named metric families rendered as
// text. Pure data and one pure function; knows no socket, no broker and no clock.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perch::gateway {

/// The kinds of metric the exposition writes (`# TYPE` line).
enum class metric_type : std::uint8_t { counter, gauge, histogram };

/// A label set in the order it is written: (name, value). Values are escaped when rendered.
using metric_labels = std::vector<std::pair<std::string, std::string>>;

/// One value of a counter or gauge under one label set.
struct metric_sample {
    metric_labels labels;
    double value = 0;
};

/// One histogram under one label set. `bucket_counts` holds one count per upper bound plus a last
/// one for +Inf, each counting only its own bucket (not cumulative); the rendering accumulates.
struct histogram_sample {
    metric_labels labels;
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> bucket_counts;
    double sum = 0;
    std::uint64_t count = 0;
};

/// A metric name with its help text, type and values. A counter's name ends in `_total`.
struct metric_family {
    std::string name;
    std::string help;
    metric_type type = metric_type::counter;
    /// For counters and gauges.
    std::vector<metric_sample> samples;
    /// For histograms.
    std::vector<histogram_sample> histograms;
};

/// Every metric at one moment, in the order they are written.
class metrics_snapshot {
public:
    /// Adds `value` under `labels` to the family `name`, creating the family (with `help` and
    /// `type`) the first time the name is seen.
    void add(std::string_view name, std::string_view help, metric_type type, double value,
             metric_labels labels = {});
    /// Adds one histogram to the histogram family `name`, created the first time.
    void add_histogram(std::string_view name, std::string_view help, histogram_sample histogram);

    const std::vector<metric_family>& families() const { return families_; }
    /// The family named `name`, or nullptr.
    const metric_family* find(std::string_view name) const;

private:
    metric_family& family(std::string_view name, std::string_view help, metric_type type);

    std::vector<metric_family> families_;
};

/// The snapshot as Prometheus text format 0.0.4: for each family `# HELP`, `# TYPE`, then one
/// line per sample (`_bucket{le=...}`, `_sum` and `_count` for histograms), each line ending in
/// a newline. Help text and label values are escaped as the format requires.
std::string render_prometheus(const metrics_snapshot& snapshot);

/// The Content-Type of render_prometheus's output.
inline constexpr std::string_view prometheus_content_type =
    "text/plain; version=0.0.4; charset=utf-8";

} // namespace perch::gateway
