// tornado.util: small utilities shared by every layer (Tornado's tornado.util).
module;
#include <cstddef>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
export module tornado.util;

export namespace tornado {

/// Raised when an operation times out: `IOLoop::run_sync`, `gen::with_timeout`, the `timeout`
/// arguments of locks and queues. Mirrors tornado.util.TimeoutError (alias gen.TimeoutError).
class TimeoutError : public std::runtime_error {
 public:
  explicit TimeoutError(const std::string& what = "Timeout") : std::runtime_error(what) {}
};

/// Raised by `Future::result()` when the future was cancelled. Mirrors asyncio.CancelledError.
class CancelledError : public std::runtime_error {
 public:
  explicit CancelledError(const std::string& what = "Future was cancelled")
      : std::runtime_error(what) {}
};

/// Raised when a future is used in a way its state does not allow (its result read before it is
/// done, a result set twice). Mirrors asyncio.InvalidStateError.
class InvalidStateError : public std::logic_error {
 public:
  explicit InvalidStateError(const std::string& what) : std::logic_error(what) {}
};

/// Describes an exception for a log line, as Python prints one: `type: what()` for a
/// std::exception (`std::runtime_error: boom`), "unknown exception" otherwise, "" for null.
std::string describe_exception(const std::exception_ptr& e);

}  // namespace tornado

export namespace tornado::util {

template <class Sig>
class UniqueFunction;

/// A move-only `std::function`: holds any callable, move-only ones included (a lambda that owns a
/// `std::unique_ptr`, a coroutine handle). Callables up to 3 pointers in size that are nothrow
/// movable are stored inline, so scheduling a small callback does not allocate.
/// Stands in for C++23's std::move_only_function.
template <class R, class... Args>
class UniqueFunction<R(Args...)> {
  static constexpr std::size_t kInline = 3 * sizeof(void*);
  struct VTable {
    R (*call)(void*, Args&&...);
    void (*move)(void* dst, void* src) noexcept;  // construct dst from src, destroy src (null: memcpy)
    void (*destroy)(void*) noexcept;               // null: nothing to destroy
  };

  template <class F>
  static constexpr bool stored_inline = sizeof(F) <= kInline &&
                                        alignof(F) <= alignof(std::max_align_t) &&
                                        std::is_nothrow_move_constructible_v<F>;

  // Callbacks move several times on their way to the loop, so moves avoid the indirect call when
  // they can: a callable kept on the heap (the storage holds its pointer) or a trivially copyable
  // one (a lambda capturing pointers, references, numbers) is moved by copying the storage, and
  // its vtable's `move` is null. A trivially destructible one has a null `destroy`.
  template <class F>
  static constexpr bool relocated_by_copy = !stored_inline<F> || std::is_trivially_copyable_v<F>;
  template <class F>
  static constexpr bool destroyed_trivially = stored_inline<F> && std::is_trivially_destructible_v<F>;

  template <class F>
  static F* as(void* p) noexcept {
    if constexpr (stored_inline<F>) return std::launder(reinterpret_cast<F*>(p));
    else return *static_cast<F**>(p);
  }

  template <class F>
  static constexpr VTable vtable_for{
      [](void* p, Args&&... args) -> R {
        // A void signature accepts (and discards) any result, as std::function<void()> does.
        if constexpr (std::is_void_v<R>) (void)(*as<F>(p))(std::forward<Args>(args)...);
        else return (*as<F>(p))(std::forward<Args>(args)...);
      },
      relocated_by_copy<F> ? nullptr : +[](void* dst, void* src) noexcept {
        if constexpr (stored_inline<F>) {
          F* s = as<F>(src);
          ::new (dst) F(std::move(*s));
          s->~F();
        } else {
          *static_cast<F**>(dst) = *static_cast<F**>(src);
        }
      },
      destroyed_trivially<F> ? nullptr : +[](void* p) noexcept {
        if constexpr (stored_inline<F>) as<F>(p)->~F();
        else delete as<F>(p);
      }};

  // Moves the callable in `src` (described by `vt`) into `dst`; `src` is left without one.
  static void relocate(const VTable* vt, void* dst, void* src) noexcept {
    if (vt->move) vt->move(dst, src);
    else std::memcpy(dst, src, kInline);
  }

 public:
  UniqueFunction() noexcept = default;
  UniqueFunction(std::nullptr_t) noexcept {}

  template <class F, class D = std::decay_t<F>,
            class = std::enable_if_t<!std::is_same_v<D, UniqueFunction> &&
                                     std::is_invocable_r_v<R, D&, Args...>>>
  UniqueFunction(F&& f) {  // NOLINT: implicit, like std::function
    if constexpr (std::is_pointer_v<D> || std::is_member_pointer_v<D>) {
      if (f == nullptr) return;
    }
    if constexpr (stored_inline<D>) ::new (static_cast<void*>(storage_)) D(std::forward<F>(f));
    else *reinterpret_cast<D**>(storage_) = new D(std::forward<F>(f));
    vt_ = &vtable_for<D>;
  }

  UniqueFunction(UniqueFunction&& o) noexcept : vt_(o.vt_) {
    if (vt_) {
      relocate(vt_, storage_, o.storage_);
      o.vt_ = nullptr;
    }
  }
  UniqueFunction& operator=(UniqueFunction&& o) noexcept {
    if (this != &o) {
      reset();
      if (o.vt_) {
        relocate(o.vt_, storage_, o.storage_);
        vt_ = o.vt_;
        o.vt_ = nullptr;
      }
    }
    return *this;
  }
  UniqueFunction& operator=(std::nullptr_t) noexcept {
    reset();
    return *this;
  }
  UniqueFunction(const UniqueFunction&) = delete;
  UniqueFunction& operator=(const UniqueFunction&) = delete;
  ~UniqueFunction() { reset(); }

  explicit operator bool() const noexcept { return vt_ != nullptr; }

  /// Calls the stored callable. Precondition: not empty.
  R operator()(Args... args) { return vt_->call(storage_, std::forward<Args>(args)...); }

  void reset() noexcept {
    if (vt_) {
      const VTable* vt = vt_;
      vt_ = nullptr;
      if (vt->destroy) vt->destroy(storage_);
    }
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[kInline];
  const VTable* vt_ = nullptr;
};

/// A callback with no arguments and no result: what the IOLoop runs.
using Callback = UniqueFunction<void()>;

}  // namespace tornado::util
