#include "errors.h"

#include <string>

namespace nsb {

static Napi::FunctionReference *error_class = nullptr;

void SetErrorClass(const Napi::CallbackInfo &info) {
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "setErrorClass: expected a class");
  if (error_class == nullptr) error_class = new Napi::FunctionReference();
  *error_class = Napi::Persistent(info[0].As<Napi::Function>());
}

Napi::Error MakeError(Napi::Env env, const ns_error &err) {
  Napi::Object fields = Napi::Object::New(env);
  fields.Set("errno", Napi::Number::New(env, err.errnum));
  fields.Set("code", Napi::String::New(env, ns_errno_name(err.errnum)));
  fields.Set("syscall", Napi::String::New(env, err.syscall));
  if (err.path[0] != '\0') fields.Set("path", Napi::String::New(env, err.path));
  if (err.pid != 0) fields.Set("pid", Napi::Number::New(env, err.pid));
  if (err.detail[0] != '\0') fields.Set("detail", Napi::String::New(env, err.detail));
  if (error_class != nullptr && !error_class->IsEmpty()) {
    Napi::Object obj = error_class->New({fields});
    return Napi::Error(env, obj);
  }
  std::string msg = std::string(err.syscall) + ": " + ns_errno_name(err.errnum);
  Napi::Error plain = Napi::Error::New(env, msg);
  plain.Set("code", fields.Get("code"));
  plain.Set("errno", fields.Get("errno"));
  plain.Set("syscall", fields.Get("syscall"));
  return plain;
}

Napi::Error MakeErrno(Napi::Env env, int errnum, const char *syscall, const char *path) {
  ns_error err;
  ns_error_clear(&err);
  ns_fail(&err, errnum, syscall, path);
  return MakeError(env, err);
}

int32_t ArgInt(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

int64_t ArgInt64(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (info[i].IsBigInt()) {
    bool lossless = true;
    return info[i].As<Napi::BigInt>().Int64Value(&lossless);
  }
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int64Value();
}

std::string ArgString(const Napi::CallbackInfo &info, size_t i, const char *name) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a string");
  std::string s = info[i].As<Napi::String>().Utf8Value();
  if (s.find('\0') != std::string::npos) throw Napi::TypeError::New(info.Env(), std::string(name) + " contains a NUL byte");
  return s;
}

bool ArgBool(const Napi::CallbackInfo &info, size_t i, bool fallback) {
  if (info.Length() <= i || info[i].IsUndefined()) return fallback;
  return info[i].ToBoolean().Value();
}

}  // namespace nsb
