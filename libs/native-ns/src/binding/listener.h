#pragma once

#include <napi.h>

namespace nsb {
void InitListener(Napi::Env env, Napi::Object exports);
}
