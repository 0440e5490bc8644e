#pragma once

#include <napi.h>

namespace nsb {
void InitProcessManager(Napi::Env env, Napi::Object exports);
}
