#include "shanraq/runner/runner.hpp"

namespace shanraq::runner::detail {

namespace {
void check_record(const char* which, std::size_t got, std::size_t want) {
  if (got != want) {
    throw std::invalid_argument(std::string("Runner: the ") + which + " ring's record size is " + std::to_string(got) +
                                " bytes, expected " + std::to_string(want));
  }
}
}  // namespace

void check_runner_config(const RunnerConfig& c, std::size_t command_record, std::size_t command_size,
                         std::size_t event_record, std::size_t event_size) {
  if (c.batch == 0 || c.batch > (std::size_t{1} << 20)) {
    throw std::invalid_argument("Runner: batch must be in [1, 2^20], got " + std::to_string(c.batch));
  }
  if (c.poll_interval.count() <= 0 || c.poll_interval > std::chrono::seconds(10)) {
    throw std::invalid_argument("Runner: poll_interval must be in (0, 10 s]");
  }
  if (c.time_source != TimeSource::kClock && c.time_source != TimeSource::kCommand) {
    throw std::invalid_argument("Runner: unknown time_source");
  }
  if (c.time_source == TimeSource::kClock && c.clock == nullptr) {
    throw std::invalid_argument("Runner: TimeSource::kClock needs a clock");
  }
  check_record("command", command_record, command_size);
  check_record("event", event_record, event_size);
}

}  // namespace shanraq::runner::detail
