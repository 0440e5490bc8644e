#pragma once

#include <napi.h>

namespace nsb {
void InitChannel(Napi::Env env, Napi::Object exports);
}
