// runJoined: mount operations in another process's namespaces from a thread of this process
// (src/core/nsjoin.c), off the JS thread: the libuv pool thread starts the joining thread and
// waits for it, so neither ever leaves this process's namespaces.
#include "ns_join.h"

#include <string>
#include <vector>

#include "errors.h"

extern "C" {
#include "../core/nsjoin.h"
}

namespace nsb {

namespace {

// runJoined(pidfd, nstypes, rootFd, ops) -> Promise<number[]>: per operation the tree an
// openTree made (owned by the caller), else -1. ops: [{ kind, path, treeFd, create, propagation,
// attrSet, attrClr, recursive, flags, mode, fstype, options }] (twin: JoinOp in src/lib/ns-ops.ts).
class JoinWorker : public Napi::AsyncWorker {
 public:
  struct Op {
    ns_join_op raw;
    std::string path, fstype, options;
  };

  JoinWorker(Napi::Env env, int pidfd, int nstypes, int root_fd, std::vector<Op> ops)
      : Napi::AsyncWorker(env, "wsrun:runJoined"), pidfd_(pidfd), nstypes_(nstypes), root_fd_(root_fd), ops_(std::move(ops)),
        deferred_(Napi::Promise::Deferred::New(env)) {}

  Napi::Promise Promise() { return deferred_.Promise(); }

  // on a pool thread: no N-API
  void Execute() override {
    std::vector<ns_join_op> raw;
    raw.reserve(ops_.size());
    for (Op &op : ops_) {
      op.raw.path = op.path.c_str();
      op.raw.fstype = op.fstype.c_str();
      op.raw.options = op.options.c_str();
      raw.push_back(op.raw);
    }
    rc_ = ns_run_joined(pidfd_, nstypes_, root_fd_, raw.data(), static_cast<int>(raw.size()), &failed_, &err_.e);
    for (size_t i = 0; i < raw.size(); i++) ops_[i].raw.result_fd = raw[i].result_fd;
  }

  void OnOK() override {
    Napi::Env env = Env();
    if (rc_ < 0) {
      Napi::Error e = MakeError(env, err_.e);
      e.Set("step", Napi::Number::New(env, failed_));
      deferred_.Reject(e.Value());
      return;
    }
    Napi::Array fds = Napi::Array::New(env, ops_.size());
    for (size_t i = 0; i < ops_.size(); i++) fds.Set(static_cast<uint32_t>(i), Napi::Number::New(env, ops_[i].raw.result_fd));
    deferred_.Resolve(fds);
  }

  void OnError(const Napi::Error &e) override { deferred_.Reject(e.Value()); }

 private:
  int pidfd_, nstypes_, root_fd_;
  std::vector<Op> ops_;
  Err err_;
  int rc_ = -1;
  int failed_ = -1;
  Napi::Promise::Deferred deferred_;
};

int Int(Napi::Object o, const char *key, int fallback) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().Int32Value() : fallback;
}

uint64_t Mask(Napi::Object o, const char *key) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? static_cast<uint64_t>(v.As<Napi::Number>().Int64Value()) : 0;
}

std::string Str(Napi::Env env, Napi::Object o, const char *key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) return std::string();
  std::string s = v.As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) throw Napi::TypeError::New(env, std::string(key) + " contains a NUL byte");
  return s;
}

Napi::Value RunJoined(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  int pidfd = ArgInt(info, 0, "pidfd");
  int nstypes = ArgInt(info, 1, "nstypes");
  int root_fd = ArgInt(info, 2, "rootFd");
  if (!info[3].IsArray()) throw Napi::TypeError::New(env, "ops must be an array");
  Napi::Array arr = info[3].As<Napi::Array>();
  std::vector<JoinWorker::Op> ops(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); i++) {
    Napi::Value v = arr[i];
    if (!v.IsObject()) throw Napi::TypeError::New(env, "an operation must be an object");
    Napi::Object o = v.As<Napi::Object>();
    JoinWorker::Op &op = ops[i];
    op.raw = ns_join_op{};
    op.raw.kind = Int(o, "kind", 0);
    op.raw.tree_fd = Int(o, "treeFd", -1);
    op.raw.create = Int(o, "create", 0);
    op.raw.propagation = Int(o, "propagation", 0);
    op.raw.attr_set = Mask(o, "attrSet");
    op.raw.attr_clr = Mask(o, "attrClr");
    op.raw.recursive = Int(o, "recursive", 0);
    op.raw.flags = Int(o, "flags", 0);
    op.raw.mode = Int(o, "mode", 0755);
    op.raw.result_fd = -1;
    op.path = Str(env, o, "path");
    op.fstype = Str(env, o, "fstype");
    op.options = Str(env, o, "options");
  }
  auto *worker = new JoinWorker(env, pidfd, nstypes, root_fd, std::move(ops));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace

void InitNsJoin(Napi::Env env, Napi::Object exports) { exports.Set("runJoined", Napi::Function::New(env, RunJoined)); }

}  // namespace nsb
