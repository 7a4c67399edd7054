// Shared declarations of the inkwell addon: tensor handles and value conversion.
#pragma once

#include <napi.h>
#include <ATen/ATen.h>
#include <c10/util/Exception.h>

#include <atomic>
#include <string>
#include <string_view>
#include <vector>

namespace inkwell {

// Per-instance (per Node environment / worker thread) data: no static JS references, so the addon is
// context-aware and loads in worker_threads (docs/engine.md).
struct AddonData {
  Napi::FunctionReference tensor_ctor;
  Napi::FunctionReference pg_ctor;
  Napi::FunctionReference reducer_ctor;
};

extern std::atomic<int64_t> g_live_tensors;
extern std::atomic<int64_t> g_live_bytes;

// A JS object owning one reference to an at::Tensor. dispose() drops it at once; the destructor (run by the
// GC) is only a safety net, since native memory is invisible to the GC.
class TensorHandle : public Napi::ObjectWrap<TensorHandle> {
 public:
  static Napi::Object Init(Napi::Env env, Napi::Object exports, AddonData* data);
  static Napi::Object Wrap(Napi::Env env, at::Tensor t);
  static bool IsHandle(Napi::Env env, const Napi::Value& v);

  explicit TensorHandle(const Napi::CallbackInfo& info);
  ~TensorHandle() override;

  // Handles come from a pool of their own, outside glibc's heap (see HandlePool in inkwell.cc).
  static void* operator new(size_t size);
  static void operator delete(void* p, size_t size);

  // The tensor, or an exception naming `what` if it was disposed.
  const at::Tensor& Get(Napi::Env env, const char* what) const;

 private:
  void Reset(at::Tensor t);
  void Release();

  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetDisposed(const Napi::CallbackInfo& info);
  Napi::Value GetShape(const Napi::CallbackInfo& info);
  Napi::Value GetStrides(const Napi::CallbackInfo& info);
  Napi::Value GetDType(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value GetRequiresGrad(const Napi::CallbackInfo& info);
  void SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& value);
  Napi::Value GetIsLeaf(const Napi::CallbackInfo& info);
  Napi::Value GetGradFn(const Napi::CallbackInfo& info);
  Napi::Value Grad(const Napi::CallbackInfo& info);
  Napi::Value SetGrad(const Napi::CallbackInfo& info);
  Napi::Value IsContiguous(const Napi::CallbackInfo& info);
  Napi::Value SameStorage(const Napi::CallbackInfo& info);
  Napi::Value StorageOffset(const Napi::CallbackInfo& info);

  at::Tensor tensor_;
  int64_t bytes_ = 0;
  bool live_ = false;
};

at::ScalarType ParseDType(const std::string& name);
std::string DTypeName(at::ScalarType t);
at::MemoryFormat ParseMemoryFormat(const std::string& name);
std::string ShapeString(at::IntArrayRef sizes);

// Conversions used by both the generic call and the special entry points. `repeat` > 0 lets a single
// number stand for a list of that length (schema types such as int[3]).
std::vector<int64_t> ToIntList(Napi::Env env, const Napi::Value& v, const std::string& what, int64_t repeat);
std::vector<at::Tensor> ToTensorList(Napi::Env env, const Napi::Value& v, const std::string& what);

// The one error-translation path of the addon (as TorchSharp funnels every native call through one macro): every
// entry point runs its body through Try (worker threads) or Guard (the JS thread), so a C++ exception of any kind
// becomes a message "<what>: <text>" (a JS Error or a rejected promise) and never reaches Node, which would abort.
std::string ErrorText(const std::exception& e);

// Runs `body`; on an exception stores `message(text)` in *error and returns false. `message` runs only on error.
template <typename Body, typename Message>
bool Try(Body&& body, Message&& message, std::string* error) {
  try {
    body();
    return true;
  } catch (const std::exception& e) {
    *error = message(ErrorText(e));
  } catch (...) {
    *error = message("unknown C++ exception");
  }
  return false;
}

// Runs `body` (returning a Napi::Value) on the JS thread; an exception becomes a JS Error with `message(text)`.
template <typename Message, typename Body>
Napi::Value GuardWith(Napi::Env env, Message&& message, Body&& body) {
  Napi::Value out;
  std::string error;
  if (Try([&] { out = body(); }, message, &error)) return out;
  Napi::Error::New(env, error).ThrowAsJavaScriptException();
  return env.Undefined();
}

// GuardWith for the common message "<what>: <text>".
template <typename Body>
Napi::Value Guard(Napi::Env env, std::string_view what, Body&& body) {
  return GuardWith(env, [what](const std::string& text) { return std::string(what) + ": " + text; }, body);
}

// call(name, overload, args[], kwargs?, discardResult?) and schemas(): see dispatch.cc.
Napi::Value CallOp(const Napi::CallbackInfo& info);
Napi::Value ListSchemas(const Napi::CallbackInfo& info);

// initProcessGroup and the process-group handle (distributed.cc).
void InitDistributed(Napi::Env env, Napi::Object exports, AddonData* data);

// Autocast, cuDNN benchmark, CUDA status, RNG state and allocator statistics (device.cc).
void InitDevice(Napi::Env env, Napi::Object exports);

}  // namespace inkwell
