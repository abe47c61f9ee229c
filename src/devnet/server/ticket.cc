#include "devnet/server/ticket.h"

#include <cstring>

namespace amp::devnet::server {
namespace {

constexpr uint8_t kU16Marker = 251;
constexpr uint8_t kU32Marker = 252;
constexpr uint8_t kU64Marker = 253;

void AppendLittleEndian(uint64_t value, int bytes, std::string* out) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

void AppendString(std::string_view s, std::string* out) {
  AppendVarint(s.size(), out);
  out->append(s);
}

// Rust's String decoding rejects invalid UTF-8 (overlong forms, surrogates, > U+10FFFF),
// so a ticket carrying such a query is a decoding error there and here.
bool IsValidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    if ((c & 0xe0) == 0xc0) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= s.size()) return false;
    for (int k = 1; k <= extra; ++k) {
      const auto cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMinForLength[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }

  Result<uint8_t> Byte(const char* what) {
    if (remaining() < 1) return Truncated(what);
    return static_cast<uint8_t>(bytes_[pos_++]);
  }

  Result<uint64_t> LittleEndian(int n, const char* what) {
    if (remaining() < static_cast<size_t>(n)) return Truncated(what);
    uint64_t v = 0;
    for (int i = 0; i < n; ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(bytes_[pos_ + i])) << (8 * i);
    }
    pos_ += n;
    return v;
  }

  Result<uint64_t> Varint(const char* what) {
    AMP_ASSIGN_OR_RETURN(uint8_t first, Byte(what));
    if (first < kU16Marker) return first;
    switch (first) {
      case kU16Marker:
        return LittleEndian(2, what);
      case kU32Marker:
        return LittleEndian(4, what);
      case kU64Marker:
        return LittleEndian(8, what);
      default:
        // 254 announces a u128, which cannot fit the u64 fields of the ticket; 255 is
        // never a valid marker.
        return Status::Invalid("invalid ticket: bad varint marker ", static_cast<int>(first),
                               " for ", what, " at byte ", pos_ - 1);
    }
  }

  Result<bool> Bool(const char* what) {
    AMP_ASSIGN_OR_RETURN(uint8_t b, Byte(what));
    if (b > 1) {
      return Status::Invalid("invalid ticket: ", what, " must be 0 or 1, got ",
                             static_cast<int>(b));
    }
    return b == 1;
  }

  Result<std::string> String(const char* what) {
    AMP_ASSIGN_OR_RETURN(uint64_t len, Varint(what));
    if (len > remaining()) return Truncated(what);
    std::string s(bytes_.substr(pos_, len));
    pos_ += len;
    if (!IsValidUtf8(s)) return Status::Invalid("invalid ticket: ", what, " is not valid UTF-8");
    return s;
  }

  Status Raw(void* dst, size_t n, const char* what) {
    if (remaining() < n) return Truncated(what);
    std::memcpy(dst, bytes_.data() + pos_, n);
    pos_ += n;
    return Status::OK();
  }

 private:
  Status Truncated(const char* what) const {
    return Status::Invalid("invalid ticket: truncated while reading ", what, " (", bytes_.size(),
                           " bytes)");
  }

  std::string_view bytes_;
  size_t pos_ = 0;
};

}  // namespace

void AppendVarint(uint64_t value, std::string* out) {
  if (value < kU16Marker) {
    out->push_back(static_cast<char>(value));
  } else if (value <= 0xffff) {
    out->push_back(static_cast<char>(kU16Marker));
    AppendLittleEndian(value, 2, out);
  } else if (value <= 0xffffffffULL) {
    out->push_back(static_cast<char>(kU32Marker));
    AppendLittleEndian(value, 4, out);
  } else {
    out->push_back(static_cast<char>(kU64Marker));
    AppendLittleEndian(value, 8, out);
  }
}

std::string EncodeTicket(const AmpTicket& ticket) {
  std::string out;
  AppendString(ticket.query, &out);
  out.push_back(ticket.is_streaming ? 1 : 0);
  if (!ticket.cursor.has_value()) {
    out.push_back(0);
    return out;
  }
  out.push_back(1);
  AppendVarint(ticket.cursor->size(), &out);
  // std::map iterates in byte-wise key order, which is BTreeMap<String, _>'s order.
  for (const auto& [network, c] : *ticket.cursor) {
    AppendString(network, &out);
    AppendVarint(c.number, &out);
    out.append(reinterpret_cast<const char*>(c.hash.bytes.data()), c.hash.bytes.size());
  }
  return out;
}

Result<AmpTicket> DecodeTicket(std::string_view bytes) {
  Reader r(bytes);
  AmpTicket ticket;
  AMP_ASSIGN_OR_RETURN(ticket.query, r.String("query"));
  AMP_ASSIGN_OR_RETURN(ticket.is_streaming, r.Bool("is_streaming"));
  AMP_ASSIGN_OR_RETURN(uint8_t tag, r.Byte("cursor option tag"));
  if (tag > 1) {
    return Status::Invalid("invalid ticket: cursor option tag must be 0 or 1, got ",
                           static_cast<int>(tag));
  }
  if (tag == 1) {
    AMP_ASSIGN_OR_RETURN(uint64_t count, r.Varint("cursor length"));
    // Each entry takes at least 1 + 1 + 32 bytes: reject absurd counts before looping.
    if (count > r.remaining() / 34) {
      return Status::Invalid("invalid ticket: cursor claims ", count, " entries in ",
                             r.remaining(), " bytes");
    }
    std::map<std::string, NetworkCursor> cursor;
    for (uint64_t i = 0; i < count; ++i) {
      AMP_ASSIGN_OR_RETURN(std::string network, r.String("cursor network"));
      NetworkCursor c;
      AMP_ASSIGN_OR_RETURN(c.number, r.Varint("cursor block number"));
      AMP_RETURN_NOT_OK(r.Raw(c.hash.bytes.data(), c.hash.bytes.size(), "cursor block hash"));
      cursor[std::move(network)] = c;
    }
    ticket.cursor = std::move(cursor);
  }
  if (r.remaining() != 0) {
    return Status::Invalid("invalid ticket: ", r.remaining(), " trailing bytes");
  }
  return ticket;
}

}  // namespace amp::devnet::server
