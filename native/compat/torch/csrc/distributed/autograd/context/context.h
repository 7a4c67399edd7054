#pragma once
// Debian's libtorch-dev ships torch/csrc/distributed/c10d/reducer.hpp but not the distributed-autograd header
// it includes for two names. torch-paths.cjs puts this folder on the include path only when that header is
// missing. reducer.hpp needs just these: the callback type (checked by a static_assert against the Reducer's
// own) and a shared_ptr to the context, whose layout does not depend on the class's contents. inkwell never
// uses distributed autograd (RPC), so nothing else of it is declared.
#include <ATen/core/Tensor.h>

#include <functional>
#include <memory>

namespace torch {
namespace distributed {
namespace autograd {

class DistAutogradContext {
 public:
  using GradCallback = std::function<bool(at::Tensor&)>;
};

using ContextPtr = std::shared_ptr<DistAutogradContext>;

}  // namespace autograd
}  // namespace distributed
}  // namespace torch
