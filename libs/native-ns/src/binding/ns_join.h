#pragma once

#include <napi.h>

namespace nsb {
void InitNsJoin(Napi::Env env, Napi::Object exports);
}
