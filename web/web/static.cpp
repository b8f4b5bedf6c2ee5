// tornado.web: StaticFileHandler (and the mimetypes table it guesses Content-Type with).
// Mirrors tornado.web.StaticFileHandler of Tornado 6.2.
module;
#include <openssl/evp.h>
#include <sys/stat.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unistd.h>
#include <utility>
#include <vector>
module tornado.web;

import tornado.log;
import tornado.iostream;

namespace tornado::web {

namespace {

// --- Paths, as Python's posixpath does them (Tornado's checks are defined in its terms) ---------

// posixpath.normpath: lexical; "." and empty parts dropped, ".." pops (never above the root),
// exactly two leading slashes kept (POSIX leaves them implementation-defined).
std::string normpath(std::string_view path) {
  if (path.empty()) return ".";
  std::size_t initial_slashes = path.starts_with('/') ? 1 : 0;
  if (path.starts_with("//") && !path.starts_with("///")) initial_slashes = 2;
  std::vector<std::string_view> comps;
  std::size_t i = 0;
  while (i <= path.size()) {
    std::size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view comp = path.substr(i, j - i);
    i = j + 1;
    if (comp.empty() || comp == ".") continue;
    if (comp != ".." || (initial_slashes == 0 && comps.empty()) || (!comps.empty() && comps.back() == "..")) {
      comps.push_back(comp);
    } else if (!comps.empty()) {
      comps.pop_back();
    }
  }
  std::string out(initial_slashes, '/');
  for (std::size_t k = 0; k < comps.size(); ++k) {
    if (k) out += '/';
    out += comps[k];
  }
  return out.empty() ? "." : out;
}

// posixpath.join of two parts: an absolute second part replaces the first.
std::string join(std::string_view a, std::string_view b) {
  if (b.starts_with('/') || a.empty()) return std::string(b);
  std::string out(a);
  if (!out.ends_with('/')) out += '/';
  out += b;
  return out;
}

// os.path.abspath: joined onto the working directory if relative, then normpath.
std::string abspath(std::string_view path) {
  if (path.starts_with('/')) return normpath(path);
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  return normpath(join(ec ? std::string("/") : cwd.string(), path));
}

// os.stat, refusing a path with a NUL byte as Python does (the C call would cut the path short
// there, and stat a different file than the one named).
bool stat_path(const std::string& path, struct ::stat& st) {
  if (path.find('\0') != std::string::npos) return false;
  return ::stat(path.c_str(), &st) == 0;
}
bool is_dir(const std::string& path) {
  struct ::stat st {};
  return stat_path(path, st) && S_ISDIR(st.st_mode);
}
bool is_file(const std::string& path) {
  struct ::stat st {};
  return stat_path(path, st) && S_ISREG(st.st_mode);
}
bool exists(const std::string& path) {
  struct ::stat st {};
  return stat_path(path, st);
}

// --- mimetypes ----------------------------------------------------------------------------------

// Python 3.11's mimetypes: its built-in table, then the system's mime.types files read over it
// (later entries win), so that a file gets the Content-Type Python Tornado would send on the same
// machine.
struct MimeTypes {
  std::map<std::string, std::string, std::less<>> types_map;

  MimeTypes() {
    static constexpr std::pair<const char*, const char*> defaults[] = {
        {".js", "application/javascript"}, {".mjs", "application/javascript"}, {".json", "application/json"},
        {".webmanifest", "application/manifest+json"}, {".doc", "application/msword"},
        {".dot", "application/msword"}, {".wiz", "application/msword"}, {".nq", "application/n-quads"},
        {".nt", "application/n-triples"}, {".bin", "application/octet-stream"},
        {".a", "application/octet-stream"}, {".dll", "application/octet-stream"},
        {".exe", "application/octet-stream"}, {".o", "application/octet-stream"},
        {".obj", "application/octet-stream"}, {".so", "application/octet-stream"}, {".oda", "application/oda"},
        {".pdf", "application/pdf"}, {".p7c", "application/pkcs7-mime"}, {".ps", "application/postscript"},
        {".ai", "application/postscript"}, {".eps", "application/postscript"}, {".trig", "application/trig"},
        {".m3u", "application/vnd.apple.mpegurl"}, {".m3u8", "application/vnd.apple.mpegurl"},
        {".xls", "application/vnd.ms-excel"}, {".xlb", "application/vnd.ms-excel"},
        {".ppt", "application/vnd.ms-powerpoint"}, {".pot", "application/vnd.ms-powerpoint"},
        {".ppa", "application/vnd.ms-powerpoint"}, {".pps", "application/vnd.ms-powerpoint"},
        {".pwz", "application/vnd.ms-powerpoint"}, {".wasm", "application/wasm"},
        {".bcpio", "application/x-bcpio"}, {".cpio", "application/x-cpio"}, {".csh", "application/x-csh"},
        {".dvi", "application/x-dvi"}, {".gtar", "application/x-gtar"}, {".hdf", "application/x-hdf"},
        {".h5", "application/x-hdf5"}, {".latex", "application/x-latex"}, {".mif", "application/x-mif"},
        {".cdf", "application/x-netcdf"}, {".nc", "application/x-netcdf"}, {".p12", "application/x-pkcs12"},
        {".pfx", "application/x-pkcs12"}, {".ram", "application/x-pn-realaudio"},
        {".pyc", "application/x-python-code"}, {".pyo", "application/x-python-code"},
        {".sh", "application/x-sh"}, {".shar", "application/x-shar"}, {".swf", "application/x-shockwave-flash"},
        {".sv4cpio", "application/x-sv4cpio"}, {".sv4crc", "application/x-sv4crc"},
        {".tar", "application/x-tar"}, {".tcl", "application/x-tcl"}, {".tex", "application/x-tex"},
        {".texi", "application/x-texinfo"}, {".texinfo", "application/x-texinfo"},
        {".roff", "application/x-troff"}, {".t", "application/x-troff"}, {".tr", "application/x-troff"},
        {".man", "application/x-troff-man"}, {".me", "application/x-troff-me"},
        {".ms", "application/x-troff-ms"}, {".ustar", "application/x-ustar"},
        {".src", "application/x-wais-source"}, {".xsl", "application/xml"}, {".rdf", "application/xml"},
        {".wsdl", "application/xml"}, {".xpdl", "application/xml"}, {".zip", "application/zip"},
        {".3gp", "audio/3gpp"}, {".3gpp", "audio/3gpp"}, {".3g2", "audio/3gpp2"}, {".3gpp2", "audio/3gpp2"},
        {".aac", "audio/aac"}, {".adts", "audio/aac"}, {".loas", "audio/aac"}, {".ass", "audio/aac"},
        {".au", "audio/basic"}, {".snd", "audio/basic"}, {".mp3", "audio/mpeg"}, {".mp2", "audio/mpeg"},
        {".opus", "audio/opus"}, {".aif", "audio/x-aiff"}, {".aifc", "audio/x-aiff"}, {".aiff", "audio/x-aiff"},
        {".ra", "audio/x-pn-realaudio"}, {".wav", "audio/x-wav"}, {".avif", "image/avif"}, {".bmp", "image/bmp"},
        {".gif", "image/gif"}, {".ief", "image/ief"}, {".jpg", "image/jpeg"}, {".jpe", "image/jpeg"},
        {".jpeg", "image/jpeg"}, {".heic", "image/heic"}, {".heif", "image/heif"}, {".png", "image/png"},
        {".svg", "image/svg+xml"}, {".tiff", "image/tiff"}, {".tif", "image/tiff"},
        {".ico", "image/vnd.microsoft.icon"}, {".ras", "image/x-cmu-raster"},
        {".pnm", "image/x-portable-anymap"}, {".pbm", "image/x-portable-bitmap"},
        {".pgm", "image/x-portable-graymap"}, {".ppm", "image/x-portable-pixmap"}, {".rgb", "image/x-rgb"},
        {".xbm", "image/x-xbitmap"}, {".xpm", "image/x-xpixmap"}, {".xwd", "image/x-xwindowdump"},
        {".eml", "message/rfc822"}, {".mht", "message/rfc822"}, {".mhtml", "message/rfc822"},
        {".nws", "message/rfc822"}, {".css", "text/css"}, {".csv", "text/csv"}, {".html", "text/html"},
        {".htm", "text/html"}, {".n3", "text/n3"}, {".txt", "text/plain"}, {".bat", "text/plain"},
        {".c", "text/plain"}, {".h", "text/plain"}, {".ksh", "text/plain"}, {".pl", "text/plain"},
        {".srt", "text/plain"}, {".rtx", "text/richtext"}, {".tsv", "text/tab-separated-values"},
        {".vtt", "text/vtt"}, {".py", "text/x-python"}, {".etx", "text/x-setext"}, {".sgm", "text/x-sgml"},
        {".sgml", "text/x-sgml"}, {".vcf", "text/x-vcard"}, {".xml", "text/xml"}, {".mp4", "video/mp4"},
        {".mpeg", "video/mpeg"}, {".m1v", "video/mpeg"}, {".mpa", "video/mpeg"}, {".mpe", "video/mpeg"},
        {".mpg", "video/mpeg"}, {".mov", "video/quicktime"}, {".qt", "video/quicktime"}, {".webm", "video/webm"},
        {".avi", "video/x-msvideo"}, {".movie", "video/x-sgi-movie"}
    };
    for (const auto& [ext, type] : defaults) types_map[ext] = type;
    // mimetypes.knownfiles, in order.
    static constexpr const char* knownfiles[] = {
        "/etc/mime.types",
        "/etc/httpd/mime.types",
        "/etc/httpd/conf/mime.types",
        "/etc/apache/mime.types",
        "/etc/apache2/mime.types",
        "/usr/local/etc/httpd/conf/mime.types",
        "/usr/local/lib/netscape/mime.types",
        "/usr/local/etc/httpd/conf/mime.types",
        "/usr/local/etc/mime.types",
    };
    for (const char* file : knownfiles) {
      if (is_file(file)) read(file);
    }
  }

  // MimeTypes.readfp: "type ext ext..." per line, '#' starts a comment word.
  void read(const char* file) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> words;
      std::size_t i = 0;
      while (i < line.size()) {
        while (i < line.size() && std::isspace(static_cast<unsigned char>(line[i]))) ++i;
        std::size_t j = i;
        while (j < line.size() && !std::isspace(static_cast<unsigned char>(line[j]))) ++j;
        if (j > i) {
          if (line[i] == '#') break;
          words.emplace_back(line, i, j - i);
        }
        i = j;
      }
      if (words.size() < 2) continue;
      for (std::size_t k = 1; k < words.size(); ++k) types_map["." + words[k]] = words[0];
    }
  }

  // posixpath.splitext: the extension starts at the last dot of the last component, unless the
  // component is only leading dots before it (".bashrc" has none).
  static std::pair<std::string, std::string> splitext(std::string_view p) {
    std::size_t sep = p.rfind('/');
    std::size_t dot = p.rfind('.');
    std::size_t sep_end = sep == std::string_view::npos ? 0 : sep + 1;
    if (dot != std::string_view::npos && dot >= sep_end) {
      for (std::size_t k = sep_end; k < dot; ++k) {
        if (p[k] != '.') return {std::string(p.substr(0, dot)), std::string(p.substr(dot))};
      }
    }
    return {std::string(p), std::string()};
  }

  static std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  // MimeTypes.guess_type(path, strict=True): (type, encoding).
  std::pair<std::optional<std::string>, std::optional<std::string>> guess_type(std::string_view path) const {
    static const std::map<std::string, std::string, std::less<>> suffix_map{
        {".svgz", ".svg.gz"}, {".tgz", ".tar.gz"},   {".taz", ".tar.gz"},
        {".tz", ".tar.gz"},   {".tbz2", ".tar.bz2"}, {".txz", ".tar.xz"}};
    // Encoding suffixes are case-sensitive (".Z" is compress, ".z" nothing).
    static const std::map<std::string, std::string, std::less<>> encodings_map{
        {".gz", "gzip"}, {".Z", "compress"}, {".bz2", "bzip2"}, {".xz", "xz"}, {".br", "br"}};
    auto [base, ext] = splitext(path);
    for (;;) {
      auto it = suffix_map.find(lower(ext));
      if (it == suffix_map.end()) break;
      std::tie(base, ext) = splitext(base + it->second);
    }
    std::optional<std::string> encoding;
    if (auto it = encodings_map.find(ext); it != encodings_map.end()) {
      encoding = it->second;
      std::tie(base, ext) = splitext(base);
    }
    // Stored suffixes are matched exactly, after lower-casing the requested one (as Python does).
    if (auto it = types_map.find(lower(ext)); it != types_map.end()) return {it->second, encoding};
    return {std::nullopt, encoding};
  }
};

const MimeTypes& mimetypes() {
  static const MimeTypes db;
  return db;
}

// --- The class-level hash cache -----------------------------------------------------------------

// StaticFileHandler._static_hashes and its lock: absolute path -> content version (nullopt when
// the file could not be read). Shared by every StaticFileHandler class, as in Tornado unless a
// subclass resets its own.
struct HashCache {
  std::mutex lock;
  std::map<std::string, std::optional<std::string>, std::less<>> hashes;
};
HashCache& hash_cache() {
  static HashCache cache;
  return cache;
}

constexpr std::size_t chunk_size = 64 * 1024;

}  // namespace

// --- StaticFileHandler --------------------------------------------------------------------------

void StaticFileHandler::initialize(std::string path, std::optional<std::string> default_filename) {
  root = std::move(path);
  this->default_filename = std::move(default_filename);
}

void StaticFileHandler::reset() {
  auto& cache = hash_cache();
  std::lock_guard guard(cache.lock);
  cache.hashes.clear();
}

Future<void> StaticFileHandler::get(std::string path) { return serve(std::move(path), true); }

Future<void> StaticFileHandler::head(std::string path) { return serve(std::move(path), false); }

Future<void> StaticFileHandler::serve(std::string url_path, bool include_body) {
  path = parse_url_path(url_path);
  absolute_path = validate_absolute_path(root, get_absolute_path(root, path));
  if (!absolute_path) co_return;

  modified = get_modified_time();
  set_headers();

  if (should_return_304()) {
    set_status(304);
    co_return;
  }

  std::optional<httputil::ByteRange> request_range;
  if (auto range_header = request().headers.get("Range"); range_header && !range_header->empty()) {
    // RFC 9110 14.2: a Range header that cannot be parsed is ignored.
    request_range = httputil::parse_request_range(*range_header);
  }

  const std::int64_t size = get_content_size();
  std::optional<std::int64_t> start, end;
  if (request_range) {
    start = request_range->start;
    end = request_range->end;
    if (start && *start < 0) {
      *start += size;
      if (*start < 0) start = 0;
    }
    // RFC 9110 14.1.1: unsatisfiable when the first byte is at or past the end, when the last
    // byte comes before the first, or for a zero-length suffix.
    if ((start && (*start >= size || (end && *start >= *end))) || (end && *end == 0)) {
      set_status(416);
      set_header("Content-Type", "text/plain");
      set_header("Content-Range", "bytes */" + std::to_string(size));
      co_return;
    }
    // Clients sometimes ask for a large range to cap their download: clamp it to the file.
    if (end && *end > size) end = size;
    // 206 only when less than the whole file was asked for: Chrome will not play audio answered
    // with a 206 to "bytes=0-".
    if (size != end.value_or(size) - start.value_or(0)) {
      set_status(206);
      set_header("Content-Range", httputil::get_content_range(start, end, size));
    }
  }

  std::int64_t content_length;
  if (start && end) {
    content_length = *end - *start;
  } else if (end) {
    content_length = *end;
  } else if (start) {
    content_length = size - *start;
  } else {
    content_length = size;
  }
  set_header("Content-Length", content_length);

  if (include_body) {
    ContentGenerator content = get_content(*absolute_path, start, end);
    while (auto chunk = content()) {
      write(*chunk);
      // Send each chunk before reading the next: the file is never held in memory whole, and a
      // slow client slows the reading down.
      try {
        co_await flush();
      } catch (const iostream::StreamClosedError&) {
        co_return;
      }
    }
  }
}

std::optional<std::string> StaticFileHandler::compute_etag() {
  if (!absolute_path) return std::nullopt;
  auto version_hash = get_cached_version(*absolute_path);
  if (!version_hash) return std::nullopt;
  return '"' + *version_hash + '"';
}

void StaticFileHandler::set_headers() {
  set_header("Accept-Ranges", "bytes");
  set_etag_header();
  if (modified) set_header("Last-Modified", httputil::format_timestamp(static_cast<double>(*modified)));
  std::string content_type = get_content_type();
  if (!content_type.empty()) set_header("Content-Type", content_type);
  std::int64_t cache_time = get_cache_time(path, modified, content_type);
  if (cache_time > 0) {
    double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    set_header("Expires", httputil::format_timestamp(now + static_cast<double>(cache_time)));
    set_header("Cache-Control", "max-age=" + std::to_string(cache_time));
  }
  set_extra_headers(path);
}

bool StaticFileHandler::should_return_304() {
  // With If-None-Match, If-Modified-Since is ignored (RFC 9110 13.1.3).
  if (auto inm = request().headers.get("If-None-Match"); inm && !inm->empty()) return check_etag_header();
  if (auto ims = request().headers.get("If-Modified-Since")) {
    // As Python's email.utils.parsedate, the zone is ignored and the time taken as UTC.
    if (auto if_since = httputil::parse_http_date(*ims); if_since && modified) {
      if (*if_since >= static_cast<double>(*modified)) return true;
    }
  }
  return false;
}

std::string StaticFileHandler::get_absolute_path(std::string_view root, std::string_view path) {
  return abspath(join(root, path));
}

std::optional<std::string> StaticFileHandler::validate_absolute_path(std::string_view root,
                                                                   std::string_view absolute_path) {
  // abspath strips a trailing slash; add it back so that only files inside a directory named
  // `root` match, not files of a sibling whose name starts with it ("/static" vs "/static_foo").
  // A root of "/" is left as it is: some applications use it to turn the check off and validate
  // in get_absolute_path themselves.
  std::string root_dir = abspath(root);
  if (!root_dir.ends_with('/')) root_dir += '/';
  std::string abs(absolute_path);
  // The trailing slash on the requested path lets a request for the root itself match.
  if (!(abs + '/').starts_with(root_dir)) throw HTTPError(403, path + " is not in root static directory");
  if (is_dir(abs) && default_filename) {
    // request().path, not `path`: when the path group is empty the routing already cut the
    // prefix that the redirect must keep.
    const std::string& request_path = request().path;
    if (!request_path.ends_with('/')) {
      // "//host/..." would be a protocol-relative URL: redirecting there is an open redirect.
      if (request_path.starts_with("//")) throw HTTPError(403, "cannot redirect path with two initial slashes");
      redirect(request_path + "/", true);
      return std::nullopt;
    }
    abs = join(abs, *default_filename);
  }
  if (!exists(abs)) throw HTTPError(404);
  if (!is_file(abs)) throw HTTPError(403, path + " is not a file");
  return abs;
}

StaticFileHandler::ContentGenerator StaticFileHandler::get_content(const std::string& abspath,
                                                                   std::optional<std::int64_t> start,
                                                                   std::optional<std::int64_t> end) {
  if (abspath.find('\0') != std::string::npos) throw std::runtime_error("embedded null byte in " + abspath);
  std::shared_ptr<std::FILE> file(std::fopen(abspath.c_str(), "rb"), [](std::FILE* f) {
    if (f) std::fclose(f);
  });
  if (!file) throw std::system_error(errno, std::generic_category(), "cannot open " + abspath);
  if (start && std::fseek(file.get(), static_cast<long>(*start), SEEK_SET) != 0)
    throw std::system_error(errno, std::generic_category(), "cannot seek in " + abspath);
  std::optional<std::int64_t> remaining;
  if (end) remaining = *end - start.value_or(0);
  return [file = std::move(file), remaining]() mutable -> std::optional<std::string> {
    std::size_t want = chunk_size;
    if (remaining && static_cast<std::uint64_t>(*remaining) < want) want = static_cast<std::size_t>(*remaining);
    if (want == 0) return std::nullopt;
    std::string chunk(want, '\0');
    std::size_t got = std::fread(chunk.data(), 1, want, file.get());
    if (got == 0) {
      if (std::ferror(file.get())) throw std::runtime_error("error reading a static file");
      return std::nullopt;
    }
    chunk.resize(got);
    if (remaining) *remaining -= static_cast<std::int64_t>(got);
    return chunk;
  };
}

std::string StaticFileHandler::get_content_version(const std::string& abspath) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), EVP_sha512(), nullptr) != 1) throw std::runtime_error("SHA-512 unavailable");
  ContentGenerator content = get_content(abspath);
  while (auto chunk = content()) EVP_DigestUpdate(ctx.get(), chunk->data(), chunk->size());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), digest, &len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned int i = 0; i < len; ++i) {
    out += hex[digest[i] >> 4];
    out += hex[digest[i] & 15];
  }
  return out;
}

void StaticFileHandler::stat_file() {
  if (stat_size_) return;
  struct ::stat st {};
  if (!absolute_path || !stat_path(*absolute_path, st))
    throw std::system_error(errno, std::generic_category(), "cannot stat " + absolute_path.value_or(""));
  stat_size_ = static_cast<std::int64_t>(st.st_size);
  stat_mtime_ = static_cast<std::int64_t>(st.st_mtime);
}

std::int64_t StaticFileHandler::get_content_size() {
  stat_file();
  return *stat_size_;
}

std::optional<std::int64_t> StaticFileHandler::get_modified_time() {
  // Whole seconds, as Tornado truncates st_mtime (and HTTP dates have no fraction).
  stat_file();
  return stat_mtime_;
}

std::string StaticFileHandler::get_content_type() {
  if (!absolute_path) return "application/octet-stream";
  auto [mime_type, encoding] = mimetypes().guess_type(*absolute_path);
  // RFC 6713: a gzip-compressed file is application/gzip.
  if (encoding == "gzip") return "application/gzip";
  // Other encodings (bzip2, xz...) have no registered type: send the bytes as bytes.
  if (encoding) return "application/octet-stream";
  if (mime_type) return *mime_type;
  return "application/octet-stream";
}

void StaticFileHandler::set_extra_headers(std::string_view) {}

std::int64_t StaticFileHandler::get_cache_time(std::string_view, std::optional<std::int64_t>, std::string_view) {
  return request().arguments.contains("v") ? CACHE_MAX_AGE : 0;
}

std::string StaticFileHandler::make_static_url(const Settings& settings, std::string_view path,
                                               bool include_version) {
  std::string url = settings.static_url_prefix + std::string(path);
  if (!include_version) return url;
  auto version_hash = get_version(settings, path);
  if (!version_hash || version_hash->empty()) return url;
  return url + "?v=" + *version_hash;
}

std::string StaticFileHandler::parse_url_path(std::string_view url_path) { return std::string(url_path); }

std::optional<std::string> StaticFileHandler::get_version(const Settings& settings, std::string_view path) {
  return get_cached_version(get_absolute_path(settings.static_path, path));
}

std::optional<std::string> StaticFileHandler::get_cached_version(const std::string& abs_path) {
  auto& cache = hash_cache();
  std::lock_guard guard(cache.lock);
  auto it = cache.hashes.find(abs_path);
  if (it == cache.hashes.end()) {
    std::optional<std::string> version;
    try {
      version = get_content_version(abs_path);
    } catch (...) {
      log::gen_log().error("Could not open static file '{}'", abs_path);
    }
    it = cache.hashes.emplace(abs_path, std::move(version)).first;
  }
  if (it->second && !it->second->empty()) return it->second;
  return std::nullopt;
}

StaticFileHandler::ContentGenerator StaticFileHandler::content_of(std::string data) {
  return [data = std::move(data), done = false]() mutable -> std::optional<std::string> {
    if (done) return std::nullopt;
    done = true;
    return std::move(data);
  };
}

}  // namespace tornado::web
