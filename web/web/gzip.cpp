// tornado.web: GZipContentEncoding, the output transform that gzips responses. zlib stays in this
// implementation unit (see DESIGN.md: third-party C headers never reach an interface).
module;
#include <zlib.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
module tornado.web;

namespace tornado::web {

// One gzip stream (RFC 1952 framing from zlib's windowBits + 16), fed a chunk at a time.
struct GZipContentEncoding::Deflater {
  z_stream zs{};
  bool active = false;

  explicit Deflater(int level) {
    // windowBits 15 + 16 writes the gzip header and trailer, as Python's GzipFile does; memLevel 8
    // is zlib's default (and GzipFile's).
    if (deflateInit2(&zs, level, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
      throw std::runtime_error("deflateInit2 failed");
    active = true;
  }
  ~Deflater() {
    if (active) deflateEnd(&zs);
  }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  // Compresses `in` and returns what zlib produced. Z_SYNC_FLUSH (GzipFile.flush) ends every chunk
  // on a byte boundary so the client can decode what it has so far; Z_FINISH writes the trailer.
  std::string compress(std::string_view in, bool finishing) {
    std::string out;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs.avail_in = static_cast<uInt>(in.size());
    const int flush = finishing ? Z_FINISH : Z_SYNC_FLUSH;
    std::size_t step = std::max<std::size_t>(deflateBound(&zs, static_cast<uLong>(in.size())) + 32, 256);
    for (;;) {
      std::size_t old = out.size();
      out.resize(old + step);
      zs.next_out = reinterpret_cast<Bytef*>(out.data() + old);
      zs.avail_out = static_cast<uInt>(step);
      int rc = deflate(&zs, flush);
      out.resize(old + step - zs.avail_out);
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK && rc != Z_BUF_ERROR) throw std::runtime_error("deflate failed");
      // Done when zlib consumed everything and had room left over: the flush is complete.
      if (zs.avail_in == 0 && zs.avail_out != 0 && !finishing) break;
    }
    if (finishing) {
      deflateEnd(&zs);
      active = false;
    }
    return out;
  }
};

GZipContentEncoding::GZipContentEncoding(const httputil::HTTPServerRequest& request)
    : gzipping_(request.headers.get("Accept-Encoding", "").find("gzip") != std::string::npos) {}

GZipContentEncoding::~GZipContentEncoding() = default;

bool GZipContentEncoding::compressible_type(std::string_view ctype) {
  if (ctype.starts_with("text/")) return true;
  return std::find(CONTENT_TYPES.begin(), CONTENT_TYPES.end(), ctype) != CONTENT_TYPES.end();
}

void GZipContentEncoding::transform_first_chunk(int& status_code, httputil::HTTPHeaders& headers, std::string& chunk,
                                                bool finishing) {
  // Caches must keep the gzipped and plain variants apart whether or not this response is
  // compressed (RFC 9110 12.5.5).
  if (auto vary = headers.get("Vary")) {
    headers.set("Vary", *vary + ", Accept-Encoding");
  } else {
    headers.set("Vary", "Accept-Encoding");
  }
  if (gzipping_) {
    std::string ctype = headers.get("Content-Type", "");
    ctype.resize(std::min(ctype.size(), ctype.find(';')));
    // A single short chunk is not worth the gzip framing; a streamed response (not finishing)
    // is compressed whatever its first chunk's size.
    gzipping_ = compressible_type(ctype) && (!finishing || chunk.size() >= MIN_LENGTH) &&
                !headers.contains("Content-Encoding");
  }
  if (!gzipping_) return;
  headers.set("Content-Encoding", "gzip");
  deflater_ = std::make_unique<Deflater>(GZIP_LEVEL);
  transform_chunk(chunk, finishing);
  if (headers.contains("Content-Length")) {
    // The length given was the uncompressed one. The whole body is known only when finishing;
    // otherwise the response falls back to chunked encoding.
    if (finishing) {
      headers.set("Content-Length", std::to_string(chunk.size()));
    } else {
      headers.remove("Content-Length");
    }
  }
}

void GZipContentEncoding::transform_chunk(std::string& chunk, bool finishing) {
  if (!gzipping_ || !deflater_) return;
  chunk = deflater_->compress(chunk, finishing);
  if (finishing) deflater_.reset();
}

}  // namespace tornado::web
