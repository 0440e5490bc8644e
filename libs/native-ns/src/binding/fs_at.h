#pragma once

#include <napi.h>

namespace nsb {
void InitFsAt(Napi::Env env, Napi::Object exports);
}
