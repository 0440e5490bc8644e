#pragma once

#include <napi.h>

namespace nsb {
void InitSeccomp(Napi::Env env, Napi::Object exports);
}
