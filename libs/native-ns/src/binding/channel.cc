// channel: a SOCK_SEQPACKET unix socket watched by the Node event loop (uv_poll), with
// messages that carry file descriptors (SCM_RIGHTS). Node's `net` cannot pass fds; this can.
// Used for every stage's control channel and for fd hand-over between processes.
#include "channel.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <vector>

#include "errors.h"

extern "C" {
#include "../core/fdpass.h"
#include "../core/wire.h"
}

namespace nsb {

namespace {

class Channel : public Napi::ObjectWrap<Channel> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Channel",
                       {InstanceMethod("send", &Channel::Send), InstanceMethod("close", &Channel::Close),
                        InstanceMethod("onWritable", &Channel::OnWritableOnce), InstanceMethod("ref", &Channel::RefPoll),
                        InstanceMethod("unref", &Channel::UnrefPoll)});
  }

  // new Channel(fd, onMessage(data: Buffer | null, fds: number[], error?: Error)). Takes ownership
  // of fd (made non-blocking). onMessage(null, []) means the peer closed.
  explicit Channel(const Napi::CallbackInfo &info) : Napi::ObjectWrap<Channel>(info) {
    Napi::Env env = info.Env();
    fd_ = ArgInt(info, 0, "fd");
    if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "onMessage must be a function");
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    int flags = fcntl(fd_, F_GETFL);
    if (flags < 0 || fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) throw MakeErrno(env, errno, "fcntl", "F_SETFL");
    uv_loop_t *loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    if (uv_poll_init(loop, poll_, fd_) != 0) {
      delete poll_;
      poll_ = nullptr;
      throw MakeErrno(env, EINVAL, "uv_poll_init");
    }
    poll_->data = this;
    uv_poll_start(poll_, events_, OnEvents);
    Ref();  // the JS object stays alive while the poll is active
    env_ = env;
  }

  ~Channel() override { StopPoll(); }

 private:
  static void OnEvents(uv_poll_t *handle, int status, int events) {
    auto *self = static_cast<Channel *>(handle->data);
    Napi::HandleScope scope(self->env_);
    if (status == UV_EBADF) {
      // libuv's word for POLLERR: an error on the socket, e.g. ECONNRESET when the peer died
      // with a message of ours unread. recvmsg says what it is (a reset reads as EOF); libuv
      // stopped watching, so watch on while the channel is open.
      self->Drain();
      if (self->poll_ != nullptr) uv_poll_start(self->poll_, self->events_, OnEvents);
      return;
    }
    if (status < 0) {
      self->Deliver(nullptr, 0, {}, MakeErrno(self->env_, -status, "poll").Value());
      self->StopPoll();
      return;
    }
    if ((events & UV_WRITABLE) && !self->writable_.IsEmpty()) {
      // once: watching for room again is the caller's call (another onWritable)
      Napi::Function cb = self->writable_.Value();
      self->writable_.Reset();
      self->events_ &= ~UV_WRITABLE;
      if (self->poll_ != nullptr) uv_poll_start(self->poll_, self->events_, OnEvents);
      try {
        cb.Call(self->Value(), {});
      } catch (const Napi::Error &e) {
        napi_fatal_exception(self->env_, e.Value());
      }
    }
    if (events & (UV_READABLE | UV_DISCONNECT)) self->Drain();
  }

  // onWritable(cb): cb once, when the socket takes data again (after send took less than given
  // or threw EAGAIN); a second call before then replaces the callback.
  Napi::Value OnWritableOnce(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "onWritable: expected a function");
    if (poll_ == nullptr) throw MakeErrno(env, EBADF, "poll");
    writable_ = Napi::Persistent(info[0].As<Napi::Function>());
    events_ |= UV_WRITABLE;
    uv_poll_start(poll_, events_, OnEvents);
    return env.Undefined();
  }

  // Reads every queued message; stops polling at EOF.
  void Drain() {
    std::vector<uint8_t> buf(WIRE_MAX_MESSAGE);
    for (int i = 0; i < 64 && fd_ >= 0; i++) {
      int fds[NS_MAX_FDS_PER_MSG];
      int nfds = 0;
      ns_error err;
      ns_error_clear(&err);
      ssize_t n = ns_recv_with_fds(fd_, buf.data(), buf.size(), fds, NS_MAX_FDS_PER_MSG, &nfds, &err);
      if (n < 0 && (err.errnum == EAGAIN || err.errnum == EWOULDBLOCK)) return;
      if (n < 0 && err.errnum == ECONNRESET) n = 0;
      if (n < 0) {
        // a message too big is dropped and the next one read; any other error ends the channel
        bool fatal = err.errnum != EMSGSIZE;
        if (fatal) StopPoll();
        Deliver(nullptr, 0, {}, MakeError(env_, err).Value());
        if (fatal) return;
        continue;
      }
      if (n == 0) {
        StopPoll();
        Deliver(nullptr, 0, {}, env_.Undefined());
        return;
      }
      Deliver(buf.data(), static_cast<size_t>(n), std::vector<int>(fds, fds + nfds), env_.Undefined());
    }
  }

  void Deliver(const uint8_t *data, size_t len, const std::vector<int> &fds, Napi::Value error) {
    Napi::Env env = env_;
    Napi::Array arr = Napi::Array::New(env, fds.size());
    for (size_t i = 0; i < fds.size(); i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(env, fds[i]));
    Napi::Value payload = data ? Napi::Buffer<uint8_t>::Copy(env, data, len).As<Napi::Value>() : env.Null();
    // an exception in the JS callback must not unwind through libuv: report it and go on
    try {
      callback_.Call(Value(), {payload, arr, error});
    } catch (const Napi::Error &e) {
      napi_fatal_exception(env, e.Value());
    }
  }

  void StopPoll() {
    writable_.Reset();
    if (poll_ != nullptr) {
      uv_poll_stop(poll_);
      uv_close(reinterpret_cast<uv_handle_t *>(poll_), [](uv_handle_t *h) { delete reinterpret_cast<uv_poll_t *>(h); });
      poll_ = nullptr;
      if (!unrefed_) Unref();
      unrefed_ = true;
    }
  }

  // send(data: Buffer, fds?: number[]) -> bytes sent: one message; throws EAGAIN if the socket is
  // full. On a SOCK_STREAM socket fewer bytes than given may go (the rest is the caller's).
  Napi::Value Send(const Napi::CallbackInfo &info) {
    Napi::Env env = info.Env();
    if (fd_ < 0) throw MakeErrno(env, EBADF, "sendmsg");
    if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "data must be a Buffer");
    auto data = info[0].As<Napi::Buffer<uint8_t>>();
    std::vector<int> fds;
    if (info.Length() > 1 && info[1].IsArray()) {
      auto arr = info[1].As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); i++) fds.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
    }
    ns_error err;
    ns_error_clear(&err);
    ssize_t sent = ns_send_with_fds(fd_, data.Data(), data.Length(), fds.data(), static_cast<int>(fds.size()), &err);
    if (sent < 0) throw MakeError(env, err);
    return Napi::Number::New(env, static_cast<double>(sent));
  }

  Napi::Value Close(const Napi::CallbackInfo &info) {
    StopPoll();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
    return info.Env().Undefined();
  }

  Napi::Value RefPoll(const Napi::CallbackInfo &info) {
    if (poll_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t *>(poll_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefPoll(const Napi::CallbackInfo &info) {
    if (poll_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t *>(poll_));
    return info.Env().Undefined();
  }

  int fd_ = -1;
  uv_poll_t *poll_ = nullptr;
  int events_ = UV_READABLE | UV_DISCONNECT;
  Napi::FunctionReference writable_;
  bool unrefed_ = false;
  Napi::FunctionReference callback_;
  Napi::Env env_ = nullptr;
};

}  // namespace

void InitChannel(Napi::Env env, Napi::Object exports) {
  exports.Set("Channel", Channel::Define(env));
}

}  // namespace nsb
