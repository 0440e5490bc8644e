// The N-API module of native-ns: marshalling only. Kernel work lives in src/core (C);
// policy and types live in src/lib (TS).
#include <napi.h>

#include "channel.h"
#include "errors.h"
#include "fs_at.h"
#include "listener.h"
#include "ns_join.h"
#include "ops.h"
#include "process_manager.h"
#include "seccomp_listener.h"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("setErrorClass", Napi::Function::New(env, nsb::SetErrorClass));
  nsb::InitOps(env, exports);
  nsb::InitFsAt(env, exports);
  nsb::InitProcessManager(env, exports);
  nsb::InitChannel(env, exports);
  nsb::InitSeccomp(env, exports);
  nsb::InitListener(env, exports);
  nsb::InitNsJoin(env, exports);
  return exports;
}

NODE_API_MODULE(native_ns, Init)
