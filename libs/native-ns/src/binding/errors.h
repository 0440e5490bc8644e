// errors: turning a C-core ns_error into an instance of the TS-defined NativeNsError class
// (libs/native-ns/src/lib/native-ns.error.ts), registered once by the loader.
#pragma once

#include <napi.h>

extern "C" {
#include "../core/ns_error.h"
}

namespace nsb {

// binding.setErrorClass(NativeNsError): called once by the loader before anything else.
void SetErrorClass(const Napi::CallbackInfo &info);

// An ns_error, cleared, for one call: `Err err; if (core_fn(..., &err.e) < 0) throw MakeError(env, err.e);`
struct Err {
  ns_error e;
  Err() { ns_error_clear(&e); }
};

// A NativeNsError for err (falls back to a plain Error before setErrorClass).
Napi::Error MakeError(Napi::Env env, const ns_error &err);

// Shorthand: an error for errnum/syscall/path.
Napi::Error MakeErrno(Napi::Env env, int errnum, const char *syscall, const char *path = nullptr);

// Argument checking helpers: throw TypeError naming the argument.
int32_t ArgInt(const Napi::CallbackInfo &info, size_t i, const char *name);
int64_t ArgInt64(const Napi::CallbackInfo &info, size_t i, const char *name);
std::string ArgString(const Napi::CallbackInfo &info, size_t i, const char *name);
bool ArgBool(const Napi::CallbackInfo &info, size_t i, bool fallback);

}  // namespace nsb
