// Device entry points the generic dispatcher call cannot reach: autocast state, cuDNN benchmark mode, CUDA
// availability (and why it is missing), the CUDA generators' states and the CUDA caching allocator's
// statistics, and the devices' names. Nothing here needs libtorch_cuda but the names: CUDA is reached through
// ATen's hooks and c10's device registries, so one source builds against CPU-only and CUDA libtorches alike.
#include "inkwell.h"

#include <ATen/autocast_mode.h>
#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <c10/core/impl/DeviceGuardImplInterface.h>
#include <torch/version.h>

#include <mutex>
#include <stdexcept>
#include <string>

// libtorch >= 2.9 exposes every device allocator's statistics through c10::DeviceAllocator.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 9)
#include <c10/core/CachingDeviceAllocator.h>
#define INKWELL_DEVICE_ALLOCATOR_STATS 1
#endif

// A device's properties (its name) come only from libtorch_cuda's at::cuda::getDeviceProperties, whose header
// needs the CUDA runtime's headers: built where the addon links the CUDA half and finds them (torch-paths.cjs).
#ifdef INKWELL_CUDA_CONTEXT
#include <ATen/cuda/CUDAContextLight.h>
#endif

// libtorch >= 2.4 takes the device type in the autocast API; 1.13 has one function per backend.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define INKWELL_AUTOCAST_BY_DEVICE 1
#endif

namespace inkwell {
namespace {

at::DeviceType AutocastDevice(const Napi::Value& v) {
  const std::string name = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (name == "cpu") return at::kCPU;
  if (name == "cuda") return at::kCUDA;
  throw std::invalid_argument("device type must be 'cpu' or 'cuda', got '" + name + "'");
}

bool AutocastEnabled(at::DeviceType d) {
#ifdef INKWELL_AUTOCAST_BY_DEVICE
  return at::autocast::is_autocast_enabled(d);
#else
  return d == at::kCPU ? at::autocast::is_cpu_enabled() : at::autocast::is_enabled();
#endif
}

at::ScalarType AutocastDType(at::DeviceType d) {
#ifdef INKWELL_AUTOCAST_BY_DEVICE
  return at::autocast::get_autocast_dtype(d);
#else
  return d == at::kCPU ? at::autocast::get_autocast_cpu_dtype() : at::autocast::get_autocast_gpu_dtype();
#endif
}

void SetAutocast(at::DeviceType d, bool enabled, at::ScalarType dtype) {
#ifdef INKWELL_AUTOCAST_BY_DEVICE
  at::autocast::set_autocast_enabled(d, enabled);
  at::autocast::set_autocast_dtype(d, dtype);
#else
  if (d == at::kCPU) {
    at::autocast::set_cpu_enabled(enabled);
    at::autocast::set_autocast_cpu_dtype(dtype);
  } else {
    at::autocast::set_enabled(enabled);
    at::autocast::set_autocast_gpu_dtype(dtype);
  }
#endif
}

Napi::Object AutocastState(Napi::Env env, at::DeviceType d) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("enabled", Napi::Boolean::New(env, AutocastEnabled(d)));
  o.Set("dtype", Napi::String::New(env, DTypeName(AutocastDType(d))));
  return o;
}

// autocastEnter(deviceType, enabled, dtype) -> the previous {enabled, dtype}; as torch.autocast.__enter__.
Napi::Value AutocastEnter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "autocastEnter", [&]() -> Napi::Value {
    const at::DeviceType d = AutocastDevice(info[0]);
    Napi::Object prev = AutocastState(env, d);
    SetAutocast(d, info[1].ToBoolean().Value(), ParseDType(info[2].As<Napi::String>().Utf8Value()));
    at::autocast::increment_nesting();
    return prev;
  });
}

// autocastExit(deviceType, prevEnabled, prevDtype): restores the state; the outermost exit empties the cast
// cache, as torch.autocast.__exit__ does.
Napi::Value AutocastExit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "autocastExit", [&]() -> Napi::Value {
    const at::DeviceType d = AutocastDevice(info[0]);
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    SetAutocast(d, info[1].ToBoolean().Value(), ParseDType(info[2].As<Napi::String>().Utf8Value()));
    return env.Undefined();
  });
}

Napi::Value AutocastGet(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "autocastState", [&]() -> Napi::Value { return AutocastState(env, AutocastDevice(info[0])); });
}

// cudnnBenchmark(enabled?) -> the previous setting (torch.backends.cudnn.benchmark).
Napi::Value CudnnBenchmark(const Napi::CallbackInfo& info) {
  const bool prev = at::globalContext().benchmarkCuDNN();
  if (info.Length() > 0 && !info[0].IsUndefined()) at::globalContext().setBenchmarkCuDNN(info[0].ToBoolean().Value());
  return Napi::Boolean::New(info.Env(), prev);
}

// {built, devices}: whether libtorch's CUDA backend is loaded (it registers CUDA's device guard) and how many
// GPUs it sees, so that a caller can say which of the two is missing.
Napi::Value CudaStatus(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "cudaStatus", [&]() -> Napi::Value {
    Napi::Object o = Napi::Object::New(env);
    const bool built = c10::impl::hasDeviceGuardImpl(at::kCUDA);
    o.Set("built", Napi::Boolean::New(env, built));
    o.Set("devices", Napi::Number::New(env, built ? static_cast<double>(at::detail::getCUDAHooks().getNumGPUs()) : 0));
    return o;
  });
}

int64_t CheckedIndex(const Napi::Value& v) {
  const int64_t n = at::detail::getCUDAHooks().getNumGPUs();
  const int64_t i = v.IsNumber() ? v.As<Napi::Number>().Int64Value() : -1;
  if (i < 0 || i >= n) {
    throw std::invalid_argument("no CUDA device " + std::to_string(i) + " (this process sees " +
                                std::to_string(n) + ")");
  }
  return i;
}

// The CUDA generator's state of device i (Philox seed and offset), as torch.cuda.get_rng_state(i).
Napi::Value CudaGetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "cudaGetRngState", [&]() -> Napi::Value {
    const auto i = static_cast<c10::DeviceIndex>(CheckedIndex(info[0]));
    auto gen = at::globalContext().defaultGenerator(at::Device(at::kCUDA, i));
    std::lock_guard<std::mutex> lock(gen.mutex());
    return TensorHandle::Wrap(env, gen.get_state());
  });
}

Napi::Value CudaSetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "cudaSetRngState", [&]() -> Napi::Value {
    const int64_t i = CheckedIndex(info[0]);
    if (info.Length() < 2 || !TensorHandle::IsHandle(env, info[1])) throw std::invalid_argument("expected a uint8 tensor");
    const at::Tensor& state = TensorHandle::Unwrap(info[1].As<Napi::Object>())->Get(env, "cudaSetRngState");
    auto gen = at::globalContext().defaultGenerator(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
    return env.Undefined();
  });
}

// cudaDeviceName(i) -> device i's name (cudaDeviceProp.name, as torch.cuda.get_device_name(i)), or null where
// the addon was built without the CUDA runtime's headers.
Napi::Value CudaDeviceName(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "cudaDeviceName", [&]() -> Napi::Value {
    const int64_t i = CheckedIndex(info[0]);
#ifdef INKWELL_CUDA_CONTEXT
    return Napi::String::New(env, at::cuda::getDeviceProperties(static_cast<c10::DeviceIndex>(i))->name);
#else
    (void)i;
    return env.Null();
#endif
  });
}

// cudaMemoryStats(i) -> {allocated, reserved, peakAllocated, peakReserved} bytes of the caching allocator
// (torch.cuda.memory_allocated / memory_reserved / max_memory_*), or null where this libtorch has no
// generic allocator statistics.
Napi::Value CudaMemoryStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "cudaMemoryStats", [&]() -> Napi::Value {
    const int64_t i = CheckedIndex(info[0]);
#ifdef INKWELL_DEVICE_ALLOCATOR_STATS
    const auto stats = c10::getDeviceAllocator(at::kCUDA)->getDeviceStats(static_cast<c10::DeviceIndex>(i));
    const auto all = static_cast<size_t>(c10::CachingDeviceAllocator::StatType::AGGREGATE);
    Napi::Object o = Napi::Object::New(env);
    o.Set("allocated", Napi::Number::New(env, static_cast<double>(stats.allocated_bytes[all].current)));
    o.Set("reserved", Napi::Number::New(env, static_cast<double>(stats.reserved_bytes[all].current)));
    o.Set("peakAllocated", Napi::Number::New(env, static_cast<double>(stats.allocated_bytes[all].peak)));
    o.Set("peakReserved", Napi::Number::New(env, static_cast<double>(stats.reserved_bytes[all].peak)));
    return o;
#else
    (void)i;
    return env.Null();
#endif
  });
}

}  // namespace

void InitDevice(Napi::Env env, Napi::Object exports) {
  exports.Set("autocastEnter", Napi::Function::New(env, AutocastEnter));
  exports.Set("autocastExit", Napi::Function::New(env, AutocastExit));
  exports.Set("autocastState", Napi::Function::New(env, AutocastGet));
  exports.Set("cudnnBenchmark", Napi::Function::New(env, CudnnBenchmark));
  exports.Set("cudaStatus", Napi::Function::New(env, CudaStatus));
  exports.Set("cudaGetRngState", Napi::Function::New(env, CudaGetRngState));
  exports.Set("cudaSetRngState", Napi::Function::New(env, CudaSetRngState));
  exports.Set("cudaMemoryStats", Napi::Function::New(env, CudaMemoryStats));
  exports.Set("cudaDeviceName", Napi::Function::New(env, CudaDeviceName));
}

}  // namespace inkwell
