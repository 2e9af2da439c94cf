#include "cluster_file.hpp"

#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "byte_size.hpp"
#include "control/frame.hpp"
#include "provider.hpp"

namespace drust::launcher {

namespace {

using nlohmann::json;

constexpr ::std::string_view top_level_keys = "provider, controller, cache_size, heap_pressure, nodes";
constexpr ::std::string_view node_keys = "name, host, cores, heap, cache, heap_pressure, program";

// Turns each check's message into one error that starts with the file's name.
class error_maker {
 public:
  explicit error_maker(::std::string_view file_name) : file_name_(file_name) {}

  absl::Status operator()(::std::string_view message) const {
    return absl::InvalidArgumentError(absl::StrCat(file_name_, ": ", ::std::string(message)));
  }

  const ::std::string& file_name() const { return file_name_; }

 private:
  ::std::string file_name_;
};

// A value as the file wrote it, for "got ..." in messages.
::std::string shown(const json& value) {
  ::std::string text = value.dump();
  constexpr ::std::size_t longest = 60;
  if (text.size() > longest) text = text.substr(0, longest) + "...";
  return text;
}

// nlohmann's message is "[json.exception.parse_error.101] parse error at line L, column C: syntax
// error while parsing X - REASON; last read: 'TEXT'; expected Y". Users need the position, X, REASON
// and Y; "last read" repeats their own file back to them, newlines escaped, so it is left out.
::std::string describe_syntax_error(::std::string_view text, const json::parse_error& error) {
  ::std::size_t offset = error.byte == 0 ? 0 : error.byte - 1;
  if (offset > text.size()) offset = text.size();
  ::std::size_t line = 1;
  ::std::size_t line_start = 0;
  for (::std::size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      line_start = i + 1;
    }
  }
  ::std::size_t column = offset - line_start + 1;

  ::std::string_view message = error.what();
  ::std::string detail = "syntax error";
  if (auto start = message.find("syntax error"); start != ::std::string_view::npos) {
    ::std::string_view rest = message.substr(start);
    auto dash = rest.find(" - ");
    ::std::string_view context = rest.substr(0, dash);
    ::std::string_view reason = dash == ::std::string_view::npos ? "" : rest.substr(dash + 3);
    ::std::string_view expected;
    if (auto at = reason.rfind("; expected "); at != ::std::string_view::npos) {
      expected = reason.substr(at + 2);
      reason = reason.substr(0, at);
    }
    if (auto at = reason.find("; last read:"); at != ::std::string_view::npos) reason = reason.substr(0, at);
    detail = ::std::string(context);
    if (!reason.empty()) detail += absl::StrCat(": ", ::std::string(reason));
    if (!expected.empty()) detail += absl::StrCat("; ", ::std::string(expected));
  }
  return absl::StrCat("line ", line, " column ", column, ": ", detail);
}

// JSON allows an object to repeat a key and nlohmann keeps the last; a repeated key in a
// configuration file is almost always a mistake, so it is an error here.
class repeated_key_finder {
 public:
  bool operator()(int /*depth*/, json::parse_event_t event, json& parsed) {
    switch (event) {
      case json::parse_event_t::object_start:
        open_objects_.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!open_objects_.empty()) open_objects_.pop_back();
        break;
      case json::parse_event_t::key:
        if (!open_objects_.empty() && parsed.is_string()) {
          const auto& key = parsed.get_ref<const ::std::string&>();
          if (!open_objects_.back().insert(key).second && !repeated_key_) repeated_key_ = key;
        }
        break;
      default:
        break;
    }
    return true;
  }

  const ::std::optional<::std::string>& repeated_key() const { return repeated_key_; }

 private:
  ::std::vector<::std::set<::std::string>> open_objects_;
  ::std::optional<::std::string> repeated_key_;
};

absl::Status check_known_keys(const json& object, ::std::string_view where, ::std::string_view known,
                              const error_maker& error) {
  for (const auto& [key, value] : object.items()) {
    bool is_known = false;
    ::std::string_view rest = known;
    while (!rest.empty()) {
      auto comma = rest.find(", ");
      if (rest.substr(0, comma) == key) is_known = true;
      rest = comma == ::std::string_view::npos ? "" : rest.substr(comma + 2);
    }
    if (!is_known) {
      return error(absl::StrCat(::std::string(where), " has an unknown key \"", key, "\"; the known keys are ",
                                ::std::string(known)));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<::std::uint64_t> size_field(const json& value, ::std::string_view field, const error_maker& error) {
  ::std::uint64_t bytes = 0;
  if (value.is_number_unsigned()) {
    bytes = value.get<::std::uint64_t>();
  } else if (value.is_string()) {
    auto parsed = parse_byte_size(value.get_ref<const ::std::string&>());
    if (!parsed.ok()) {
      return error(absl::StrCat(::std::string(field), " must be a size such as \"1GiB\" or a number of bytes, got ",
                                shown(value)));
    }
    bytes = *parsed;
  } else {
    return error(absl::StrCat(::std::string(field), " must be a size such as \"1GiB\" or a number of bytes, got ",
                              shown(value)));
  }
  return bytes;
}

absl::StatusOr<::std::uint64_t> cache_size_field(const json& value, ::std::string_view field, const error_maker& error) {
  DRUST_ASSIGN_OR_RETURN(::std::uint64_t bytes, size_field(value, field, error));
  if (bytes == 0) return error(absl::StrCat(::std::string(field), " must be larger than 0"));
  return bytes;
}

// A whole percentage from 1 to 100; 100 keeps every object on its own node until it is full.
absl::StatusOr<int> heap_pressure_field(const json& value, ::std::string_view field, const error_maker& error) {
  bool percentage = value.is_number_unsigned() ? value.get<::std::uint64_t>() >= 1 && value.get<::std::uint64_t>() <= 100
                                               : value.is_number_integer() && value.get<::std::int64_t>() >= 1 &&
                                                     value.get<::std::int64_t>() <= 100;
  if (!percentage) {
    return error(absl::StrCat(::std::string(field), " must be a whole percentage from 1 to 100, got ", shown(value)));
  }
  return value.get<int>();
}

absl::StatusOr<::std::string> nonempty_string_field(const json& value, ::std::string_view field,
                                                    const error_maker& error) {
  if (!value.is_string() || value.get_ref<const ::std::string&>().empty()) {
    return error(absl::StrCat(::std::string(field), " must be a non-empty string, got ", shown(value)));
  }
  return value.get<::std::string>();
}

absl::StatusOr<cluster_node> parse_node(const json& value, ::std::size_t index, const error_maker& error) {
  ::std::string where = absl::StrCat("nodes[", index, "]");
  if (!value.is_object()) {
    return error(absl::StrCat(where, " must be an object such as {\"host\": \"localhost\"}, got ", shown(value)));
  }
  DRUST_RETURN_IF_ERROR(check_known_keys(value, where, node_keys, error));

  cluster_node node;
  node.name = absl::StrCat("n", index);
  if (auto name = value.find("name"); name != value.end()) {
    DRUST_ASSIGN_OR_RETURN(node.name, nonempty_string_field(*name, where + ".name", error));
  }

  auto host = value.find("host");
  if (host == value.end()) return error(absl::StrCat(where, ".host is missing"));
  DRUST_ASSIGN_OR_RETURN(node.host, nonempty_string_field(*host, where + ".host", error));
  // The host becomes an ssh argument: a leading '-' would be read as an option.
  if (node.host.front() == '-' || node.host.find_first_of(" \t\n'\"\\") != ::std::string::npos) {
    return error(absl::StrCat(where, ".host must be a host name or address, got ", shown(*host)));
  }

  if (auto cores = value.find("cores"); cores != value.end()) {
    constexpr auto most_cores = static_cast<::std::uint64_t>(::std::numeric_limits<int>::max());
    bool positive_int = cores->is_number_unsigned()
                            ? cores->get<::std::uint64_t>() >= 1 && cores->get<::std::uint64_t>() <= most_cores
                            : cores->is_number_integer() && cores->get<::std::int64_t>() >= 1;
    if (!positive_int) {
      return error(absl::StrCat(where, ".cores must be a positive integer, got ", shown(*cores)));
    }
    node.cores = cores->get<int>();
  }

  if (auto heap = value.find("heap"); heap != value.end()) {
    DRUST_ASSIGN_OR_RETURN(::std::uint64_t heap_size, size_field(*heap, where + ".heap", error));
    if (heap_size < minimum_heap_size) {
      return error(absl::StrCat(where, ".heap must be at least ", format_byte_size(minimum_heap_size), ", got ",
                                shown(*heap)));
    }
    node.heap_size = heap_size;
  }

  if (auto cache = value.find("cache"); cache != value.end()) {
    DRUST_ASSIGN_OR_RETURN(node.cache_size, cache_size_field(*cache, where + ".cache", error));
  }

  if (auto pressure = value.find("heap_pressure"); pressure != value.end()) {
    DRUST_ASSIGN_OR_RETURN(node.heap_pressure, heap_pressure_field(*pressure, where + ".heap_pressure", error));
  }

  if (auto program = value.find("program"); program != value.end()) {
    DRUST_ASSIGN_OR_RETURN(node.program, nonempty_string_field(*program, where + ".program", error));
  }
  return node;
}

}  // namespace

absl::StatusOr<cluster_file> parse_cluster_file(::std::string_view text, ::std::string_view file_name) {
  error_maker error(file_name);

  repeated_key_finder repeated_keys;
  json document;
  try {
    document = json::parse(text, ::std::ref(repeated_keys), /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& syntax) {
    return absl::InvalidArgumentError(
        absl::StrCat(::std::string(file_name), " ", describe_syntax_error(text, syntax)));
  } catch (const json::out_of_range& overflow) {
    // A number past a double's range (1e999): nlohmann throws this apart from syntax errors, and
    // it used to end drun with std::terminate (found by tests/fuzz/cluster_file_fuzz).
    ::std::string_view what = overflow.what();
    if (auto tag_end = what.find("] "); tag_end != ::std::string_view::npos) what.remove_prefix(tag_end + 2);
    return error(absl::StrCat(::std::string(what), ": write a number that fits in a double"));
  }
  if (repeated_keys.repeated_key()) {
    return error(absl::StrCat("the key \"", *repeated_keys.repeated_key(),
                              "\" appears twice in one object; give each key once"));
  }
  if (!document.is_object()) {
    return error(absl::StrCat("must hold a JSON object such as {\"nodes\": [{\"host\": \"localhost\"}]}, got ",
                              shown(document)));
  }
  DRUST_RETURN_IF_ERROR(check_known_keys(document, "the top level", top_level_keys, error));

  cluster_file cluster;
  if (auto provider = document.find("provider"); provider != document.end()) {
    if (!provider->is_string()) {
      return error(absl::StrCat("provider must be a string such as \"tcp\", got ", shown(*provider)));
    }
    auto normalized = normalize_provider(provider->get_ref<const ::std::string&>());
    if (!normalized.ok()) return error(::std::string(normalized.status().message()));
    cluster.provider = *normalized;
  }

  if (auto controller = document.find("controller"); controller != document.end()) {
    if (!controller->is_string()) {
      return error(absl::StrCat("controller must be a string \"host:port\" such as \"10.0.0.1:7000\", got ",
                                shown(*controller)));
    }
    auto address = control::split_host_port(controller->get_ref<const ::std::string&>());
    if (!address.ok()) {
      return error(absl::StrCat("controller must be \"host:port\" such as \"10.0.0.1:7000\", got ",
                                shown(*controller)));
    }
    cluster.controller = controller_address{address->first, address->second};
  }

  if (auto cache = document.find("cache_size"); cache != document.end()) {
    DRUST_ASSIGN_OR_RETURN(cluster.cache_size, cache_size_field(*cache, "cache_size", error));
  }

  if (auto pressure = document.find("heap_pressure"); pressure != document.end()) {
    DRUST_ASSIGN_OR_RETURN(cluster.heap_pressure, heap_pressure_field(*pressure, "heap_pressure", error));
  }

  auto nodes = document.find("nodes");
  if (nodes == document.end()) {
    return error("nodes is missing: list the nodes, e.g. \"nodes\": [{\"host\": \"localhost\"}]");
  }
  if (!nodes->is_array() || nodes->empty()) {
    return error(absl::StrCat("nodes must be a non-empty array such as [{\"host\": \"localhost\"}], got ",
                              shown(*nodes)));
  }
  for (::std::size_t i = 0; i < nodes->size(); ++i) {
    DRUST_ASSIGN_OR_RETURN(cluster_node node, parse_node((*nodes)[i], i, error));
    for (::std::size_t earlier = 0; earlier < cluster.nodes.size(); ++earlier) {
      if (cluster.nodes[earlier].name == node.name) {
        return error(absl::StrCat("nodes[", i, "] duplicates the name \"", node.name, "\" of nodes[", earlier,
                                  "]; give every node its own name"));
      }
    }
    cluster.nodes.push_back(::std::move(node));
  }
  return cluster;
}

absl::StatusOr<cluster_file> read_cluster_file(const ::std::string& path) {
  ::std::ifstream file(path);
  if (!file) return errno_status(absl::StrCat("cannot read the cluster file '", path, "'"));
  ::std::ostringstream text;
  text << file.rdbuf();
  if (file.bad()) return errno_status(absl::StrCat("cannot read the cluster file '", path, "'"));
  return parse_cluster_file(text.str(), path);
}

}  // namespace drust::launcher
