#include "loaders/common/names.h"

#include <arrow/type.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>

#include "common/ascii.h"

namespace amp::loaders {
namespace {

constexpr const char* kBlockStart = "_amp_block_start";
constexpr const char* kBlockEnd = "_amp_block_end";

// `subject` names the name and where it is used: `table name "a\nb"`.
Status NameError(const NameRules& rules, const std::string& subject, const std::string& why) {
  return WithErrorInfo(Status::Invalid("[", rules.destination, "] ", subject, " is not allowed: ", why),
                       ErrorClass::kFatal, "loader", "BAD_NAME");
}

// Decodes one UTF-8 sequence at text[i]; nullopt when it is not well-formed (overlong
// forms, surrogates and values above U+10FFFF included).
std::optional<uint32_t> DecodeAt(const std::string& text, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(text[k]); };
  const unsigned char b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  size_t len = 0;
  uint32_t cp = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return std::nullopt;
  }
  if (i + len > text.size()) return std::nullopt;
  for (size_t k = 1; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return std::nullopt;
    cp = (cp << 6) | (byte(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
  i += len;
  return cp;
}

bool IsControl(uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F); }

std::string CodePoint(uint32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof(buf), "U+%04X", static_cast<unsigned>(cp));
  return buf;
}

std::string ShowChar(char c) {
  if (c == ' ') return "' ' (space)";
  return std::string("'") + c + "'";
}

std::string ShowChars(const std::string& chars) {
  std::string out;
  for (char c : chars) out += (out.empty() ? "" : " ") + (c == ' ' ? std::string("space") : std::string(1, c));
  return out;
}

// The rules every destination shares: not empty, UTF-8, no control characters.
Status CheckCommon(const NameRules& rules, const std::string& subject, const std::string& name,
                   size_t max_bytes) {
  if (name.empty()) return NameError(rules, subject, "names must not be empty");
  for (size_t i = 0; i < name.size();) {
    const size_t at = i;
    auto cp = DecodeAt(name, i);
    if (!cp) {
      return NameError(rules, subject,
                       "byte " + std::to_string(at) + " is not valid UTF-8; names must be UTF-8 text");
    }
    if (IsControl(*cp)) {
      return NameError(rules, subject,
                       "it contains the control character " + CodePoint(*cp) +
                           "; names must not contain control characters (newlines, tabs, ...), "
                           "which other tools cannot show or open");
    }
  }
  if (max_bytes > 0 && name.size() > max_bytes) {
    return NameError(rules, subject,
                     "it is " + std::to_string(name.size()) + " bytes long, the limit is " +
                         std::to_string(max_bytes) + " bytes" +
                         (rules.length_reason.empty() ? "" : " (" + rules.length_reason + ")"));
  }
  return Status::OK();
}

}  // namespace

std::string ShowName(const std::string& name) {
  constexpr size_t kShown = 80;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < name.size() && i < kShown;) {
    const size_t at = i;
    auto cp = DecodeAt(name, i);
    if (!cp || IsControl(*cp)) {
      const unsigned char c = static_cast<unsigned char>(name[at]);
      if (cp && *cp == '\n') {
        out += "\\n";
      } else if (cp && *cp == '\t') {
        out += "\\t";
      } else if (cp && *cp == '\r') {
        out += "\\r";
      } else if (cp && *cp >= 0x80) {  // a C1 control: two bytes
        for (size_t k = at; k < i; ++k) {
          const unsigned char b = static_cast<unsigned char>(name[k]);
          out += std::string("\\x") + kHex[b >> 4] + kHex[b & 15];
        }
      } else {
        out += std::string("\\x") + kHex[c >> 4] + kHex[c & 15];
        i = at + 1;
      }
      continue;
    }
    if (*cp == '"' || *cp == '\\') out += '\\';
    out.append(name, at, i - at);
  }
  out += "\"";
  if (name.size() > kShown) out += "... (" + std::to_string(name.size()) + " bytes)";
  return out;
}

const NameRules& PostgresNameRules() {
  static const NameRules rules{
      .destination = "postgres",
      // NAMEDATALEN - 1: longer identifiers are silently truncated, so two long names could
      // land in one table or column.
      .max_table_bytes = 63,
      .max_column_bytes = 63,
      .length_reason = "PostgreSQL truncates longer identifiers silently",
      .reserved_tables = {"amp_client_state"},
      .reserved_columns = {kBlockStart, kBlockEnd},
  };
  return rules;
}

const NameRules& RedisNameRules() {
  static const NameRules rules{
      .destination = "redis",
      .reserved_columns = {kBlockStart, kBlockEnd, "_amp_seq"},
  };
  return rules;
}

const NameRules& DeltaNameRules() {
  static const NameRules rules{
      .destination = "delta",
      // A table is the directory <root>/<table>: one path component (NAME_MAX), which the
      // deltalake package parses as a URL path: it decodes %XX and treats \ as a separator.
      .max_table_bytes = 255,
      .length_reason = "a table is one directory name",
      .table_forbidden_chars = "/\\%",
      .table_forbidden_reason = "a table is one directory under the root, and the deltalake "
                                "package reads / and \\ as separators and %XX as escapes",
      // Delta Lake without column mapping (what we write) forbids these in column names;
      // Spark refuses to read such tables.
      .column_forbidden_chars = " ,;{}()=",
      .column_forbidden_reason = "Delta Lake tables without column mapping cannot hold them "
                                 "(Spark refuses to read such a table)",
      .table_forbidden_first = "._",
      .table_forbidden_first_reason = "Delta readers skip files and directories starting with "
                                      ". or _ (like _delta_log)",
      .reserved_columns = {kBlockStart, kBlockEnd},
      .columns_case_insensitive = true,
  };
  return rules;
}

const NameRules& MemoryNameRules() {
  static const NameRules rules{
      .destination = "memory",
      .reserved_columns = {kBlockStart, kBlockEnd},
  };
  return rules;
}

Status CheckTableName(const NameRules& rules, const std::string& table) {
  const std::string subject = "table name " + ShowName(table);
  AMP_RETURN_NOT_OK(CheckCommon(rules, subject, table, rules.max_table_bytes));
  if (table == "." || table == "..") {
    return NameError(rules, subject, "it names a directory, not a table");
  }
  if (!rules.table_forbidden_first.empty() &&
      rules.table_forbidden_first.find(table.front()) != std::string::npos) {
    return NameError(rules, subject,
                     "table names must not start with " + ShowChars(rules.table_forbidden_first) +
                         ": " + rules.table_forbidden_first_reason);
  }
  if (const size_t bad = table.find_first_of(rules.table_forbidden_chars);
      !rules.table_forbidden_chars.empty() && bad != std::string::npos) {
    return NameError(rules, subject,
                     "it contains " + ShowChar(table[bad]) + "; table names must not contain " +
                         ShowChars(rules.table_forbidden_chars) + ": " +
                         rules.table_forbidden_reason);
  }
  for (const auto& reserved : rules.reserved_tables) {
    if (table == reserved) {
      return NameError(rules, subject, "the loader keeps its own state in a table of that name");
    }
  }
  return Status::OK();
}

Status CheckColumnNames(const NameRules& rules, const std::string& table,
                        const std::vector<std::string>& columns) {
  std::map<std::string, std::string> seen;  // key (maybe lowered) -> first spelling
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::string& name = columns[i];
    const std::string subject = "column name " + ShowName(name) + " (column " +
                                std::to_string(i + 1) + " of the query, for table " +
                                ShowName(table) + ")";
    AMP_RETURN_NOT_OK(CheckCommon(rules, subject, name, rules.max_column_bytes));
    if (const size_t bad = name.find_first_of(rules.column_forbidden_chars);
        !rules.column_forbidden_chars.empty() && bad != std::string::npos) {
      return NameError(rules, subject,
                       "it contains " + ShowChar(name[bad]) + "; column names must not contain " +
                           ShowChars(rules.column_forbidden_chars) + ": " +
                           rules.column_forbidden_reason + ". Rename it with AS in the query");
    }
    for (const auto& reserved : rules.reserved_columns) {
      if (name == reserved) {
        return NameError(rules, subject,
                         "the loader adds a column of that name itself. Rename it with AS in the "
                         "query");
      }
    }
    const std::string key = rules.columns_case_insensitive ? AsciiLower(name) : name;
    auto [it, inserted] = seen.emplace(key, name);
    if (!inserted) {
      return NameError(rules, subject,
                       it->second == name
                           ? std::string("the query has two columns of that name")
                           : "it differs from column " + ShowName(it->second) +
                                 " only in case, and the destination ignores case in column "
                                 "names");
    }
  }
  return Status::OK();
}

Status CheckNames(const NameRules& rules, const TableSpec& spec) {
  AMP_RETURN_NOT_OK(CheckTableName(rules, spec.name));
  if (spec.schema == nullptr) return Status::OK();
  std::vector<std::string> columns;
  for (const auto& field : spec.schema->fields()) columns.push_back(field->name());
  return CheckColumnNames(rules, spec.name, columns);
}

}  // namespace amp::loaders
