// inkwell native addon: a thin N-API shim over libtorch.
//
// Design (see docs/engine.md): one generic entry point calls any ATen operator by schema name through
// the c10 dispatcher (which also records autograd), converting JS values to IValues as the operator's schema
// dictates. A handful of special entry points cover what the dispatcher cannot: tensors from/to JS memory,
// backward, grad mode, seeding, threads and memory statistics. Every C++ exception becomes a JS Error that
// names the operator and the shapes of its tensor arguments; nothing aborts the process.
#include <napi.h>

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>
#include <c10/util/Exception.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/version.h>

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#if defined(__GLIBC__)
#include <malloc.h>  // mallopt (TuneMalloc)
#endif

#include "inkwell.h"

namespace inkwell {

std::atomic<int64_t> g_live_tensors{0};
std::atomic<int64_t> g_live_bytes{0};

// ---------------------------------------------------------------------------------------------------------
// dtype / device names shared with TypeScript (src/torch/dtype.ts)

at::ScalarType ParseDType(const std::string& name) {
  if (name == "float32") return at::kFloat;
  if (name == "float16") return at::kHalf;
  if (name == "bfloat16") return at::kBFloat16;
  if (name == "float64") return at::kDouble;
  if (name == "int64") return at::kLong;
  if (name == "int32") return at::kInt;
  if (name == "int16") return at::kShort;
  if (name == "int8") return at::kChar;
  if (name == "uint8") return at::kByte;
  if (name == "bool") return at::kBool;
  throw std::invalid_argument("unknown dtype '" + name +
                              "' (expected float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8 or bool)");
}

std::string DTypeName(at::ScalarType t) {
  switch (t) {
    case at::kFloat: return "float32";
    case at::kHalf: return "float16";
    case at::kBFloat16: return "bfloat16";
    case at::kDouble: return "float64";
    case at::kLong: return "int64";
    case at::kInt: return "int32";
    case at::kShort: return "int16";
    case at::kChar: return "int8";
    case at::kByte: return "uint8";
    case at::kBool: return "bool";
    default: return c10::toString(t);
  }
}

std::string DeviceName(const at::Device& d) {
  if (d.is_cpu()) return "cpu";
  return d.str();  // "cuda:0"
}

std::string ShapeString(at::IntArrayRef sizes) {
  std::ostringstream s;
  s << "[";
  for (size_t i = 0; i < sizes.size(); ++i) s << (i ? "," : "") << sizes[i];
  s << "]";
  return s.str();
}

// ---------------------------------------------------------------------------------------------------------
// Tensor handles

Napi::Object TensorHandle::Init(Napi::Env env, Napi::Object exports, AddonData* data) {
  Napi::Function ctor = DefineClass(
      env, "TensorHandle",
      {
          InstanceMethod("dispose", &TensorHandle::Dispose),
          InstanceAccessor("disposed", &TensorHandle::GetDisposed, nullptr),
          InstanceAccessor("shape", &TensorHandle::GetShape, nullptr),
          InstanceAccessor("strides", &TensorHandle::GetStrides, nullptr),
          InstanceAccessor("dtype", &TensorHandle::GetDType, nullptr),
          InstanceAccessor("device", &TensorHandle::GetDevice, nullptr),
          InstanceAccessor("requiresGrad", &TensorHandle::GetRequiresGrad, &TensorHandle::SetRequiresGrad),
          InstanceAccessor("isLeaf", &TensorHandle::GetIsLeaf, nullptr),
          InstanceAccessor("gradFn", &TensorHandle::GetGradFn, nullptr),
          InstanceMethod("grad", &TensorHandle::Grad),
          InstanceMethod("setGrad", &TensorHandle::SetGrad),
          InstanceMethod("isContiguous", &TensorHandle::IsContiguous),
          InstanceMethod("sameStorage", &TensorHandle::SameStorage),
          InstanceMethod("storageOffset", &TensorHandle::StorageOffset),
      });
  data->tensor_ctor = Napi::Persistent(ctor);
  exports.Set("TensorHandle", ctor);
  return exports;
}

// A TensorHandle outlives its tensor: dispose() frees the tensor at once, the handle waits for the GC to collect
// its JS object, often many steps later. Allocated with plain `new`, a handle lands in glibc's main heap right
// after the output data its op just allocated there, and stays: when that data is freed, its chunk can merge
// neither with the heap top nor with the next block (posix_memalign needs a little more than the freed chunk
// for the same size again), so each step grows the heap with fresh blocks that glibc trims again later, and every
// new page faults in zeroed. A ResNet bottleneck step took ~30k page faults against ~7k in PyTorch, whose
// tensor wrappers live in pymalloc's arenas and die with their last reference. Handles therefore come from
// fixed-size slots in slabs mapped outside the heap; slots are reused, slabs are kept (a few KB per thousand
// handles alive at once).
namespace {
class HandlePool {
 public:
  static constexpr size_t kSlot = (sizeof(TensorHandle) + alignof(std::max_align_t) - 1) /
                                  alignof(std::max_align_t) * alignof(std::max_align_t);

  void* Get() {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_) Grow();
    Slot* s = free_;
    free_ = s->next;
    return s;
  }
  void Put(void* p) {
    std::lock_guard<std::mutex> lock(mu_);
    auto* s = static_cast<Slot*>(p);
    s->next = free_;
    free_ = s;
  }

 private:
  struct Slot {
    Slot* next;
  };
  static constexpr size_t kSlab = 256 << 10;
  void Grow() {
    void* slab = mmap(nullptr, kSlab, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (slab == MAP_FAILED) throw std::bad_alloc();
    for (size_t off = 0; off + kSlot <= kSlab; off += kSlot) {
      auto* s = reinterpret_cast<Slot*>(static_cast<char*>(slab) + off);
      s->next = free_;
      free_ = s;
    }
  }
  std::mutex mu_;
  Slot* free_ = nullptr;
};

// Never destroyed: GC finalisers may still return handles while the process exits.
HandlePool& Pool() {
  static auto* pool = new HandlePool();
  return *pool;
}
}  // namespace

void* TensorHandle::operator new(size_t size) {
  return size <= HandlePool::kSlot ? Pool().Get() : ::operator new(size);
}

void TensorHandle::operator delete(void* p, size_t size) {
  if (size <= HandlePool::kSlot) Pool().Put(p);
  else ::operator delete(p);
}

TensorHandle::TensorHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorHandle>(info) {}

TensorHandle::~TensorHandle() { Release(); }

void TensorHandle::Reset(at::Tensor t) {
  Release();
  tensor_ = std::move(t);
  bytes_ = tensor_.defined() ? static_cast<int64_t>(tensor_.numel()) * tensor_.element_size() : 0;
  ++g_live_tensors;
  g_live_bytes += bytes_;
  live_ = true;
}

void TensorHandle::Release() {
  if (!live_) return;
  tensor_ = at::Tensor();
  --g_live_tensors;
  g_live_bytes -= bytes_;
  bytes_ = 0;
  live_ = false;
}

Napi::Object TensorHandle::Wrap(Napi::Env env, at::Tensor t) {
  auto* data = env.GetInstanceData<AddonData>();
  Napi::Object obj = data->tensor_ctor.New({});
  TensorHandle::Unwrap(obj)->Reset(std::move(t));
  return obj;
}

const at::Tensor& TensorHandle::Get(Napi::Env env, const char* what) const {
  if (!live_) throw std::invalid_argument(std::string(what) + ": tensor was disposed");
  return tensor_;
}

bool TensorHandle::IsHandle(Napi::Env env, const Napi::Value& v) {
  if (!v.IsObject()) return false;
  auto* data = env.GetInstanceData<AddonData>();
  return v.As<Napi::Object>().InstanceOf(data->tensor_ctor.Value());
}

Napi::Value TensorHandle::Dispose(const Napi::CallbackInfo& info) {
  Release();
  return info.Env().Undefined();
}

Napi::Value TensorHandle::GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), !live_); }

static Napi::Array IntArray(Napi::Env env, at::IntArrayRef v) {
  Napi::Array out = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(v[i])));
  return out;
}

std::string ErrorText(const std::exception& e) {
  // c10 errors carry C++ stack frames after the text (with or without what_without_backtrace, depending on the
  // libtorch): keep the human part.
  const auto* c10 = dynamic_cast<const c10::Error*>(&e);
  std::string out = c10 ? c10->what_without_backtrace() : e.what();
  const auto pos = out.find("\nException raised from");
  if (pos != std::string::npos) out.resize(pos);
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Accessors and methods below run inside Guard so a disposed handle gives a JS Error, not a crash.
Napi::Value TensorHandle::GetShape(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "shape", [&] { return IntArray(info.Env(), Get(info.Env(), "shape").sizes()); });
}
Napi::Value TensorHandle::GetStrides(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "strides", [&] { return IntArray(info.Env(), Get(info.Env(), "strides").strides()); });
}
Napi::Value TensorHandle::GetDType(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "dtype", [&] {
    return Napi::String::New(info.Env(), DTypeName(Get(info.Env(), "dtype").scalar_type()));
  });
}
Napi::Value TensorHandle::GetDevice(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "device", [&] {
    return Napi::String::New(info.Env(), DeviceName(Get(info.Env(), "device").device()));
  });
}
Napi::Value TensorHandle::GetRequiresGrad(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "requiresGrad", [&] {
    return Napi::Boolean::New(info.Env(), Get(info.Env(), "requiresGrad").requires_grad());
  });
}
void TensorHandle::SetRequiresGrad(const Napi::CallbackInfo& info, const Napi::Value& value) {
  Guard(info.Env(), "requiresGrad", [&] {
    // requires_grad_ is only legal on leaves (c10 says so in its error, which we pass on).
    const_cast<at::Tensor&>(Get(info.Env(), "requiresGrad")).requires_grad_(value.ToBoolean().Value());
    return info.Env().Undefined();
  });
}
Napi::Value TensorHandle::GetIsLeaf(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "isLeaf", [&] { return Napi::Boolean::New(info.Env(), Get(info.Env(), "isLeaf").is_leaf()); });
}
Napi::Value TensorHandle::GetGradFn(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "gradFn", [&]() -> Napi::Value {
    const auto& fn = Get(info.Env(), "gradFn").grad_fn();
    if (!fn) return info.Env().Null();
    return Napi::String::New(info.Env(), fn->name());
  });
}
Napi::Value TensorHandle::Grad(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "grad", [&]() -> Napi::Value {
    const at::Tensor& g = Get(info.Env(), "grad").grad();
    if (!g.defined()) return info.Env().Null();
    return Wrap(info.Env(), g);
  });
}
Napi::Value TensorHandle::SetGrad(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "setGrad", [&] {
    at::Tensor& t = const_cast<at::Tensor&>(Get(info.Env(), "setGrad"));
    if (info.Length() < 1 || info[0].IsNull() || info[0].IsUndefined()) {
      t.mutable_grad() = at::Tensor();
    } else {
      if (!IsHandle(info.Env(), info[0])) throw std::invalid_argument("expected a tensor or null");
      const at::Tensor& g = Unwrap(info[0].As<Napi::Object>())->Get(info.Env(), "setGrad");
      if (!g.sizes().equals(t.sizes()))
        throw std::invalid_argument("grad of shape " + ShapeString(g.sizes()) + " for a tensor of shape " + ShapeString(t.sizes()));
      t.mutable_grad() = g;
    }
    return info.Env().Undefined();
  });
}
Napi::Value TensorHandle::IsContiguous(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "isContiguous", [&] {
    const at::Tensor& t = Get(info.Env(), "isContiguous");
    at::MemoryFormat fmt = at::MemoryFormat::Contiguous;
    if (info.Length() > 0 && info[0].IsString()) fmt = ParseMemoryFormat(info[0].As<Napi::String>().Utf8Value());
    return Napi::Boolean::New(info.Env(), t.is_contiguous(fmt));
  });
}
Napi::Value TensorHandle::SameStorage(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "sameStorage", [&] {
    const at::Tensor& t = Get(info.Env(), "sameStorage");
    if (info.Length() < 1 || !IsHandle(info.Env(), info[0])) throw std::invalid_argument("expected a tensor");
    const at::Tensor& o = Unwrap(info[0].As<Napi::Object>())->Get(info.Env(), "sameStorage");
    return Napi::Boolean::New(info.Env(), t.is_alias_of(o));
  });
}
Napi::Value TensorHandle::StorageOffset(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "storageOffset", [&] {
    return Napi::Number::New(info.Env(), static_cast<double>(Get(info.Env(), "storageOffset").storage_offset()));
  });
}

at::MemoryFormat ParseMemoryFormat(const std::string& name) {
  if (name == "contiguous") return at::MemoryFormat::Contiguous;
  if (name == "preserve") return at::MemoryFormat::Preserve;
  if (name == "channels_last") return at::MemoryFormat::ChannelsLast;
  if (name == "channels_last_3d") return at::MemoryFormat::ChannelsLast3d;
  throw std::invalid_argument("unknown memory format '" + name + "' (expected contiguous, preserve, channels_last or channels_last_3d)");
}

// ---------------------------------------------------------------------------------------------------------
// Module-level functions

static Napi::Value FromBuffer(const Napi::CallbackInfo& info) {
  // fromBuffer(bytes: TypedArray | ArrayBuffer, shape: number[], dtype: string, device?: string)
  Napi::Env env = info.Env();
  return Guard(env, "fromBuffer", [&]() -> Napi::Value {
    if (info.Length() < 3) throw std::invalid_argument("expected (data, shape, dtype[, device])");
    const uint8_t* src = nullptr;
    size_t len = 0;
    if (info[0].IsTypedArray()) {
      auto ta = info[0].As<Napi::TypedArray>();
      src = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
      len = ta.ByteLength();
    } else if (info[0].IsArrayBuffer()) {
      auto ab = info[0].As<Napi::ArrayBuffer>();
      src = static_cast<const uint8_t*>(ab.Data());
      len = ab.ByteLength();
    } else {
      throw std::invalid_argument("data must be a typed array or ArrayBuffer");
    }
    std::vector<int64_t> shape = ToIntList(env, info[1], "shape", -1);
    at::ScalarType st = ParseDType(info[2].As<Napi::String>().Utf8Value());
    at::Tensor t = at::empty(shape, at::TensorOptions().dtype(st));
    const size_t need = static_cast<size_t>(t.numel()) * t.element_size();
    if (need != len)
      throw std::invalid_argument(DTypeName(st) + " tensor of shape " + ShapeString(shape) + " needs " +
                                  std::to_string(need) + " bytes, got " + std::to_string(len));
    if (need) std::memcpy(t.data_ptr(), src, need);
    if (info.Length() > 3 && info[3].IsString()) {
      at::Device dev(info[3].As<Napi::String>().Utf8Value());
      if (!dev.is_cpu()) t = t.to(dev);
    }
    return TensorHandle::Wrap(env, std::move(t));
  });
}

static Napi::Value ToBuffer(const Napi::CallbackInfo& info) {
  // toBuffer(t) -> ArrayBuffer holding the tensor's elements, contiguous, on the CPU.
  Napi::Env env = info.Env();
  return Guard(env, "toBuffer", [&]() -> Napi::Value {
    if (info.Length() < 1 || !TensorHandle::IsHandle(env, info[0])) throw std::invalid_argument("expected a tensor");
    at::Tensor t = TensorHandle::Unwrap(info[0].As<Napi::Object>())->Get(env, "toBuffer");
    t = t.detach().to(at::kCPU).contiguous();
    const size_t n = static_cast<size_t>(t.numel()) * t.element_size();
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n);
    if (n) std::memcpy(ab.Data(), t.data_ptr(), n);
    return ab;
  });
}

static Napi::Value Backward(const Napi::CallbackInfo& info) {
  // backward(tensors: Tensor[], grads: (Tensor|null)[], retainGraph: bool, createGraph: bool)
  Napi::Env env = info.Env();
  return Guard(env, "backward", [&]() -> Napi::Value {
    std::vector<at::Tensor> outputs = ToTensorList(env, info[0], "tensors");
    std::vector<at::Tensor> grads;
    if (info.Length() > 1 && info[1].IsArray()) {
      auto arr = info[1].As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        Napi::Value g = arr.Get(i);
        grads.push_back(g.IsNull() || g.IsUndefined() ? at::Tensor() : TensorHandle::Unwrap(g.As<Napi::Object>())->Get(env, "backward"));
      }
    }
    for (size_t i = 0; i < outputs.size(); ++i) {
      const bool have_grad = i < grads.size() && grads[i].defined();
      if (!outputs[i].requires_grad())
        throw std::invalid_argument("tensor " + std::to_string(i) + " of shape " + ShapeString(outputs[i].sizes()) +
                                    " does not require grad and has no grad_fn (was it computed under noGrad, or from detached inputs?)");
      if (!have_grad && outputs[i].numel() != 1)
        throw std::invalid_argument("grad can be implicitly created only for scalar outputs, got shape " + ShapeString(outputs[i].sizes()));
    }
    c10::optional<bool> retain;
    if (info.Length() > 2 && info[2].IsBoolean()) retain = info[2].As<Napi::Boolean>().Value();
    const bool create = info.Length() > 3 && info[3].IsBoolean() && info[3].As<Napi::Boolean>().Value();
    torch::autograd::backward(outputs, grads, retain, create);
    return env.Undefined();
  });
}

static Napi::Value ReachedBy(const Napi::CallbackInfo& info) {
  // reachedBy(output: Tensor, leaves: Tensor[]) -> boolean[]: whether backward from `output` would reach each
  // leaf's gradient accumulator (the graph walk of DDP's find_unused_parameters, c10d reducer.cpp).
  Napi::Env env = info.Env();
  return Guard(env, "reachedBy", [&]() -> Napi::Value {
    if (info.Length() < 1 || !TensorHandle::IsHandle(env, info[0])) throw std::invalid_argument("expected an output tensor");
    const at::Tensor& output = TensorHandle::Unwrap(info[0].As<Napi::Object>())->Get(env, "reachedBy");
    std::vector<at::Tensor> leaves = ToTensorList(env, info[1], "leaves");
    std::unordered_set<torch::autograd::Node*> seen;
    std::vector<torch::autograd::Node*> stack;
    if (auto root = output.grad_fn()) {
      seen.insert(root.get());
      stack.push_back(root.get());
    }
    while (!stack.empty()) {
      torch::autograd::Node* node = stack.back();
      stack.pop_back();
      for (const auto& edge : node->next_edges()) {
        torch::autograd::Node* next = edge.function.get();
        if (next && seen.insert(next).second) stack.push_back(next);
      }
    }
    Napi::Array out = Napi::Array::New(env, leaves.size());
    for (size_t i = 0; i < leaves.size(); ++i) {
      auto acc = torch::autograd::impl::try_get_grad_accumulator(leaves[i]);
      out.Set(static_cast<uint32_t>(i), Napi::Boolean::New(env, acc && seen.count(acc.get()) > 0));
    }
    return out;
  });
}

static Napi::Value SetGradEnabled(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "setGradEnabled", [&] {
    const bool prev = at::GradMode::is_enabled();
    at::GradMode::set_enabled(info.Length() > 0 && info[0].ToBoolean().Value());
    return Napi::Boolean::New(info.Env(), prev);
  });
}

static Napi::Value IsGradEnabled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), at::GradMode::is_enabled());
}

static Napi::Value ManualSeed(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "manualSeed", [&] {
    const uint64_t seed = info[0].IsBigInt() ? info[0].As<Napi::BigInt>().Uint64Value(nullptr)
                                             : static_cast<uint64_t>(info[0].As<Napi::Number>().Int64Value());
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_current_seed(seed);
    }
    if (at::globalContext().hasCUDA()) {
      for (int i = 0; i < static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()); ++i) {
        auto gen = at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(i)));
        std::lock_guard<std::mutex> lock(gen.mutex());
        gen.set_current_seed(seed);
      }
    }
    return env.Undefined();
  });
}

static Napi::Value GetRngState(const Napi::CallbackInfo& info) {
  // The CPU generator's full state (mt19937 + normal cache), so that a resumed run continues the same stream.
  Napi::Env env = info.Env();
  return Guard(env, "getRngState", [&]() -> Napi::Value {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    return TensorHandle::Wrap(env, gen.get_state());
  });
}

static Napi::Value SetRngState(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "setRngState", [&] {
    if (info.Length() < 1 || !TensorHandle::IsHandle(env, info[0])) throw std::invalid_argument("expected a uint8 tensor");
    const at::Tensor& state = TensorHandle::Unwrap(info[0].As<Napi::Object>())->Get(env, "setRngState");
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(state);
    return env.Undefined();
  });
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "setNumThreads", [&] {
    const int64_t n = info[0].As<Napi::Number>().Int64Value();
    if (n < 1) throw std::invalid_argument("thread count must be >= 1, got " + std::to_string(n));
    at::set_num_threads(static_cast<int>(n));
    return env.Undefined();
  });
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), at::get_num_threads());
}

static Napi::Value Stats(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("liveTensors", Napi::Number::New(info.Env(), static_cast<double>(g_live_tensors.load())));
  o.Set("liveBytes", Napi::Number::New(info.Env(), static_cast<double>(g_live_bytes.load())));
  return o;
}

static Napi::Value CudaIsAvailable(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "cudaIsAvailable", [&] {
    return Napi::Boolean::New(info.Env(), at::globalContext().hasCUDA() && at::detail::getCUDAHooks().getNumGPUs() > 0);
  });
}

static Napi::Value CudaDeviceCount(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "cudaDeviceCount", [&] {
    const int n = at::globalContext().hasCUDA() ? static_cast<int>(at::detail::getCUDAHooks().getNumGPUs()) : 0;
    return Napi::Number::New(info.Env(), n);
  });
}

#ifdef INKWELL_CUDA
constexpr bool kCudaLinked = true;
#else
constexpr bool kCudaLinked = false;
#endif

// What `inkwell doctor` reports: the libtorch's version and build settings (show_config: CUDA_VERSION,
// CUDNN_VERSION, USE_NCCL...) and whether this addon linked its CUDA half (libtorch_cuda).
static Napi::Value BuildInfo(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "buildInfo", [&] {
    Napi::Object o = Napi::Object::New(info.Env());
    o.Set("torchVersion", Napi::String::New(info.Env(), TORCH_VERSION));
    o.Set("parallel", Napi::String::New(info.Env(), at::get_parallel_info()));
    o.Set("config", Napi::String::New(info.Env(), at::show_config()));
    o.Set("cudaLinked", Napi::Boolean::New(info.Env(), kCudaLinked));
    return o;
  });
}

static int DefaultThreads() {
  if (const char* env = std::getenv("INKWELL_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw > 0 ? static_cast<int>(hw) : 1;
}

// glibc trims the top of its heap back to the OS once more than 2x its mmap threshold (at most 2 x 32 MB) is free
// there. A training step frees everything it allocated when its scope closes, so the top is trimmed after every
// step and the next step faults the same memory back in, zeroed page by page: ~32k page faults (~130 MB) per ResNet
// bottleneck step, ~12% of its time. Blocks up to 32 MB (where glibc's own dynamic threshold ends) stay in the
// heap and the top is trimmed only past 1 GB free, so a steady training loop reuses its memory (a few faults per
// step); the RSS stays at the step's peak instead of dropping between steps. Settings the user gave glibc win.
static void TuneMalloc() {
#if defined(__GLIBC__)
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if ((tunables && std::strstr(tunables, "glibc.malloc.")) || std::getenv("MALLOC_TRIM_THRESHOLD_") ||
      std::getenv("MALLOC_MMAP_THRESHOLD_") || std::getenv("MALLOC_TOP_PAD_"))
    return;
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  static std::once_flag malloc_tuned;
  std::call_once(malloc_tuned, TuneMalloc);
  auto* data = new AddonData();
  env.SetInstanceData(data);
  TensorHandle::Init(env, exports, data);
  // libtorch starts with 1 intra-op thread here (docs/engine.md): use all cores unless told otherwise.
  at::set_num_threads(DefaultThreads());
  exports.Set("call", Napi::Function::New(env, CallOp));
  exports.Set("schemas", Napi::Function::New(env, ListSchemas));
  exports.Set("fromBuffer", Napi::Function::New(env, FromBuffer));
  exports.Set("toBuffer", Napi::Function::New(env, ToBuffer));
  exports.Set("backward", Napi::Function::New(env, Backward));
  exports.Set("reachedBy", Napi::Function::New(env, ReachedBy));
  exports.Set("setGradEnabled", Napi::Function::New(env, SetGradEnabled));
  exports.Set("isGradEnabled", Napi::Function::New(env, IsGradEnabled));
  exports.Set("manualSeed", Napi::Function::New(env, ManualSeed));
  exports.Set("getRngState", Napi::Function::New(env, GetRngState));
  exports.Set("setRngState", Napi::Function::New(env, SetRngState));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("stats", Napi::Function::New(env, Stats));
  exports.Set("cudaIsAvailable", Napi::Function::New(env, CudaIsAvailable));
  exports.Set("cudaDeviceCount", Napi::Function::New(env, CudaDeviceCount));
  exports.Set("buildInfo", Napi::Function::New(env, BuildInfo));
  InitDistributed(env, exports, data);
  InitDevice(env, exports);
  return exports;
}

}  // namespace inkwell

static Napi::Object InitInkwell(Napi::Env env, Napi::Object exports) { return inkwell::Init(env, exports); }

NODE_API_MODULE(inkwell, InitInkwell)
