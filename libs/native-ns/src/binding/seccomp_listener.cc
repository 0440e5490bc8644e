// seccomp_listener: the supervisor side of seccomp user notifications. Each listener fd gets a
// thread that polls it and receives notifications (NOTIF_RECV blocks, so it must not run on the
// libuv pool); notifications reach JS through a ThreadSafeFunction. Answers (respond, id-valid,
// addfd) and reading the caller's memory are quick ioctls/syscalls made from the JS thread.
#include "seccomp_listener.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "errors.h"

extern "C" {
#include "../core/seccomp.h"
}

namespace nsb {

namespace {

struct Delivery {
  bool end;
  ns_notification notif;
  ns_error err;
};

class SeccompListener : public Napi::ObjectWrap<SeccompListener> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SeccompListener", {InstanceMethod("close", &SeccompListener::Close)});
  }

  // new SeccompListener(fd, onNotification(notif | null, error?)). Does not own fd's lifetime
  // beyond close(): close() stops the thread, then closes fd. onNotification(null) = no more
  // filtered tasks (POLLHUP) or the listener was closed.
  explicit SeccompListener(const Napi::CallbackInfo &info) : Napi::ObjectWrap<SeccompListener>(info) {
    Napi::Env env = info.Env();
    fd_ = ArgInt(info, 0, "fd");
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onNotification must be a function");
    stop_fd_ = eventfd(0, EFD_CLOEXEC);
    if (stop_fd_ < 0) throw MakeErrno(env, errno, "eventfd");
    tsfn_ = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "wsrun-seccomp-listener", 0, 1);
    thread_ = std::thread([this] { Run(); });
  }

  ~SeccompListener() override { Stop(); }

 private:
  void Run() {
    sigset_t all;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, nullptr);
    for (;;) {
      pollfd fds[2] = {{fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
      int n = poll(fds, 2, -1);
      if (n < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents) break;
      if (fds[0].revents & POLLIN) {
        auto *d = new Delivery{};
        ns_error_clear(&d->err);
        if (ns_notif_recv(fd_, &d->notif, &d->err) < 0) {
          // ENOENT: the caller died before we got it; nothing to answer
          if (d->err.errnum == ENOENT || d->err.errnum == EINTR) {
            delete d;
            continue;
          }
          d->end = true;
          Post(d);
          tsfn_.Release();
          return;
        }
        Post(d);
        continue;
      }
      if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) break;
    }
    auto *d = new Delivery{};
    d->end = true;
    ns_error_clear(&d->err);
    Post(d);
    tsfn_.Release();  // the thread owns the TSFN: the loop may exit once it is gone
  }

  void Post(Delivery *delivery) {
    tsfn_.BlockingCall(delivery, [](Napi::Env env, Napi::Function cb, Delivery *d) {
      try {
        Deliver(env, cb, d);
      } catch (const Napi::Error &err) {
        napi_fatal_exception(env, err.Value());
      }
      delete d;
    });
  }

  static void Deliver(Napi::Env env, Napi::Function cb, Delivery *d) {
    {
      if (d->end) {
        cb.Call({env.Null(), d->err.errnum ? MakeError(env, d->err).Value() : env.Undefined()});
      } else {
        Napi::Object o = Napi::Object::New(env);
        o.Set("id", Napi::BigInt::New(env, d->notif.id));
        o.Set("pid", Napi::Number::New(env, d->notif.pid));
        o.Set("nr", Napi::Number::New(env, d->notif.nr));
        const char *name = ns_syscall_name(d->notif.nr);
        o.Set("syscall", name ? Napi::String::New(env, name) : env.Null());
        o.Set("arch", Napi::Number::New(env, d->notif.arch));
        Napi::Array args = Napi::Array::New(env, 6);
        for (uint32_t i = 0; i < 6; i++) args.Set(i, Napi::BigInt::New(env, d->notif.args[i]));
        o.Set("args", args);
        cb.Call({o, env.Undefined()});
      }
    }
  }

  void Stop() {
    if (stopped_.exchange(true)) return;
    uint64_t one = 1;
    if (write(stop_fd_, &one, sizeof(one)) < 0) { /* cannot fail for an eventfd below its max */ }
    if (thread_.joinable()) thread_.join();
    close(stop_fd_);
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    Stop();
    return info.Env().Undefined();
  }

  int fd_ = -1;
  int stop_fd_ = -1;
  std::atomic<bool> stopped_{false};
  std::thread thread_;
  Napi::ThreadSafeFunction tsfn_;
};

uint64_t ArgU64(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info[i].IsBigInt()) {
    bool lossless = true;
    return info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (info[i].IsNumber()) return static_cast<uint64_t>(info[i].As<Napi::Number>().Int64Value());
  throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a bigint");
}

// notifRespond(listenerFd, id, {continue?: bool, error?: errno, value?: number})
Napi::Value NotifRespond(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int fd = ArgInt(info, 0, "fd");
  uint64_t id = ArgU64(info, 1, "id");
  Napi::Object o = info[2].IsObject() ? info[2].As<Napi::Object>() : Napi::Object::New(env);
  int cont = o.Get("continue").ToBoolean().Value() ? 1 : 0;
  int error = o.Get("error").IsNumber() ? o.Get("error").As<Napi::Number>().Int32Value() : 0;
  int64_t val = o.Get("value").IsNumber() ? o.Get("value").As<Napi::Number>().Int64Value() : 0;
  ns_error err;
  ns_error_clear(&err);
  if (ns_notif_respond(fd, id, cont, error, val, &err) < 0) throw MakeError(env, err);
  return env.Undefined();
}

// notifIdValid(listenerFd, id) -> boolean
Napi::Value NotifIdValid(const Napi::CallbackInfo &info) {
  ns_error err;
  ns_error_clear(&err);
  int rc = ns_notif_id_valid(ArgInt(info, 0, "fd"), ArgU64(info, 1, "id"), &err);
  if (rc < 0 && err.errnum != ENOENT) throw MakeError(info.Env(), err);
  return Napi::Boolean::New(info.Env(), rc == 0);
}

// notifAddFd(listenerFd, id, srcFd, send) -> fd number in the target
Napi::Value NotifAddFd(const Napi::CallbackInfo &info) {
  ns_error err;
  ns_error_clear(&err);
  int rc = ns_notif_addfd(ArgInt(info, 0, "fd"), ArgU64(info, 1, "id"), ArgInt(info, 2, "srcFd"), ArgBool(info, 3, false),
                          &err);
  if (rc < 0) throw MakeError(info.Env(), err);
  return Napi::Number::New(info.Env(), rc);
}

// readString(pid, addr, max) -> string
Napi::Value ReadString(const Napi::CallbackInfo &info) {
  int pid = ArgInt(info, 0, "pid");
  uint64_t addr = ArgU64(info, 1, "addr");
  int max = info.Length() > 2 && info[2].IsNumber() ? info[2].As<Napi::Number>().Int32Value() : 4096;
  if (max < 2 || max > 1 << 20) throw Napi::RangeError::New(info.Env(), "max must be in 2..1048576");
  std::string buf(static_cast<size_t>(max), '\0');
  ns_error err;
  ns_error_clear(&err);
  ssize_t n = ns_read_string(pid, addr, &buf[0], buf.size(), &err);
  if (n < 0) throw MakeError(info.Env(), err);
  return Napi::String::New(info.Env(), buf.data(), static_cast<size_t>(n));
}

// readMemory(pid, addr, length) -> Buffer (may be shorter at an unmapped page)
Napi::Value ReadMemory(const Napi::CallbackInfo &info) {
  int pid = ArgInt(info, 0, "pid");
  uint64_t addr = ArgU64(info, 1, "addr");
  int len = ArgInt(info, 2, "length");
  if (len < 0 || len > 1 << 24) throw Napi::RangeError::New(info.Env(), "length must be in 0..16777216");
  std::vector<uint8_t> buf(static_cast<size_t>(len));
  ns_error err;
  ns_error_clear(&err);
  ssize_t n = ns_read_memory(pid, addr, buf.data(), buf.size(), &err);
  if (n < 0) throw MakeError(info.Env(), err);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), buf.data(), static_cast<size_t>(n));
}

// syscallNumber(name) -> number | -1; syscallName(nr) -> string | null
Napi::Value SyscallNumber(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), ns_syscall_number(ArgString(info, 0, "name").c_str()));
}
Napi::Value SyscallName(const Napi::CallbackInfo &info) {
  const char *name = ns_syscall_name(ArgInt(info, 0, "nr"));
  return name ? Napi::String::New(info.Env(), name).As<Napi::Value>() : info.Env().Null();
}

}  // namespace

void InitSeccomp(Napi::Env env, Napi::Object exports) {
  exports.Set("SeccompListener", SeccompListener::Define(env));
  exports.Set("notifRespond", Napi::Function::New(env, NotifRespond));
  exports.Set("notifIdValid", Napi::Function::New(env, NotifIdValid));
  exports.Set("notifAddFd", Napi::Function::New(env, NotifAddFd));
  exports.Set("readString", Napi::Function::New(env, ReadString));
  exports.Set("readMemory", Napi::Function::New(env, ReadMemory));
  exports.Set("syscallNumber", Napi::Function::New(env, SyscallNumber));
  exports.Set("syscallName", Napi::Function::New(env, SyscallName));
}

}  // namespace nsb
