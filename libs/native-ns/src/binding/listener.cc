// listener: a listening unix socket (SOCK_SEQPACKET or SOCK_STREAM) watched by the event loop;
// every accepted connection's fd goes to JS with the peer's credentials (SO_PEERCRED), so that
// servers passing fds (lift, exec) never need Node's net module.
#include "listener.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "errors.h"

extern "C" {
#include "../core/fdpass.h"
}

namespace nsb {

namespace {

class Listener : public Napi::ObjectWrap<Listener> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Listener", {InstanceMethod("close", &Listener::Close), InstanceMethod("unref", &Listener::UnrefPoll)});
  }

  // new Listener(path, seqpacket, onConnection(fd, {pid, uid, gid}))
  explicit Listener(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Listener>(info) {
    Napi::Env env = info.Env();
    std::string path = ArgString(info, 0, "path");
    bool seqpacket = ArgBool(info, 1, true);
    if (!info[2].IsFunction()) throw Napi::TypeError::New(env, "onConnection must be a function");
    callback_ = Napi::Persistent(info[2].As<Napi::Function>());
    ns_error err;
    ns_error_clear(&err);
    fd_ = ns_listen_unix(path.c_str(), seqpacket ? 1 : 0, 64, &err);
    if (fd_ < 0) throw MakeError(env, err);
    uv_loop_t *loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    uv_poll_init(loop, poll_, fd_);
    poll_->data = this;
    uv_poll_start(poll_, UV_READABLE, OnReadable);
    env_ = env;
    Ref();
  }

  ~Listener() override { Stop(); }

 private:
  static void OnReadable(uv_poll_t *handle, int status, int) {
    auto *self = static_cast<Listener *>(handle->data);
    if (status < 0) return;
    Napi::HandleScope scope(self->env_);
    for (;;) {
      int conn = accept4(self->fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (conn < 0) return;  // EAGAIN: drained
      ns_peer_cred cred{};
      ns_error err;
      ns_error_clear(&err);
      Napi::Object peer = Napi::Object::New(self->env_);
      if (ns_get_peer_cred(conn, &cred, &err) == 0) {
        peer.Set("pid", Napi::Number::New(self->env_, cred.pid));
        peer.Set("uid", Napi::Number::New(self->env_, cred.uid));
        peer.Set("gid", Napi::Number::New(self->env_, cred.gid));
      }
      try {
        self->callback_.Call(self->Value(), {Napi::Number::New(self->env_, conn), peer});
      } catch (const Napi::Error &e) {
        napi_fatal_exception(self->env_, e.Value());
      }
      if (self->fd_ < 0) return;  // closed from the callback
    }
  }

  void Stop() {
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
      poll_ = nullptr;
      Unref();
    }
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    Stop();
    return info.Env().Undefined();
  }

  Napi::Value UnrefPoll(const Napi::CallbackInfo &info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t *>(poll_));
    return info.Env().Undefined();
  }

  int fd_ = -1;
  uv_poll_t *poll_ = nullptr;
  Napi::FunctionReference callback_;
  Napi::Env env_ = nullptr;
};

// connectUnix(path, seqpacket, nonblocking) -> fd
Napi::Value ConnectUnix(const Napi::CallbackInfo &info) {
  ns_error err;
  ns_error_clear(&err);
  int fd = ns_connect_unix(ArgString(info, 0, "path").c_str(), ArgBool(info, 1, true) ? 1 : 0, ArgBool(info, 2, false) ? 1 : 0, &err);
  if (fd < 0) throw MakeError(info.Env(), err);
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

void InitListener(Napi::Env env, Napi::Object exports) {
  exports.Set("Listener", Listener::Define(env));
  exports.Set("connectUnix", Napi::Function::New(env, ConnectUnix));
}

}  // namespace nsb
