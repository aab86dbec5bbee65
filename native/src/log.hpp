// JSON-lines logging to stderr (one object per line) so supervisors and log shippers can parse it.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace cvp::log {

enum class Level { Debug = 0, Info = 1, Warn = 2, Error = 3 };

void set_level(Level level);
Level parse_level(const std::string& name);
bool enabled(Level level);
void write(Level level, const std::string& msg, nlohmann::json fields = nlohmann::json::object());

inline void debug(const std::string& m, nlohmann::json f = nlohmann::json::object()) { write(Level::Debug, m, std::move(f)); }
inline void info(const std::string& m, nlohmann::json f = nlohmann::json::object()) { write(Level::Info, m, std::move(f)); }
inline void warn(const std::string& m, nlohmann::json f = nlohmann::json::object()) { write(Level::Warn, m, std::move(f)); }
inline void error(const std::string& m, nlohmann::json f = nlohmann::json::object()) { write(Level::Error, m, std::move(f)); }

}  // namespace cvp::log
