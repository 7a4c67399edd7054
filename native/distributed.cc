// Data-parallel communication over libtorch's own c10d (the engine behind PyTorch's DDP): a TCPStore
// rendezvous and a Gloo process group (CPU). Collectives run on libuv's thread pool and resolve JS promises,
// so the event loop keeps turning while a peer is slow, and a dead peer surfaces as a rejected promise
// within the group's timeout instead of a hang.
#include "inkwell.h"

#ifdef INKWELL_WITH_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO  // ProcessGroupGloo.hpp declares nothing without it
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace inkwell {

#ifdef INKWELL_WITH_GLOO

namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};

std::string Who(const Group& g, const std::string& op) {
  return op + " (rank " + std::to_string(g.rank) + " of " + std::to_string(g.size) + ")";
}

c10d::ReduceOp ParseReduceOp(const std::string& name) {
  if (name == "sum") return c10d::ReduceOp::SUM;
  if (name == "product") return c10d::ReduceOp::PRODUCT;
  if (name == "max") return c10d::ReduceOp::MAX;
  if (name == "min") return c10d::ReduceOp::MIN;
  throw std::invalid_argument("unknown reduce op '" + name + "' (expected sum, product, max or min)");
}

// Runs `fn` (a blocking collective) off the main thread; resolves with `done(env)` on the main thread.
class CollectiveWorker : public Napi::AsyncWorker {
 public:
  using Body = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  CollectiveWorker(Napi::Env env, std::string what, Body body, Done done)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), what_(std::move(what)),
        body_(std::move(body)), done_(std::move(done)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      body_();
    } catch (const c10::Error& e) {
      SetError(what_ + ": " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      SetError(what_ + ": " + e.what());
    }
  }
  void OnOK() override {
    try {
      deferred_.Resolve(done_(Env()));
    } catch (const std::exception& e) {
      deferred_.Reject(Napi::Error::New(Env(), what_ + ": " + e.what()).Value());
    }
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(Napi::Error::New(Env(), e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  Body body_;
  Done done_;
};

class ProcessGroupHandle : public Napi::ObjectWrap<ProcessGroupHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ProcessGroupHandle",
                       {
                           InstanceAccessor("rank", &ProcessGroupHandle::Rank, nullptr),
                           InstanceAccessor("size", &ProcessGroupHandle::Size, nullptr),
                           InstanceMethod("allreduce", &ProcessGroupHandle::Allreduce),
                           InstanceMethod("broadcast", &ProcessGroupHandle::Broadcast),
                           InstanceMethod("allgather", &ProcessGroupHandle::Allgather),
                           InstanceMethod("barrier", &ProcessGroupHandle::Barrier),
                           InstanceMethod("shutdown", &ProcessGroupHandle::Shutdown),
                       });
  }
  explicit ProcessGroupHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupHandle>(info) {}
  std::shared_ptr<Group> group;

 private:
  std::shared_ptr<Group> Live(const char* op) const {
    if (!group || !group->pg) throw std::invalid_argument(std::string(op) + ": the process group was shut down");
    return group;
  }
  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group ? group->rank : -1); }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group ? group->size : 0); }

  template <typename F>
  Napi::Value Guarded(const Napi::CallbackInfo& info, const char* op, F&& f) {
    try {
      return f();
    } catch (const std::exception& e) {
      Napi::Error::New(info.Env(), std::string(op) + ": " + e.what()).ThrowAsJavaScriptException();
      return info.Env().Undefined();
    }
  }

  // allreduce(tensors, op) -> Promise<void>; the tensors are reduced in place.
  Napi::Value Allreduce(const Napi::CallbackInfo& info) {
    return Guarded(info, "allreduce", [&]() -> Napi::Value {
      auto g = Live("allreduce");
      auto tensors = ToTensorList(info.Env(), info[0], "tensors");
      c10d::AllreduceOptions opts;
      opts.reduceOp = ParseReduceOp(info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum");
      opts.timeout = g->timeout;
      auto* w = new CollectiveWorker(
          info.Env(), Who(*g, "allreduce"),
          [g, tensors, opts]() mutable { g->pg->allreduce(tensors, opts)->wait(g->timeout); },
          [](Napi::Env env) { return env.Undefined(); });
      w->Queue();
      return w->Promise();
    });
  }

  // broadcast(tensors, root) -> Promise<void>; every rank's tensors take the root's values.
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    return Guarded(info, "broadcast", [&]() -> Napi::Value {
      auto g = Live("broadcast");
      auto tensors = ToTensorList(info.Env(), info[0], "tensors");
      c10d::BroadcastOptions opts;
      opts.rootRank = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
      if (opts.rootRank < 0 || opts.rootRank >= g->size)
        throw std::invalid_argument("root rank " + std::to_string(opts.rootRank) + " outside 0.." + std::to_string(g->size - 1));
      opts.timeout = g->timeout;
      auto* w = new CollectiveWorker(
          info.Env(), Who(*g, "broadcast"),
          [g, tensors, opts]() mutable { g->pg->broadcast(tensors, opts)->wait(g->timeout); },
          [](Napi::Env env) { return env.Undefined(); });
      w->Queue();
      return w->Promise();
    });
  }

  // allgather(tensor) -> Promise<Tensor[]>: every rank's tensor, in rank order (same shape on every rank).
  Napi::Value Allgather(const Napi::CallbackInfo& info) {
    return Guarded(info, "allgather", [&]() -> Napi::Value {
      auto g = Live("allgather");
      if (info.Length() < 1 || !TensorHandle::IsHandle(info.Env(), info[0])) throw std::invalid_argument("expected a tensor");
      at::Tensor input = TensorHandle::Unwrap(info[0].As<Napi::Object>())->Get(info.Env(), "allgather").detach().contiguous();
      auto outputs = std::make_shared<std::vector<std::vector<at::Tensor>>>(1);
      for (int r = 0; r < g->size; ++r) (*outputs)[0].push_back(at::empty_like(input));
      auto* w = new CollectiveWorker(
          info.Env(), Who(*g, "allgather"),
          [g, input, outputs]() mutable {
            std::vector<at::Tensor> in{input};
            c10d::AllgatherOptions opts;
            opts.timeout = g->timeout;
            g->pg->allgather(*outputs, in, opts)->wait(g->timeout);
          },
          [outputs](Napi::Env env) -> Napi::Value {
            Napi::Array out = Napi::Array::New(env, (*outputs)[0].size());
            for (size_t i = 0; i < (*outputs)[0].size(); ++i) out.Set(static_cast<uint32_t>(i), TensorHandle::Wrap(env, (*outputs)[0][i]));
            return out;
          });
      w->Queue();
      return w->Promise();
    });
  }

  Napi::Value Barrier(const Napi::CallbackInfo& info) {
    return Guarded(info, "barrier", [&]() -> Napi::Value {
      auto g = Live("barrier");
      auto* w = new CollectiveWorker(
          info.Env(), Who(*g, "barrier"),
          [g]() {
            c10d::BarrierOptions opts;
            opts.timeout = g->timeout;
            g->pg->barrier(opts)->wait(g->timeout);
          },
          [](Napi::Env env) { return env.Undefined(); });
      w->Queue();
      return w->Promise();
    });
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    if (group) {
      group->pg.reset();
      group->store.reset();
    }
    return info.Env().Undefined();
  }
};

}  // namespace

// initProcessGroup({backend, rank, worldSize, masterAddr, masterPort, timeoutMs}) -> Promise<ProcessGroupHandle>
// Rank 0 hosts the TCPStore; everyone waits for all ranks to join (or the timeout).
static Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    if (info.Length() < 1 || !info[0].IsObject()) throw std::invalid_argument("expected an options object");
    auto o = info[0].As<Napi::Object>();
    const std::string backend = o.Has("backend") ? o.Get("backend").ToString().Utf8Value() : "gloo";
    if (backend != "gloo") throw std::invalid_argument("backend '" + backend + "' is not available in this build (only gloo; nccl needs a CUDA libtorch)");
    auto g = std::make_shared<Group>();
    g->rank = o.Get("rank").As<Napi::Number>().Int32Value();
    g->size = o.Get("worldSize").As<Napi::Number>().Int32Value();
    if (g->size < 1 || g->rank < 0 || g->rank >= g->size)
      throw std::invalid_argument("rank " + std::to_string(g->rank) + " is outside a world of size " + std::to_string(g->size));
    const std::string addr = o.Get("masterAddr").ToString().Utf8Value();
    const int port = o.Get("masterPort").As<Napi::Number>().Int32Value();
    if (port < 1 || port > 65535) throw std::invalid_argument("master port must be in 1..65535, got " + std::to_string(port));
    g->timeout = std::chrono::milliseconds(o.Has("timeoutMs") ? o.Get("timeoutMs").As<Napi::Number>().Int64Value() : 300000);
    auto* data = env.GetInstanceData<AddonData>();
    auto* w = new CollectiveWorker(
        env, "initProcessGroup (rank " + std::to_string(g->rank) + " of " + std::to_string(g->size) + ", " + addr + ":" + std::to_string(port) + ")",
        [g, addr, port]() {
          c10d::TCPStoreOptions so;
          so.port = static_cast<uint16_t>(port);
          so.isServer = g->rank == 0;
          so.numWorkers = static_cast<size_t>(g->size);
          so.waitWorkers = true;
          so.timeout = g->timeout;
          g->store = c10::make_intrusive<c10d::TCPStore>(addr, so);
          auto opts = c10d::ProcessGroupGloo::Options::create(g->timeout);
          // On loopback the device must bind loopback; elsewhere Gloo resolves this host's own address.
          const bool loopback = addr == "127.0.0.1" || addr == "localhost" || addr == "::1";
          opts->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                           : c10d::ProcessGroupGloo::createDefaultDevice());
          opts->threads = 2;
          g->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store, g->rank, g->size, opts);
        },
        [g, data](Napi::Env env) -> Napi::Value {
          Napi::Object obj = data->pg_ctor.New({});
          ProcessGroupHandle::Unwrap(obj)->group = g;
          return obj;
        });
    w->Queue();
    return w->Promise();
  } catch (const std::exception& e) {
    Napi::Error::New(env, std::string("initProcessGroup: ") + e.what()).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

void InitDistributed(Napi::Env env, Napi::Object exports, AddonData* data) {
  data->pg_ctor = Napi::Persistent(ProcessGroupHandle::Define(env));
  exports.Set("initProcessGroup", Napi::Function::New(env, InitProcessGroup));
  exports.Set("distributedBackends", Napi::String::New(env, "gloo"));
}

#else

void InitDistributed(Napi::Env env, Napi::Object exports, AddonData*) {
  exports.Set("distributedBackends", Napi::String::New(env, ""));
}

#endif

}  // namespace inkwell
