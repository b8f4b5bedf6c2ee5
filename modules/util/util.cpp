module;
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <typeinfo>
#if __has_include(<cxxabi.h>)
#include <cxxabi.h>
#define TORNADO_HAVE_CXXABI 1
#endif
module tornado.util;

namespace tornado {

namespace {
std::string type_name(const std::type_info& t) {
#ifdef TORNADO_HAVE_CXXABI
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> p(abi::__cxa_demangle(t.name(), nullptr, nullptr, &status),
                                           std::free);
  if (status == 0 && p) return p.get();
#endif
  return t.name();
}
}  // namespace

std::string describe_exception(const std::exception_ptr& e) {
  if (!e) return {};
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    return type_name(typeid(ex)) + ": " + ex.what();
  } catch (...) {
    return "unknown exception";
  }
}

}  // namespace tornado
