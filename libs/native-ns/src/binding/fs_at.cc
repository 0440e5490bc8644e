// fs_at: directory-fd relative file operations (src/core/fsat.c) for extraction and backups.
#include "fs_at.h"

#include <errno.h>

#include <string>
#include <vector>

#include "errors.h"

extern "C" {
#include "../core/fsat.h"
#include "../core/safe_path.h"
}

namespace nsb {

namespace {

#define CHECK(call)                                           \
  do {                                                        \
    if ((call) < 0) throw MakeError(info.Env(), err.e);       \
  } while (0)

Napi::Value Openat2(const Napi::CallbackInfo &info) {
  Err err;
  int fd = ns_openat2(ArgInt(info, 0, "dirFd"), ArgString(info, 1, "path").c_str(), ArgInt(info, 2, "flags"),
                      static_cast<mode_t>(ArgInt(info, 3, "mode")), ArgInt(info, 4, "resolve"), &err.e);
  CHECK(fd);
  return Napi::Number::New(info.Env(), fd);
}

Napi::Value MkdirAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_mkdirat(ArgInt(info, 0, "dirFd"), ArgString(info, 1, "name").c_str(), static_cast<mode_t>(ArgInt(info, 2, "mode")), &err.e));
  return info.Env().Undefined();
}

Napi::Value SymlinkAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_symlinkat(ArgString(info, 0, "target").c_str(), ArgInt(info, 1, "dirFd"), ArgString(info, 2, "name").c_str(), &err.e));
  return info.Env().Undefined();
}

Napi::Value LinkAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_linkat(ArgInt(info, 0, "oldDirFd"), ArgString(info, 1, "oldName").c_str(), ArgInt(info, 2, "newDirFd"),
                  ArgString(info, 3, "newName").c_str(), &err.e));
  return info.Env().Undefined();
}

Napi::Value MknodAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_mknodat(ArgInt(info, 0, "dirFd"), ArgString(info, 1, "name").c_str(), static_cast<mode_t>(ArgInt(info, 2, "mode")),
                   static_cast<dev_t>(ArgInt64(info, 3, "dev")), &err.e));
  return info.Env().Undefined();
}

Napi::Value UnlinkAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_unlinkat(ArgInt(info, 0, "dirFd"), ArgString(info, 1, "name").c_str(), ArgBool(info, 2, false), &err.e));
  return info.Env().Undefined();
}

Napi::Value RenameAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_renameat(ArgInt(info, 0, "oldDirFd"), ArgString(info, 1, "oldName").c_str(), ArgInt(info, 2, "newDirFd"),
                    ArgString(info, 3, "newName").c_str(), ArgBool(info, 4, false), &err.e));
  return info.Env().Undefined();
}

Napi::Value LchownAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_lchownat(ArgInt(info, 0, "dirFd"), ArgString(info, 1, "name").c_str(), static_cast<uid_t>(ArgInt64(info, 2, "uid")),
                    static_cast<gid_t>(ArgInt64(info, 3, "gid")), &err.e));
  return info.Env().Undefined();
}

Napi::Value LutimensAt(const Napi::CallbackInfo &info) {
  Err err;
  CHECK(ns_lutimensat(ArgInt(info, 0, "dirFd"), ArgString(info, 1, "name").c_str(), ArgInt64(info, 2, "atimeNs"),
                      ArgInt64(info, 3, "mtimeNs"), &err.e));
  return info.Env().Undefined();
}

Napi::Value ReadlinkAt(const Napi::CallbackInfo &info) {
  Err err;
  std::vector<char> buf(4097);
  ssize_t n = ns_readlinkat(ArgInt(info, 0, "dirFd"), ArgString(info, 1, "name").c_str(), buf.data(), buf.size(), &err.e);
  CHECK(n);
  return Napi::String::New(info.Env(), buf.data(), static_cast<size_t>(n));
}

Napi::Value Fsetxattr(const Napi::CallbackInfo &info) {
  if (!info[2].IsBuffer()) throw Napi::TypeError::New(info.Env(), "value must be a Buffer");
  auto value = info[2].As<Napi::Buffer<uint8_t>>();
  Err err;
  CHECK(ns_fsetxattr(ArgInt(info, 0, "fd"), ArgString(info, 1, "name").c_str(), value.Data(), value.Length(), &err.e));
  return info.Env().Undefined();
}

// fgetxattrs(fd) -> { [name]: Buffer }
Napi::Value Fgetxattrs(const Napi::CallbackInfo &info) {
  int fd = ArgInt(info, 0, "fd");
  Err err;
  std::vector<char> names(65536);
  ssize_t n = ns_flistxattr(fd, names.data(), names.size(), &err.e);
  Napi::Object out = Napi::Object::New(info.Env());
  if (n < 0) {
    if (err.e.errnum == ENOTSUP) return out;  // the filesystem has no xattrs
    throw MakeError(info.Env(), err.e);
  }
  std::vector<uint8_t> value(65536);
  for (ssize_t at = 0; at < n;) {
    std::string name(names.data() + at);
    at += static_cast<ssize_t>(name.size()) + 1;
    ssize_t len = ns_fgetxattr(fd, name.c_str(), value.data(), value.size(), &err.e);
    if (len < 0) {
      if (err.e.errnum == ENODATA) continue;  // removed meanwhile
      throw MakeError(info.Env(), err.e);
    }
    out.Set(name, Napi::Buffer<uint8_t>::Copy(info.Env(), value.data(), static_cast<size_t>(len)));
  }
  return out;
}

// createFilesAt(names: string[], data: Buffer[], meta: BigInt64Array) -> Promise<{ created, error? }>
// Creates the files in order on the libuv pool (ns_create_file_at each), stopping at the first
// failure: `created` files were made, `error` is the failure of the next one. meta holds
// CREATE_META_FIELDS values per file (twin: createFilesAt in src/lib/fs-at.ts).
constexpr size_t CREATE_META_FIELDS = 6;  // dirFd, uid, gid, mode, atimeNs, mtimeNs

class CreateFilesWorker : public Napi::AsyncWorker {
 public:
  struct File {
    int dirfd;
    std::string name;
    const uint8_t *data;
    size_t len;
    int64_t uid, gid;
    mode_t mode;
    int64_t atime_ns, mtime_ns;
  };

  CreateFilesWorker(Napi::Env env, std::vector<File> files, Napi::Object keep)
      : Napi::AsyncWorker(env, "wsrun:createFilesAt"), files_(std::move(files)), deferred_(Napi::Promise::Deferred::New(env)) {
    keep_ = Napi::Persistent(keep);
  }

  Napi::Promise Promise() { return deferred_.Promise(); }

  // on a pool thread: no N-API
  void Execute() override {
    for (const File &f : files_) {
      if (ns_create_file_at(f.dirfd, f.name.c_str(), f.data, f.len, f.uid, f.gid, f.mode, f.atime_ns, f.mtime_ns, &err_.e) < 0) return;
      created_++;
    }
  }

  void OnOK() override {
    Napi::Object result = Napi::Object::New(Env());
    result.Set("created", Napi::Number::New(Env(), static_cast<double>(created_)));
    if (err_.e.errnum != 0) result.Set("error", MakeError(Env(), err_.e).Value());
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  std::vector<File> files_;
  Napi::ObjectReference keep_;  // the data array: its Buffers stay alive while the pool reads them
  Err err_;
  size_t created_ = 0;
  Napi::Promise::Deferred deferred_;
};

Napi::Value CreateFilesAt(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsArray()) throw Napi::TypeError::New(env, "names and data must be arrays");
  if (!info[2].IsTypedArray() || info[2].As<Napi::TypedArray>().TypedArrayType() != napi_bigint64_array) {
    throw Napi::TypeError::New(env, "meta must be a BigInt64Array");
  }
  auto names = info[0].As<Napi::Array>();
  auto data = info[1].As<Napi::Array>();
  auto meta = info[2].As<Napi::TypedArrayOf<int64_t>>();
  size_t n = names.Length();
  if (data.Length() != n || meta.ElementLength() != n * CREATE_META_FIELDS) throw Napi::TypeError::New(env, "names, data and meta disagree in length");
  std::vector<CreateFilesWorker::File> files;
  files.reserve(n);
  for (size_t i = 0; i < n; i++) {
    Napi::Value name = names[static_cast<uint32_t>(i)];
    Napi::Value body = data[static_cast<uint32_t>(i)];
    if (!name.IsString()) throw Napi::TypeError::New(env, "names must be strings");
    if (!body.IsBuffer()) throw Napi::TypeError::New(env, "data must be Buffers");
    std::string s = name.As<Napi::String>().Utf8Value();
    if (s.find('\0') != std::string::npos) throw Napi::TypeError::New(env, "name contains a NUL byte");
    auto buf = body.As<Napi::Buffer<uint8_t>>();
    const int64_t *m = meta.Data() + i * CREATE_META_FIELDS;
    files.push_back({static_cast<int>(m[0]), std::move(s), buf.Data(), buf.Length(), m[1], m[2], static_cast<mode_t>(m[3]), m[4], m[5]});
  }
  auto *worker = new CreateFilesWorker(env, std::move(files), data);
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

struct DirCollect {
  Napi::Env env;
  Napi::Array arr;
  uint32_t n;
};

// readDirFd(fd) -> [{ name, type }] with type the dirent d_type (0 unknown, 4 dir, 8 reg, 10 lnk ...)
Napi::Value ReadDirFd(const Napi::CallbackInfo &info) {
  DirCollect c{info.Env(), Napi::Array::New(info.Env()), 0};
  Err err;
  int rc = ns_readdir_fd(
      ArgInt(info, 0, "fd"),
      [](const char *name, unsigned char type, void *ctx) {
        auto *col = static_cast<DirCollect *>(ctx);
        Napi::Object e = Napi::Object::New(col->env);
        e.Set("name", Napi::String::New(col->env, name));
        e.Set("type", Napi::Number::New(col->env, type));
        col->arr.Set(col->n++, e);
      },
      &c, &err.e);
  CHECK(rc);
  return c.arr;
}

}  // namespace

void InitFsAt(Napi::Env env, Napi::Object exports) {
  exports.Set("openat2", Napi::Function::New(env, Openat2));
  exports.Set("mkdirAt", Napi::Function::New(env, MkdirAt));
  exports.Set("symlinkAt", Napi::Function::New(env, SymlinkAt));
  exports.Set("linkAt", Napi::Function::New(env, LinkAt));
  exports.Set("mknodAt", Napi::Function::New(env, MknodAt));
  exports.Set("unlinkAt", Napi::Function::New(env, UnlinkAt));
  exports.Set("renameAt", Napi::Function::New(env, RenameAt));
  exports.Set("lchownAt", Napi::Function::New(env, LchownAt));
  exports.Set("lutimensAt", Napi::Function::New(env, LutimensAt));
  exports.Set("readlinkAt", Napi::Function::New(env, ReadlinkAt));
  exports.Set("fsetxattr", Napi::Function::New(env, Fsetxattr));
  exports.Set("fgetxattrs", Napi::Function::New(env, Fgetxattrs));
  exports.Set("readDirFd", Napi::Function::New(env, ReadDirFd));
  exports.Set("createFilesAt", Napi::Function::New(env, CreateFilesAt));
}

}  // namespace nsb
