// ops: synchronous, quick kernel calls made on the JS thread of the calling process (its own
// mount namespace): safe paths, mounts, id maps, fd passing, pidfds. Nothing here changes
// namespaces; that happens only in stage processes (process_manager.cc, stage_main.c).
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "errors.h"

extern "C" {
#include "../core/fdpass.h"
#include "../core/idmap.h"
#include "../core/masks.h"
#include "../core/mounts.h"
#include "../core/safe_path.h"
#include "../core/sys.h"
}

namespace nsb {

namespace {

int OptInt(Napi::Object o, const char *key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

int64_t OptInt64(Napi::Object o, const char *key, int64_t fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int64Value() : fallback;
}

std::string OptString(Napi::Object o, const char *key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

Napi::Value OpenInRoot(const Napi::CallbackInfo &info) {
  Err err;
  int fd = ns_openat2(ArgInt(info, 0, "rootFd"), ArgString(info, 1, "path").c_str(), ArgInt(info, 2, "flags"), 0,
                      info.Length() > 3 ? ArgInt(info, 3, "resolve") : NS_RESOLVE_IN_ROOT, &err.e);
  if (fd < 0) throw MakeError(info.Env(), err.e);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value OpenRoot(const Napi::CallbackInfo &info) {
  Err err;
  int fd = ns_open_root(ArgString(info, 0, "path").c_str(), &err.e);
  if (fd < 0) throw MakeError(info.Env(), err.e);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value MkdirInRoot(const Napi::CallbackInfo &info) {
  Err err;
  int fd = ns_mkdir_p_in_root(ArgInt(info, 0, "rootFd"), ArgString(info, 1, "path").c_str(),
                              static_cast<mode_t>(ArgInt(info, 2, "mode")), &err.e);
  if (fd < 0) throw MakeError(info.Env(), err.e);
  close(fd);
  return info.Env().Undefined();
}

Napi::Value Mount(const Napi::CallbackInfo &info) {
  if (!info[0].IsObject()) throw Napi::TypeError::New(info.Env(), "mount: expected a spec object");
  Napi::Object o = info[0].As<Napi::Object>();
  std::string source = OptString(o, "source"), options = OptString(o, "options"), target = OptString(o, "target");
  ns_mount_spec spec{};
  spec.kind = OptInt(o, "kind", 0);
  spec.source = source.c_str();
  spec.source_root_fd = OptInt(o, "sourceRootFd", -1);
  spec.source_fd = OptInt(o, "sourceFd", -1);
  spec.options = options.c_str();
  spec.pidns_fd = OptInt(o, "pidnsFd", -1);
  spec.target = target.c_str();
  spec.target_root_fd = OptInt(o, "targetRootFd", AT_FDCWD);
  spec.attr = static_cast<uint64_t>(OptInt64(o, "attr", 0));
  spec.propagation = OptInt(o, "propagation", 0);
  spec.create_target = o.Get("createTarget").ToBoolean().Value() ? 1 : 0;
  Err err;
  if (ns_mount(&spec, &err.e) < 0) throw MakeError(info.Env(), err.e);
  return info.Env().Undefined();
}

Napi::Value CloneTree(const Napi::CallbackInfo &info) {
  Err err;
  int fd = ns_clone_tree(ArgInt(info, 0, "rootFd"), ArgString(info, 1, "path").c_str(), ArgBool(info, 2, false), &err.e);
  if (fd < 0) throw MakeError(info.Env(), err.e);
  return Napi::Number::New(info.Env(), fd);
}

// newFs(fstype, options, fdParams: {key: fd}, attr) -> tree fd
Napi::Value NewFs(const Napi::CallbackInfo &info) {
  Err err;
  std::vector<std::string> keys;
  std::vector<int> fds;
  if (info[2].IsObject()) {
    Napi::Object o = info[2].As<Napi::Object>();
    Napi::Array names = o.GetPropertyNames();
    for (uint32_t i = 0; i < names.Length(); i++) {
      std::string key = names.Get(i).As<Napi::String>().Utf8Value();
      keys.push_back(key);
      fds.push_back(o.Get(key).As<Napi::Number>().Int32Value());
    }
  }
  std::vector<const char *> key_ptrs;
  for (auto &k : keys) key_ptrs.push_back(k.c_str());
  int fd = ns_new_fs(ArgString(info, 0, "fstype").c_str(), ArgString(info, 1, "options").c_str(), key_ptrs.data(), fds.data(),
                     static_cast<int>(fds.size()), static_cast<uint64_t>(ArgInt64(info, 3, "attr")), &err.e);
  if (fd < 0) throw MakeError(info.Env(), err.e);
  return Napi::Number::New(info.Env(), fd);
}

// setAttr(fd, {set, clear, propagation, usernsFd, recursive})
Napi::Value SetAttr(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0, "fd");
  Napi::Object o = info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(info.Env());
  Err err;
  if (ns_setattr_fd(fd, static_cast<uint64_t>(OptInt64(o, "set", 0)), static_cast<uint64_t>(OptInt64(o, "clear", 0)),
                    OptInt(o, "propagation", 0), OptInt(o, "usernsFd", -1), o.Get("recursive").ToBoolean().Value() ? 1 : 0,
                    &err.e) < 0) {
    throw MakeError(info.Env(), err.e);
  }
  return info.Env().Undefined();
}

Napi::Value AttachTree(const Napi::CallbackInfo &info) {
  Err err;
  if (ns_attach_tree(ArgInt(info, 0, "treeFd"), ArgInt(info, 1, "rootFd"), ArgString(info, 2, "target").c_str(),
                     ArgBool(info, 3, false), &err.e) < 0) {
    throw MakeError(info.Env(), err.e);
  }
  return info.Env().Undefined();
}

// applyMasks(treeFd, paths, kinds) -> number[]: per mask 1 when applied, 0 when its path does
// not exist (src/core/masks.h)
Napi::Value ApplyMasks(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int tree = ArgInt(info, 0, "treeFd");
  if (!info[1].IsArray() || !info[2].IsArray()) throw Napi::TypeError::New(env, "paths and kinds must be arrays");
  auto paths = info[1].As<Napi::Array>();
  auto kinds = info[2].As<Napi::Array>();
  uint32_t n = paths.Length();
  if (kinds.Length() != n) throw Napi::TypeError::New(env, "paths and kinds disagree in length");
  std::vector<std::string> owned(n);
  std::vector<const char *> ptrs(n);
  std::vector<int> kind(n), applied(n);
  for (uint32_t i = 0; i < n; i++) {
    Napi::Value p = paths[i];
    Napi::Value k = kinds[i];
    if (!p.IsString() || !k.IsNumber()) throw Napi::TypeError::New(env, "a mask is a path and a kind number");
    owned[i] = p.As<Napi::String>().Utf8Value();
    if (owned[i].find('\0') != std::string::npos) throw Napi::TypeError::New(env, "a mask path contains a NUL byte");
    ptrs[i] = owned[i].c_str();
    kind[i] = k.As<Napi::Number>().Int32Value();
  }
  Err err;
  if (ns_apply_masks(tree, ptrs.data(), kind.data(), static_cast<int>(n), applied.data(), &err.e) < 0) throw MakeError(env, err.e);
  Napi::Array out = Napi::Array::New(env, n);
  for (uint32_t i = 0; i < n; i++) out.Set(i, Napi::Number::New(env, applied[i]));
  return out;
}

Napi::Value UmountInRoot(const Napi::CallbackInfo &info) {
  Err err;
  if (ns_umount_in_root(ArgInt(info, 0, "rootFd"), ArgString(info, 1, "path").c_str(), ArgInt(info, 2, "flags"), &err.e) < 0) {
    throw MakeError(info.Env(), err.e);
  }
  return info.Env().Undefined();
}

Napi::Value WriteIdMap(const Napi::CallbackInfo &info) {
  Err err;
  if (ns_write_idmap(ArgInt(info, 0, "pid"), ArgString(info, 1, "file").c_str(), ArgString(info, 2, "content").c_str(),
                     &err.e) < 0) {
    throw MakeError(info.Env(), err.e);
  }
  return info.Env().Undefined();
}

Napi::Value WriteSetgroups(const Napi::CallbackInfo &info) {
  Err err;
  if (ns_write_setgroups(ArgInt(info, 0, "pid"), ArgString(info, 1, "value").c_str(), &err.e) < 0) {
    throw MakeError(info.Env(), err.e);
  }
  return info.Env().Undefined();
}

// Sets a socket buffer size; the FORCE variant (CAP_NET_ADMIN) passes net.core.[rw]mem_max.
static int SetBuffer(int fd, int force_opt, int opt, int bytes) {
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof(bytes)) == 0) return 0;
  if (errno != EPERM) return -1;
  return setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof(bytes));
}

// socketpair(type: "seqpacket" | "stream", bufferBytes?: number) -> [fd, fd], both O_CLOEXEC;
// bufferBytes sets both ends' send and receive buffers (a deep pipe for bulk data)
Napi::Value SocketPair(const Napi::CallbackInfo &info) {
  int type = SOCK_SEQPACKET;
  if (info.Length() > 0 && info[0].IsString() && info[0].As<Napi::String>().Utf8Value() == "stream") type = SOCK_STREAM;
  int buffer = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
  int sv[2];
  if (socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv) < 0) throw MakeErrno(info.Env(), errno, "socketpair");
  for (int i = 0; buffer > 0 && i < 2; i++) {
    if (SetBuffer(sv[i], SO_SNDBUFFORCE, SO_SNDBUF, buffer) < 0 || SetBuffer(sv[i], SO_RCVBUFFORCE, SO_RCVBUF, buffer) < 0) {
      int e = errno;
      close(sv[0]);
      close(sv[1]);
      throw MakeErrno(info.Env(), e, "setsockopt");
    }
  }
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), sv[0]));
  out.Set(1u, Napi::Number::New(info.Env(), sv[1]));
  return out;
}

// sendFds(sock, data: Buffer, fds: number[]) -> bytes sent
Napi::Value SendFds(const Napi::CallbackInfo &info) {
  int sock = ArgInt(info, 0, "sock");
  if (!info[1].IsBuffer()) throw Napi::TypeError::New(info.Env(), "data must be a Buffer");
  auto data = info[1].As<Napi::Buffer<uint8_t>>();
  std::vector<int> fds;
  if (info[2].IsArray()) {
    auto arr = info[2].As<Napi::Array>();
    for (uint32_t i = 0; i < arr.Length(); i++) fds.push_back(arr.Get(i).As<Napi::Number>().Int32Value());
  }
  Err err;
  ssize_t n = ns_send_with_fds(sock, data.Data(), data.Length(), fds.data(), static_cast<int>(fds.size()), &err.e);
  if (n < 0) throw MakeError(info.Env(), err.e);
  return Napi::Number::New(info.Env(), static_cast<double>(n));
}

// recvFds(sock, maxBytes) -> {data: Buffer, fds: number[]} (blocking unless sock is non-blocking)
Napi::Value RecvFds(const Napi::CallbackInfo &info) {
  int sock = ArgInt(info, 0, "sock");
  int max = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 65536;
  std::vector<uint8_t> buf(static_cast<size_t>(max > 0 ? max : 1));
  int fds[NS_MAX_FDS_PER_MSG];
  int nfds = 0;
  Err err;
  ssize_t n = ns_recv_with_fds(sock, buf.data(), buf.size(), fds, NS_MAX_FDS_PER_MSG, &nfds, &err.e);
  if (n < 0) throw MakeError(info.Env(), err.e);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("data", Napi::Buffer<uint8_t>::Copy(info.Env(), buf.data(), static_cast<size_t>(n)));
  Napi::Array arr = Napi::Array::New(info.Env(), static_cast<size_t>(nfds));
  for (int i = 0; i < nfds; i++) arr.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), fds[i]));
  out.Set("fds", arr);
  return out;
}

Napi::Value PeerCred(const Napi::CallbackInfo &info) {
  struct ns_peer_cred cred{};
  Err err;
  if (ns_get_peer_cred(ArgInt(info, 0, "fd"), &cred, &err.e) < 0) throw MakeError(info.Env(), err.e);
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("pid", Napi::Number::New(info.Env(), cred.pid));
  out.Set("uid", Napi::Number::New(info.Env(), cred.uid));
  out.Set("gid", Napi::Number::New(info.Env(), cred.gid));
  return out;
}

Napi::Value PidfdOpen(const Napi::CallbackInfo &info) {
  int pid = ArgInt(info, 0, "pid");
  int fd = sys_pidfd_open(pid, 0);
  if (fd < 0) {
    ns_error e;
    ns_error_clear(&e);
    ns_fail_pid(&e, errno, "pidfd_open", pid);
    throw MakeError(info.Env(), e);
  }
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value PidfdSendSignal(const Napi::CallbackInfo &info) {
  if (sys_pidfd_send_signal(ArgInt(info, 0, "pidfd"), ArgInt(info, 1, "signal"), nullptr, 0) < 0) {
    throw MakeErrno(info.Env(), errno, "pidfd_send_signal");
  }
  return info.Env().Undefined();
}

Napi::Value SetChildSubreaper(const Napi::CallbackInfo &info) {
  if (prctl(PR_SET_CHILD_SUBREAPER, ArgBool(info, 0, true) ? 1 : 0, 0, 0, 0) < 0) {
    throw MakeErrno(info.Env(), errno, "prctl", "PR_SET_CHILD_SUBREAPER");
  }
  return info.Env().Undefined();
}

Napi::Value CloseFd(const Napi::CallbackInfo &info) {
  if (close(ArgInt(info, 0, "fd")) < 0 && errno != EINTR) throw MakeErrno(info.Env(), errno, "close");
  return info.Env().Undefined();
}

// openPath(path, flags) -> fd: plain open(2) with O_CLOEXEC (for /proc/<pid>/ns/*, executables).
Napi::Value OpenPath(const Napi::CallbackInfo &info) {
  std::string path = ArgString(info, 0, "path");
  int fd = open(path.c_str(), ArgInt(info, 1, "flags") | O_CLOEXEC);
  if (fd < 0) throw MakeErrno(info.Env(), errno, "open", path.c_str());
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value DupFd(const Napi::CallbackInfo &info) {
  int fd = fcntl(ArgInt(info, 0, "fd"), F_DUPFD_CLOEXEC, 3);
  if (fd < 0) throw MakeErrno(info.Env(), errno, "fcntl", "F_DUPFD_CLOEXEC");
  return Napi::Number::New(info.Env(), fd);
}

}  // namespace

void InitOps(Napi::Env env, Napi::Object exports) {
  exports.Set("openInRoot", Napi::Function::New(env, OpenInRoot));
  exports.Set("openRoot", Napi::Function::New(env, OpenRoot));
  exports.Set("mkdirInRoot", Napi::Function::New(env, MkdirInRoot));
  exports.Set("mount", Napi::Function::New(env, Mount));
  exports.Set("cloneTree", Napi::Function::New(env, CloneTree));
  exports.Set("newFs", Napi::Function::New(env, NewFs));
  exports.Set("setAttr", Napi::Function::New(env, SetAttr));
  exports.Set("attachTree", Napi::Function::New(env, AttachTree));
  exports.Set("applyMasks", Napi::Function::New(env, ApplyMasks));
  exports.Set("umountInRoot", Napi::Function::New(env, UmountInRoot));
  exports.Set("writeIdMap", Napi::Function::New(env, WriteIdMap));
  exports.Set("writeSetgroups", Napi::Function::New(env, WriteSetgroups));
  exports.Set("socketpair", Napi::Function::New(env, SocketPair));
  exports.Set("sendFds", Napi::Function::New(env, SendFds));
  exports.Set("recvFds", Napi::Function::New(env, RecvFds));
  exports.Set("peerCred", Napi::Function::New(env, PeerCred));
  exports.Set("pidfdOpen", Napi::Function::New(env, PidfdOpen));
  exports.Set("pidfdSendSignal", Napi::Function::New(env, PidfdSendSignal));
  exports.Set("setChildSubreaper", Napi::Function::New(env, SetChildSubreaper));
  exports.Set("close", Napi::Function::New(env, CloseFd));
  exports.Set("openPath", Napi::Function::New(env, OpenPath));
  exports.Set("dup", Napi::Function::New(env, DupFd));
}

}  // namespace nsb
