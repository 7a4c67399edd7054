// Data-parallel communication over libtorch's own c10d (the engine behind PyTorch's DDP): a TCPStore
// rendezvous and a Gloo process group (CPU), or NCCL when built against a CUDA libtorch that has it.
// Collectives run on libuv's thread pool and resolve JS promises, so the event loop keeps turning while a peer
// is slow, and a dead peer surfaces as a rejected promise within the group's timeout instead of a hang. Gradients are averaged by c10d's own Reducer (DDP's engine):
// autograd hooks on the parameters' gradient accumulators launch each bucket's allreduce during backward.
#include "inkwell.h"

#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO  // ProcessGroupGloo.hpp declares nothing without it
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/logger.hpp>
#include <torch/csrc/distributed/c10d/reducer.hpp>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/version.h>
#ifdef USE_C10D_NCCL
#include <torch/csrc/distributed/c10d/NCCLUtils.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

namespace inkwell {

namespace {

struct Group : torch::CustomClassHolder {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroup> pg;
  int rank = 0;
  int size = 1;
  std::chrono::milliseconds timeout{0};
};

// Blocking collectives for autograd functions, which run inside forward/backward on the caller's thread.
void AllreduceSum(Group& g, at::Tensor& t) {
  std::vector<at::Tensor> ts{t};
  c10d::AllreduceOptions opts;
  opts.timeout = g.timeout;
  g.pg->allreduce(ts, opts)->wait(g.timeout);
}

c10::intrusive_ptr<Group> GroupOf(torch::autograd::AutogradContext* ctx) {
  return c10::static_intrusive_pointer_cast<Group>(ctx->saved_data["group"].toCapsule());
}

std::vector<int64_t> ReduceDims(const at::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
  return dims;
}

at::Tensor PerChannel(const at::Tensor& v, int64_t rank) {
  std::vector<int64_t> shape(static_cast<size_t>(rank), 1);
  shape[1] = v.size(0);
  return v.view(shape);
}

// Batch norm whose statistics span every rank (PyTorch's SyncBatchNorm, which is CUDA-only, for CPU too):
// forward allreduces [sum, sum of squares, count] per channel; backward allreduces [sum dy, sum dy*xhat], so
// grad_input is the gradient of the sum of every rank's loss, as in torch/nn/modules/_functions.py.
struct SyncBatchNormFn : public torch::autograd::Function<SyncBatchNormFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, at::Tensor weight, at::Tensor bias,
                            c10::optional<at::Tensor> running_mean, c10::optional<at::Tensor> running_var, double momentum,
                            double eps, c10::intrusive_ptr<Group> g) {
    const auto dims = ReduceDims(x);
    const int64_t C = x.size(1);
    const double local = static_cast<double>(x.numel() / std::max<int64_t>(C, 1));
    at::Tensor xd = x.to(at::kDouble);
    at::Tensor stats = at::cat({xd.sum(dims), (xd * xd).sum(dims), at::full({1}, local, xd.options())});
    AllreduceSum(*g, stats);
    const double count = stats[2 * C].item<double>();
    if (count <= 1) throw std::invalid_argument("SyncBatchNorm: expected more than 1 value per channel across ranks, got " + std::to_string(count));
    at::Tensor mean = stats.slice(0, 0, C) / count;
    at::Tensor var = (stats.slice(0, C, 2 * C) / count - mean * mean).clamp_min(0);
    at::Tensor invstd = (var + eps).rsqrt();
    if (running_mean && running_mean->defined()) {
      at::NoGradGuard ng;
      running_mean->mul_(1 - momentum).add_(mean.to(running_mean->scalar_type()), momentum);
    }
    if (running_var && running_var->defined()) {
      at::NoGradGuard ng;
      running_var->mul_(1 - momentum).add_((var * (count / (count - 1))).to(running_var->scalar_type()), momentum);
    }
    mean = mean.to(x.scalar_type());
    invstd = invstd.to(x.scalar_type());
    at::Tensor xhat = (x - PerChannel(mean, x.dim())) * PerChannel(invstd, x.dim());
    ctx->save_for_backward({xhat, weight, invstd});
    ctx->saved_data["group"] = c10::IValue::make_capsule(g);
    ctx->saved_data["count"] = count;
    return xhat * PerChannel(weight, x.dim()) + PerChannel(bias, x.dim());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor xhat = saved[0], weight = saved[1], invstd = saved[2];
    at::Tensor dy = grads[0];
    const auto dims = ReduceDims(xhat);
    const int64_t C = xhat.size(1);
    const double count = ctx->saved_data["count"].toDouble();
    at::Tensor sum_dy = dy.sum(dims);
    at::Tensor sum_dy_xhat = (dy * xhat).sum(dims);
    at::Tensor both = at::cat({sum_dy, sum_dy_xhat}).to(at::kDouble);
    AllreduceSum(*GroupOf(ctx), both);
    at::Tensor g_sum = both.slice(0, 0, C).to(dy.scalar_type()) / count;
    at::Tensor g_sum_xhat = both.slice(0, C, 2 * C).to(dy.scalar_type()) / count;
    at::Tensor scale = invstd * weight;
    at::Tensor dx = PerChannel(scale, xhat.dim()) * (dy - PerChannel(g_sum, xhat.dim()) - xhat * PerChannel(g_sum_xhat, xhat.dim()));
    // Weight and bias get this rank's own sums: data-parallel averaging of gradients does the rest.
    return {dx, sum_dy_xhat, sum_dy, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

// All-gather along dim 0 that gradients flow through: backward sums the gradient over ranks and keeps this
// rank's slice (the official VICReg FullGatherLayer, facebookresearch/vicreg main_vicreg.py).
struct GatherFn : public torch::autograd::Function<GatherFn> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor x, c10::intrusive_ptr<Group> g) {
    at::Tensor input = x.contiguous();
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < g->size; ++r) out[0].push_back(at::empty_like(input));
    std::vector<at::Tensor> in{input};
    c10d::AllgatherOptions opts;
    opts.timeout = g->timeout;
    g->pg->allgather(out, in, opts)->wait(g->timeout);
    ctx->saved_data["group"] = c10::IValue::make_capsule(g);
    ctx->saved_data["rows"] = x.size(0);
    return at::cat(out[0], 0);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto g = GroupOf(ctx);
    const int64_t rows = ctx->saved_data["rows"].toInt();
    at::Tensor all = grads[0].contiguous().clone();
    AllreduceSum(*g, all);
    return {all.slice(0, g->rank * rows, (g->rank + 1) * rows), at::Tensor()};
  }
};

std::string Who(const Group& g, const std::string& op) {
  return op + " (rank " + std::to_string(g.rank) + " of " + std::to_string(g.size) + ")";
}

// The first bucket's cap: DDP's 1 MiB (its first gradients go out early), or `cap` when that is smaller.
int64_t FirstBucketBytes(int64_t cap) { return std::min<int64_t>(c10d::kDefaultFirstBucketBytes, cap); }

// DDP's initial bucket assignment (torch/nn/parallel/distributed.py): a small first bucket, then `cap`, by
// parameter order and dtype, reversed so that the last layers' bucket, whose gradients come first, goes first.
std::tuple<std::vector<std::vector<size_t>>, std::vector<size_t>> DdpBuckets(const std::vector<at::Tensor>& params, int64_t cap) {
  if (cap <= 0) throw std::invalid_argument("bucket cap must be positive, got " + std::to_string(cap) + " bytes");
  const std::vector<size_t> limits{static_cast<size_t>(FirstBucketBytes(cap)), static_cast<size_t>(cap)};
  auto assigned = c10d::compute_bucket_assignment_by_size(params, limits, std::vector<bool>(params.size(), false));
  std::reverse(std::get<0>(assigned).begin(), std::get<0>(assigned).end());
  std::reverse(std::get<1>(assigned).begin(), std::get<1>(assigned).end());
  return assigned;
}

// c10d::Reducer's constructor as DDP calls it. libtorch 1.13 takes per-bucket size limits after the bucket
// indices; libtorch 2 drops them and adds skip_all_reduce_unused_params, use_python_reducer and the per-bucket caps
// for rebuilding (empty: the Reducer's own rule), all as torch/nn/parallel/distributed.py passes by default.
std::shared_ptr<c10d::Reducer> MakeReducer(std::vector<at::Tensor> params, std::vector<std::vector<size_t>> buckets,
                                           std::vector<size_t> limits, c10::intrusive_ptr<c10d::ProcessGroup> pg,
                                           int64_t cap, bool find_unused, std::unordered_map<size_t, std::string> names) {
  const std::vector<bool> sparse(params.size(), false);
  const int64_t first = FirstBucketBytes(cap);
  constexpr bool kTorch2 = std::is_constructible_v<
      c10d::Reducer, std::vector<at::Tensor>, std::vector<std::vector<size_t>>, c10::intrusive_ptr<c10d::ProcessGroup>,
      std::vector<bool>, int64_t, bool, bool, std::unordered_map<size_t, std::string>, int64_t, bool, bool,
      std::vector<int64_t>>;
  if constexpr (kTorch2) {
    return std::make_shared<c10d::Reducer>(std::move(params), std::move(buckets), std::move(pg), sparse, cap, find_unused,
                                           /*gradient_as_bucket_view=*/false, std::move(names), first,
                                           /*skip_all_reduce_unused_params=*/false, /*use_python_reducer=*/false,
                                           std::vector<int64_t>{});
  } else {
    return std::make_shared<c10d::Reducer>(std::move(params), std::move(buckets), std::move(limits), std::move(pg), sparse, cap,
                                           find_unused, /*gradient_as_bucket_view=*/false, std::move(names), first);
  }
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
  std::function<std::string(const std::string&)> Prefix() const {
    return [what = what_](const std::string& text) { return what + ": " + text; };
  }

  void Execute() override {
    std::string error;
    if (!Try(body_, Prefix(), &error)) SetError(error);
  }
  void OnOK() override {
    Napi::Value result;
    std::string error;
    if (Try([&] { result = done_(Env()); }, Prefix(), &error)) deferred_.Resolve(result);
    else deferred_.Reject(Napi::Error::New(Env(), error).Value());
  }
  void OnError(const Napi::Error& e) override { deferred_.Reject(Napi::Error::New(Env(), e.Message()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string what_;
  Body body_;
  Done done_;
};

// c10d::Reducer, the gradient engine of PyTorch's DistributedDataParallel, over this group. Built as
// torch/nn/parallel/distributed.py builds it: buckets from compute_bucket_assignment_by_size with a small first
// bucket (DdpBuckets) and then `bucketCapBytes`, listed in reverse so that the last layers' gradients, which backward
// produces first, go out first. During a backward that follows prepareForBackward(), each parameter's gradient
// accumulator hook copies the gradient (divided by the world size) into its bucket and a full bucket's allreduce
// starts at once, while backward goes on; at the end of backward the Reducer waits for them and writes the
// averages back into .grad. Backwards without prepareForBackward() only accumulate locally (DDP's no_sync).
class ReducerHandle : public Napi::ObjectWrap<ReducerHandle> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "ReducerHandle",
                       {
                           InstanceMethod("prepareForForward", &ReducerHandle::PrepareForForward),
                           InstanceMethod("prepareForBackward", &ReducerHandle::PrepareForBackward),
                           InstanceMethod("bucketBytes", &ReducerHandle::BucketBytes),
                           InstanceMethod("backwardStats", &ReducerHandle::BackwardStats),
                           InstanceMethod("close", &ReducerHandle::Close),
                       });
  }
  explicit ReducerHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ReducerHandle>(info) {}
  ~ReducerHandle() override { Release(); }

  c10::intrusive_ptr<Group> group;
  std::shared_ptr<c10d::Reducer> reducer;
  // The Reducer reports to a Logger, and its unused-parameter search (find_unused_parameters) requires one.
  std::shared_ptr<c10d::Logger> logger;

 private:
  std::string Name(const char* method) const {
    const std::string op = std::string("reducer.") + method;
    return group ? Who(*group, op) : op;
  }

  c10d::Reducer& Live(const char* op) {
    if (!reducer) throw std::invalid_argument(std::string(op) + ": the gradient reducer was closed");
    return *reducer;
  }

  // Rebuilds the buckets once, in the order gradients arrived in the first synchronised backward (rank 0's
  // order, broadcast), then starts the iteration; as DDP's forward() does. Returns whether buckets were rebuilt.
  Napi::Value PrepareForForward(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("prepareForForward"), [&]() -> Napi::Value {
      auto& r = Live("prepareForForward");
      const bool rebuilt = r.rebuild_buckets();
      r.prepare_for_forward();
      return Napi::Boolean::New(info.Env(), rebuilt);
    });
  }

  // prepareForBackward(outputs): the next backward allreduces. With findUnusedParameters, the graph behind
  // `outputs` is searched for parameters that will get no gradient, so their buckets do not wait for them.
  Napi::Value PrepareForBackward(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("prepareForBackward"), [&]() -> Napi::Value {
      auto& r = Live("prepareForBackward");
      std::vector<at::Tensor> outputs;
      if (info.Length() > 0 && !info[0].IsUndefined()) outputs = ToTensorList(info.Env(), info[0], "outputs");
      r.prepare_for_backward(outputs);
      return info.Env().Undefined();
    });
  }

  // Each bucket's size in bytes, in allreduce order.
  Napi::Value BucketBytes(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("bucketBytes"), [&]() -> Napi::Value {
      auto buckets = Live("bucketBytes").get_grad_buckets(/*return_zero_tensors=*/true);
      Napi::Array out = Napi::Array::New(info.Env(), buckets.size());
      for (size_t i = 0; i < buckets.size(); ++i) {
        const at::Tensor& buffer = buckets[i].getBufferRef();
        out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(buffer.numel() * buffer.element_size())));
      }
      return out;
    });
  }

  // Per parameter, nanoseconds from prepareForBackward until its gradient was ready in the last backward.
  Napi::Value BackwardStats(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("backwardStats"), [&]() -> Napi::Value {
      auto stats = Live("backwardStats").get_backward_stats();
      Napi::Array out = Napi::Array::New(info.Env(), stats.size());
      for (size_t i = 0; i < stats.size(); ++i) out.Set(static_cast<uint32_t>(i), Napi::Number::New(info.Env(), static_cast<double>(stats[i])));
      return out;
    });
  }

  // Removes the hooks from the parameters (the Reducer's destructor does) and drops the group reference.
  Napi::Value Close(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("close"), [&]() -> Napi::Value {
      Release();
      return info.Env().Undefined();
    });
  }

  void Release() {
    try {
      logger.reset();  // first: it holds the Reducer too, and logs from it as it goes
      reducer.reset();
    } catch (...) {
      // ~Reducer only throws if a hook it registered is already gone; nothing is left to undo then.
    }
    group.reset();
  }
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
                           InstanceMethod("syncBatchNorm", &ProcessGroupHandle::SyncBatchNorm),
                           InstanceMethod("gather", &ProcessGroupHandle::Gather),
                           InstanceMethod("reducer", &ProcessGroupHandle::Reducer),
                           InstanceMethod("shutdown", &ProcessGroupHandle::Shutdown),
                       });
  }
  explicit ProcessGroupHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ProcessGroupHandle>(info) {}
  c10::intrusive_ptr<Group> group;

  c10::intrusive_ptr<Group> Live(const char* op) const {
    if (!group || !group->pg) throw std::invalid_argument(std::string(op) + ": the process group was shut down");
    return group;
  }

 private:
  std::string Name(const char* op) const { return group ? Who(*group, op) : op; }

  Napi::Value Rank(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group ? group->rank : -1); }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), group ? group->size : 0); }

  // allreduce(tensors, op) -> Promise<void>; each tensor is reduced in place across ranks. (c10d's tensor list
  // means one tensor per local device, so every tensor gets a collective of its own, all launched before waiting.)
  Napi::Value Allreduce(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("allreduce"), [&]() -> Napi::Value {
      auto g = Live("allreduce");
      auto tensors = ToTensorList(info.Env(), info[0], "tensors");
      c10d::AllreduceOptions opts;
      opts.reduceOp = ParseReduceOp(info.Length() > 1 && info[1].IsString() ? info[1].As<Napi::String>().Utf8Value() : "sum");
      opts.timeout = g->timeout;
      auto* w = new CollectiveWorker(
          info.Env(), Who(*g, "allreduce"),
          [g, tensors, opts]() mutable {
            std::vector<c10::intrusive_ptr<c10d::Work>> works;
            for (auto& t : tensors) {
              std::vector<at::Tensor> one{t};
              works.push_back(g->pg->allreduce(one, opts));
            }
            for (auto& work : works) work->wait(g->timeout);
          },
          [](Napi::Env env) { return env.Undefined(); });
      w->Queue();
      return w->Promise();
    });
  }

  // broadcast(tensors, root) -> Promise<void>; every rank's tensors take the root's values.
  Napi::Value Broadcast(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("broadcast"), [&]() -> Napi::Value {
      auto g = Live("broadcast");
      auto tensors = ToTensorList(info.Env(), info[0], "tensors");
      c10d::BroadcastOptions opts;
      opts.rootRank = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int32Value() : 0;
      if (opts.rootRank < 0 || opts.rootRank >= g->size)
        throw std::invalid_argument("root rank " + std::to_string(opts.rootRank) + " outside 0.." + std::to_string(g->size - 1));
      opts.timeout = g->timeout;
      auto* w = new CollectiveWorker(
          info.Env(), Who(*g, "broadcast"),
          [g, tensors, opts]() mutable {
            std::vector<c10::intrusive_ptr<c10d::Work>> works;
            for (auto& t : tensors) {
              std::vector<at::Tensor> one{t};
              works.push_back(g->pg->broadcast(one, opts));
            }
            for (auto& work : works) work->wait(g->timeout);
          },
          [](Napi::Env env) { return env.Undefined(); });
      w->Queue();
      return w->Promise();
    });
  }

  // allgather(tensor) -> Promise<Tensor[]>: every rank's tensor, in rank order (same shape on every rank).
  Napi::Value Allgather(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("allgather"), [&]() -> Napi::Value {
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
    return Guard(info.Env(), Name("barrier"), [&]() -> Napi::Value {
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

  // syncBatchNorm(x, weight|null, bias|null, runningMean|null, runningVar|null, momentum, eps) -> Tensor (training mode).
  Napi::Value SyncBatchNorm(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("syncBatchNorm"), [&]() -> Napi::Value {
      auto g = Live("syncBatchNorm");
      Napi::Env env = info.Env();
      auto opt = [&](size_t i) -> at::Tensor {
        if (info.Length() <= i || info[i].IsNull() || info[i].IsUndefined()) return at::Tensor();
        if (!TensorHandle::IsHandle(env, info[i])) throw std::invalid_argument("argument " + std::to_string(i) + " must be a tensor or null");
        return TensorHandle::Unwrap(info[i].As<Napi::Object>())->Get(env, "syncBatchNorm");
      };
      at::Tensor x = opt(0);
      if (!x.defined() || x.dim() < 2) throw std::invalid_argument("input must be [N,C,...]");
      // Without affine parameters the layer scales by 1 and shifts by 0 (constants: no gradient is kept).
      at::Tensor weight = opt(1).defined() ? opt(1) : at::ones({x.size(1)}, x.options());
      at::Tensor bias = opt(2).defined() ? opt(2) : at::zeros({x.size(1)}, x.options());
      auto stat = [&](size_t i) -> c10::optional<at::Tensor> {
        at::Tensor t = opt(i);
        return t.defined() ? c10::optional<at::Tensor>(t) : c10::nullopt;
      };
      const double momentum = info[5].As<Napi::Number>().DoubleValue();
      const double eps = info[6].As<Napi::Number>().DoubleValue();
      return TensorHandle::Wrap(env, SyncBatchNormFn::apply(x, weight, bias, stat(3), stat(4), momentum, eps, g));
    });
  }

  // gather(x) -> Tensor: every rank's x concatenated along dim 0, with gradients flowing back (blocking).
  Napi::Value Gather(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("gather"), [&]() -> Napi::Value {
      auto g = Live("gather");
      Napi::Env env = info.Env();
      if (info.Length() < 1 || !TensorHandle::IsHandle(env, info[0])) throw std::invalid_argument("expected a tensor");
      at::Tensor x = TensorHandle::Unwrap(info[0].As<Napi::Object>())->Get(env, "gather");
      return TensorHandle::Wrap(env, GatherFn::apply(x, g));
    });
  }

  // reducer(params, bucketCapBytes, findUnusedParameters) -> ReducerHandle (see ReducerHandle).
  Napi::Value Reducer(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("reducer"), [&]() -> Napi::Value {
      auto g = Live("reducer");
      Napi::Env env = info.Env();
      auto params = ToTensorList(env, info[0], "params");
      if (params.empty()) throw std::invalid_argument("expected at least one parameter");
      for (size_t i = 0; i < params.size(); ++i) {
        if (!params[i].requires_grad() || !params[i].is_leaf())
          throw std::invalid_argument("params[" + std::to_string(i) + "] must be a leaf tensor that requires grad");
      }
      const int64_t cap = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : c10d::kDefaultBucketBytesCap;
      const bool findUnused = info.Length() > 2 && info[2].ToBoolean().Value();
      const std::vector<bool> sparse(params.size(), false);
      std::vector<std::vector<size_t>> buckets;
      std::vector<size_t> bucketLimits;
      std::tie(buckets, bucketLimits) = DdpBuckets(params, cap);
      std::unordered_map<size_t, std::string> names;
      if (info.Length() > 3 && info[3].IsArray()) {
        auto arr = info[3].As<Napi::Array>();
        for (uint32_t i = 0; i < arr.Length(); ++i) names[i] = arr.Get(i).ToString().Utf8Value();
      }
      auto reducer = MakeReducer(std::move(params), std::move(buckets), std::move(bucketLimits), g->pg, cap, findUnused, std::move(names));
      Napi::Object obj = env.GetInstanceData<AddonData>()->reducer_ctor.New({});
      auto* handle = ReducerHandle::Unwrap(obj);
      handle->group = g;
      handle->logger = std::make_shared<c10d::Logger>(reducer);
      reducer->set_logger(handle->logger);
      handle->reducer = std::move(reducer);
      return obj;
    });
  }

  Napi::Value Shutdown(const Napi::CallbackInfo& info) {
    return Guard(info.Env(), Name("shutdown"), [&]() -> Napi::Value {
      if (group) {
        group->pg.reset();
        group->store.reset();
      }
      return info.Env().Undefined();
    });
  }
};

// The Gloo group over `store`; on loopback the device must bind loopback, elsewhere Gloo resolves this host's address.
c10::intrusive_ptr<c10d::ProcessGroupGloo> MakeGloo(const Group& g, const std::string& addr) {
  auto opts = c10d::ProcessGroupGloo::Options::create(g.timeout);
  const bool loopback = addr == "127.0.0.1" || addr == "localhost" || addr == "::1";
  opts->devices.push_back(loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                   : c10d::ProcessGroupGloo::createDefaultDevice());
  opts->threads = 2;
  return c10::make_intrusive<c10d::ProcessGroupGloo>(g.store, g.rank, g.size, opts);
}

// libtorch 1.13's Gloo and NCCL groups are process groups themselves. libtorch 2 made them backends: a
// ProcessGroup routes each collective to the backend registered for its tensors' device type, as
// torch.distributed.init_process_group sets it up (distributed_c10d.py, _new_process_group_helper).
void Connect(Group& g, const std::string& backend, const std::string& addr) {
#if TORCH_VERSION_MAJOR >= 2
  using Type = c10d::ProcessGroup::BackendType;
  auto pg = c10::make_intrusive<c10d::ProcessGroup>(g.store, g.rank, g.size);
#ifdef USE_C10D_NCCL
  if (backend == "nccl") {
    // Collectives run on the devices of the tensors given to them (cuda:LOCAL_RANK by convention).
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = g.timeout;
    pg->setBackend(c10::DeviceType::CUDA, Type::NCCL, c10::make_intrusive<c10d::ProcessGroupNCCL>(g.store, g.rank, g.size, opts));
    pg->setDefaultBackend(Type::NCCL);
    g.pg = pg;
    return;
  }
#endif
  auto gloo = MakeGloo(g, addr);
  pg->setBackend(c10::DeviceType::CPU, Type::GLOO, gloo);
#ifdef INKWELL_CUDA
  pg->setBackend(c10::DeviceType::CUDA, Type::GLOO, gloo);  // Gloo reduces CUDA tensors too, through host copies
#endif
  pg->setDefaultBackend(Type::GLOO);
  g.pg = pg;
#else
#ifdef USE_C10D_NCCL
  if (backend == "nccl") {
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = g.timeout;
    g.pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(g.store, g.rank, g.size, opts);
    return;
  }
#endif
  g.pg = MakeGloo(g, addr);
#endif
}

}  // namespace

#ifdef USE_C10D_NCCL
constexpr bool kHaveNccl = true;
constexpr const char* kBackends = "gloo nccl";
#else
constexpr bool kHaveNccl = false;
constexpr const char* kBackends = "gloo";
#endif

// initProcessGroup({backend, rank, worldSize, masterAddr, masterPort, timeoutMs}) -> Promise<ProcessGroupHandle>
// Rank 0 hosts the TCPStore; everyone waits for all ranks to join (or the timeout).
static Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return Guard(env, "initProcessGroup", [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsObject()) throw std::invalid_argument("expected an options object");
    auto o = info[0].As<Napi::Object>();
    const std::string backend = o.Has("backend") ? o.Get("backend").ToString().Utf8Value() : "gloo";
    if (backend != "gloo" && !(backend == "nccl" && kHaveNccl))
      throw std::invalid_argument("backend '" + backend + "' is not available in this build (built: " + kBackends +
                                  "; nccl needs a CUDA libtorch with NCCL, linked on a machine with an NVIDIA driver)");
    auto g = c10::make_intrusive<Group>();
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
        [g, addr, port, backend]() {
          c10d::TCPStoreOptions so;
          so.port = static_cast<uint16_t>(port);
          so.isServer = g->rank == 0;
          so.numWorkers = static_cast<size_t>(g->size);
          so.waitWorkers = true;
          so.timeout = g->timeout;
          g->store = c10::make_intrusive<c10d::TCPStore>(addr, so);
          Connect(*g, backend, addr);
        },
        [g, data](Napi::Env env) -> Napi::Value {
          Napi::Object obj = data->pg_ctor.New({});
          ProcessGroupHandle::Unwrap(obj)->group = g;
          return obj;
        });
    w->Queue();
    return w->Promise();
  });
}

// ddpBuckets(params, capBytes) -> number[][]: the parameter indices of each bucket, in allreduce order.
static Napi::Value DdpBucketsJs(const Napi::CallbackInfo& info) {
  return Guard(info.Env(), "ddpBuckets", [&]() -> Napi::Value {
    Napi::Env env = info.Env();
    auto params = ToTensorList(env, info[0], "params");
    const int64_t cap = info.Length() > 1 && info[1].IsNumber() ? info[1].As<Napi::Number>().Int64Value() : c10d::kDefaultBucketBytesCap;
    auto buckets = std::get<0>(DdpBuckets(params, cap));
    Napi::Array out = Napi::Array::New(env, buckets.size());
    for (size_t b = 0; b < buckets.size(); ++b) {
      Napi::Array idx = Napi::Array::New(env, buckets[b].size());
      for (size_t i = 0; i < buckets[b].size(); ++i) idx.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(buckets[b][i])));
      out.Set(static_cast<uint32_t>(b), idx);
    }
    return out;
  });
}

void InitDistributed(Napi::Env env, Napi::Object exports, AddonData* data) {
  data->pg_ctor = Napi::Persistent(ProcessGroupHandle::Define(env));
  data->reducer_ctor = Napi::Persistent(ReducerHandle::Define(env));
  exports.Set("initProcessGroup", Napi::Function::New(env, InitProcessGroup));
  exports.Set("ddpBuckets", Napi::Function::New(env, DdpBucketsJs));
  exports.Set("distributedBackends", Napi::String::New(env, kBackends));
#ifdef USE_C10D_NCCL
  exports.Set("ncclVersion", Napi::String::New(env, c10d::getNcclVersion()));
#endif
}

}  // namespace inkwell
