#pragma once

#include <napi.h>

namespace nsb {
void InitOps(Napi::Env env, Napi::Object exports);
}
