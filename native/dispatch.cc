// The generic entry point: call any ATen operator by schema name through the c10 dispatcher.
//
// `call('aten::conv3d', '', [input, weight, bias, stride, padding, ...], kwargs?, discardResult?)`
// looks the operator up once (cached), converts each JS value to an IValue as the schema's argument type
// dictates (missing trailing arguments take the schema's defaults), runs `callBoxed` (autograd records through
// the Autograd dispatch key exactly as for a typed call) and converts the results back. Errors name the
// operator and list its tensor arguments' shapes and dtypes.
#include "inkwell.h"

#include <ATen/core/dispatch/Dispatcher.h>
#include <c10/util/Exception.h>

#include <cmath>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

namespace inkwell {

namespace {

// Thrown for bad JS values; carries the argument name so the message can say which one was wrong.
struct ArgError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

std::mutex g_ops_mutex;
std::unordered_map<std::string, c10::OperatorHandle> g_ops;

std::string KnownOverloads(const std::string& name) {
  std::ostringstream s;
  int n = 0;
  for (const auto& op : c10::Dispatcher::singleton().getAllOpNames()) {
    if (op.name != name) continue;
    s << (n++ ? ", " : "") << "'" << op.overload_name << "'";
  }
  return n ? s.str() : std::string();
}

c10::OperatorHandle LookupOp(const std::string& name, const std::string& overload) {
  const std::string key = name + "." + overload;
  std::lock_guard<std::mutex> lock(g_ops_mutex);
  auto it = g_ops.find(key);
  if (it != g_ops.end()) return it->second;
  auto handle = c10::Dispatcher::singleton().findSchema({name, overload});
  if (!handle) {
    const std::string known = KnownOverloads(name);
    if (known.empty()) throw ArgError("unknown operator (no schema named " + name + ")");
    throw ArgError("no overload '" + overload + "' of " + name + " (known overloads: " + known + ")");
  }
  g_ops.emplace(key, *handle);
  return *handle;
}

std::string Describe(const Napi::Value& v) {
  if (v.IsNull()) return "null";
  if (v.IsUndefined()) return "undefined";
  if (v.IsNumber()) return "number " + v.ToString().Utf8Value();
  if (v.IsBoolean()) return v.ToBoolean().Value() ? "true" : "false";
  if (v.IsString()) return "string '" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsArray()) return "array";
  if (v.IsBigInt()) return "bigint";
  return "object";
}

int64_t ToInt(const Napi::Value& v, const std::string& what) {
  if (v.IsBigInt()) {
    bool lossless = true;
    const int64_t i = v.As<Napi::BigInt>().Int64Value(&lossless);
    if (!lossless) throw ArgError(what + ": bigint out of int64 range");
    return i;
  }
  if (!v.IsNumber()) throw ArgError(what + ": expected an integer, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d) throw ArgError(what + ": expected an integer, got " + Describe(v));
  return static_cast<int64_t>(d);
}

double ToDouble(const Napi::Value& v, const std::string& what) {
  if (v.IsNumber()) return v.As<Napi::Number>().DoubleValue();
  if (v.IsBigInt()) {
    bool lossless = true;
    return static_cast<double>(v.As<Napi::BigInt>().Int64Value(&lossless));
  }
  throw ArgError(what + ": expected a number, got " + Describe(v));
}

bool ToBool(const Napi::Value& v, const std::string& what) {
  if (!v.IsBoolean()) throw ArgError(what + ": expected a boolean, got " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

// A JS number becomes an integer Scalar when it is integral and a double Scalar otherwise; callers that need a
// floating Scalar with an integral value pass a float tensor or a dtype (JS cannot tell 1 from 1.0).
at::Scalar ToScalar(const Napi::Value& v, const std::string& what) {
  if (v.IsBoolean()) return at::Scalar(v.As<Napi::Boolean>().Value());
  if (v.IsBigInt()) return at::Scalar(ToInt(v, what));
  if (!v.IsNumber()) throw ArgError(what + ": expected a number, got " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9007199254740992.0) return at::Scalar(static_cast<int64_t>(d));
  return at::Scalar(d);
}

at::Tensor ToTensor(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (TensorHandle::IsHandle(env, v)) return TensorHandle::Unwrap(v.As<Napi::Object>())->Get(env, what.c_str());
  if (v.IsNumber() || v.IsBoolean() || v.IsBigInt()) {
    // As Python does for `t + 2`: a wrapped-number tensor takes part in type promotion like a scalar.
    at::Tensor t = at::scalar_tensor(ToScalar(v, what), at::TensorOptions().dtype(
        v.IsBoolean() ? at::kBool : (ToScalar(v, what).isIntegral(false) ? at::kLong : at::kDouble)));
    t.unsafeGetTensorImpl()->set_wrapped_number(true);
    return t;
  }
  throw ArgError(what + ": expected a tensor, got " + Describe(v));
}

c10::IValue ToIValue(Napi::Env env, const Napi::Value& v, const c10::TypePtr& type, const c10::Argument& arg,
                     const std::string& what) {
  using K = c10::TypeKind;
  switch (type->kind()) {
    case K::OptionalType:
      if (v.IsNull() || v.IsUndefined()) return c10::IValue();
      return ToIValue(env, v, type->castRaw<c10::OptionalType>()->getElementType(), arg, what);
    case K::TensorType:
      return ToTensor(env, v, what);
    case K::IntType:
    case K::SymIntType:
      return ToInt(v, what);
    case K::FloatType:
      return ToDouble(v, what);
    case K::BoolType:
      return ToBool(v, what);
    case K::NumberType:
      return ToScalar(v, what);
    case K::StringType:
      if (!v.IsString()) throw ArgError(what + ": expected a string, got " + Describe(v));
      return v.As<Napi::String>().Utf8Value();
    case K::ScalarTypeType:
      if (!v.IsString()) throw ArgError(what + ": expected a dtype name, got " + Describe(v));
      return ParseDType(v.As<Napi::String>().Utf8Value());
    case K::LayoutType:
      if (!v.IsString() || v.As<Napi::String>().Utf8Value() != "strided")
        throw ArgError(what + ": only the 'strided' layout is supported, got " + Describe(v));
      return c10::IValue(static_cast<int64_t>(at::kStrided));
    case K::MemoryFormatType:
      if (!v.IsString()) throw ArgError(what + ": expected a memory format name, got " + Describe(v));
      return c10::IValue(static_cast<int64_t>(ParseMemoryFormat(v.As<Napi::String>().Utf8Value())));
    case K::DeviceObjType:
      if (!v.IsString()) throw ArgError(what + ": expected a device such as 'cpu' or 'cuda:0', got " + Describe(v));
      return c10::Device(v.As<Napi::String>().Utf8Value());
    case K::ListType: {
      const c10::TypePtr& elem = type->castRaw<c10::ListType>()->getElementType();
      const int64_t n = arg.N() ? *arg.N() : 0;
      switch (elem->kind()) {
        case K::IntType:
        case K::SymIntType:
          return ToIntList(env, v, what, n ? n : 1);
        case K::FloatType: {
          std::vector<double> out;
          if (v.IsNumber()) out.assign(n ? n : 1, ToDouble(v, what));
          else {
            if (!v.IsArray()) throw ArgError(what + ": expected an array of numbers, got " + Describe(v));
            auto a = v.As<Napi::Array>();
            for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(ToDouble(a.Get(i), what + "[" + std::to_string(i) + "]"));
          }
          return out;
        }
        case K::BoolType: {
          c10::List<bool> out;
          if (v.IsBoolean()) for (int64_t i = 0; i < (n ? n : 1); ++i) out.push_back(v.As<Napi::Boolean>().Value());
          else {
            if (!v.IsArray()) throw ArgError(what + ": expected an array of booleans, got " + Describe(v));
            auto a = v.As<Napi::Array>();
            for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(ToBool(a.Get(i), what + "[" + std::to_string(i) + "]"));
          }
          return out;
        }
        case K::TensorType:
          return ToTensorList(env, v, what);
        case K::OptionalType: {
          if (elem->castRaw<c10::OptionalType>()->getElementType()->kind() != K::TensorType) break;
          if (!v.IsArray()) throw ArgError(what + ": expected an array of tensors or nulls, got " + Describe(v));
          c10::List<c10::optional<at::Tensor>> out;
          auto a = v.As<Napi::Array>();
          for (uint32_t i = 0; i < a.Length(); ++i) {
            Napi::Value e = a.Get(i);
            if (e.IsNull() || e.IsUndefined()) out.push_back(c10::nullopt);
            else out.push_back(ToTensor(env, e, what + "[" + std::to_string(i) + "]"));
          }
          return out;
        }
        default:
          break;
      }
      throw ArgError(what + ": lists of " + elem->str() + " are not supported by the generic call");
    }
    case K::GeneratorType:
      throw ArgError(what + ": explicit generators are not supported; seed the default one with manualSeed");
    default:
      throw ArgError(what + ": arguments of type " + type->str() + " are not supported by the generic call");
  }
}

Napi::Value FromIValue(Napi::Env env, const c10::IValue& v) {
  if (v.isTensor()) {
    const at::Tensor& t = v.toTensor();
    if (!t.defined()) return env.Null();
    return TensorHandle::Wrap(env, t);
  }
  if (v.isNone()) return env.Null();
  if (v.isInt()) return Napi::Number::New(env, static_cast<double>(v.toInt()));
  if (v.isDouble()) return Napi::Number::New(env, v.toDouble());
  if (v.isBool()) return Napi::Boolean::New(env, v.toBool());
  if (v.isString()) return Napi::String::New(env, v.toStringRef());
  if (v.isTensorList()) {
    auto list = v.toTensorList();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) {
      const at::Tensor t = list.get(i);
      out.Set(static_cast<uint32_t>(i), t.defined() ? Napi::Value(TensorHandle::Wrap(env, t)) : env.Null());
    }
    return out;
  }
  if (v.isTuple()) {
    const auto& elems = v.toTupleRef().elements();
    Napi::Array out = Napi::Array::New(env, elems.size());
    for (size_t i = 0; i < elems.size(); ++i) out.Set(static_cast<uint32_t>(i), FromIValue(env, elems[i]));
    return out;
  }
  if (v.isList()) {
    auto list = v.toListRef();
    Napi::Array out = Napi::Array::New(env, list.size());
    for (size_t i = 0; i < list.size(); ++i) out.Set(static_cast<uint32_t>(i), FromIValue(env, list[i]));
    return out;
  }
  if (v.isDevice()) return Napi::String::New(env, v.toDevice().str());
  throw std::runtime_error("cannot return a value of kind " + std::string(v.tagKind()) + " to JavaScript");
}

// "input=[2,3,6,8,8] float32, weight=[4,5,3,3,3] float32": only computed when an error is reported.
std::string DescribeTensorArgs(Napi::Env env, const c10::FunctionSchema& schema, const Napi::Array& args,
                               const Napi::Object* kwargs) {
  std::ostringstream s;
  int n = 0;
  const auto& formals = schema.arguments();
  for (size_t i = 0; i < formals.size(); ++i) {
    Napi::Value v = env.Undefined();
    if (i < args.Length()) v = args.Get(static_cast<uint32_t>(i));
    else if (kwargs && kwargs->Has(formals[i].name())) v = kwargs->Get(formals[i].name());
    if (!TensorHandle::IsHandle(env, v)) {
      if (v.IsArray() && v.As<Napi::Array>().Length() > 0 && TensorHandle::IsHandle(env, v.As<Napi::Array>().Get(0u))) {
        s << (n++ ? ", " : "") << formals[i].name() << "=<" << v.As<Napi::Array>().Length() << " tensors>";
      }
      continue;
    }
    auto* h = TensorHandle::Unwrap(v.As<Napi::Object>());
    s << (n++ ? ", " : "") << formals[i].name() << "=";
    try {
      const at::Tensor& t = h->Get(env, "");
      s << ShapeString(t.sizes()) << " " << DTypeName(t.scalar_type());
      if (!t.device().is_cpu()) s << " " << t.device().str();
    } catch (const std::exception&) {
      s << "<disposed>";
    }
  }
  return s.str();
}

}  // namespace

std::vector<int64_t> ToIntList(Napi::Env env, const Napi::Value& v, const std::string& what, int64_t repeat) {
  if (v.IsNumber() || v.IsBigInt()) {
    if (repeat < 1) throw ArgError(what + ": expected an array of integers, got " + Describe(v));
    return std::vector<int64_t>(static_cast<size_t>(repeat), ToInt(v, what));
  }
  if (!v.IsArray()) throw ArgError(what + ": expected an array of integers, got " + Describe(v));
  auto a = v.As<Napi::Array>();
  std::vector<int64_t> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(ToInt(a.Get(i), what + "[" + std::to_string(i) + "]"));
  return out;
}

std::vector<at::Tensor> ToTensorList(Napi::Env env, const Napi::Value& v, const std::string& what) {
  if (!v.IsArray()) throw ArgError(what + ": expected an array of tensors, got " + Describe(v));
  auto a = v.As<Napi::Array>();
  std::vector<at::Tensor> out;
  out.reserve(a.Length());
  for (uint32_t i = 0; i < a.Length(); ++i) out.push_back(ToTensor(env, a.Get(i), what + "[" + std::to_string(i) + "]"));
  return out;
}

Napi::Value CallOp(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = "call";
  const c10::FunctionSchema* schema = nullptr;
  Napi::Array args = Napi::Array::New(env);
  Napi::Object kwargs;
  bool have_kwargs = false;
  // The message names the operator and its tensor arguments' shapes (computed only when an error is reported).
  auto message = [&](const std::string& text) {
    const std::string shapes = schema ? DescribeTensorArgs(env, *schema, args, have_kwargs ? &kwargs : nullptr) : "";
    return name + ": " + text + (shapes.empty() ? "" : " (" + shapes + ")");
  };
  return GuardWith(env, message, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
      throw ArgError("expected (name, overload, args[, kwargs[, discardResult]])");
    name = info[0].As<Napi::String>().Utf8Value();
    const std::string overload = info[1].As<Napi::String>().Utf8Value();
    if (!overload.empty()) name += "." + overload;
    c10::OperatorHandle op = LookupOp(info[0].As<Napi::String>().Utf8Value(), overload);
    schema = &op.schema();
    if (info.Length() > 2 && info[2].IsArray()) args = info[2].As<Napi::Array>();
    if (info.Length() > 3 && info[3].IsObject() && !info[3].IsArray()) {
      kwargs = info[3].As<Napi::Object>();
      have_kwargs = true;
    }
    const bool discard = info.Length() > 4 && info[4].ToBoolean().Value();

    const auto& formals = schema->arguments();
    if (args.Length() > formals.size())
      throw ArgError("takes " + std::to_string(formals.size()) + " arguments, got " + std::to_string(args.Length()));
    torch::jit::Stack stack;
    stack.reserve(formals.size());
    size_t used_kwargs = 0;
    for (size_t i = 0; i < formals.size(); ++i) {
      const c10::Argument& formal = formals[i];
      Napi::Value v = env.Undefined();
      bool given = false;
      if (i < args.Length()) {
        v = args.Get(static_cast<uint32_t>(i));
        given = !v.IsUndefined();
      } else if (have_kwargs && kwargs.Has(formal.name())) {
        v = kwargs.Get(formal.name());
        given = !v.IsUndefined();
        ++used_kwargs;
      }
      if (!given) {
        if (formal.default_value()) {
          stack.push_back(*formal.default_value());
          continue;
        }
        if (formal.real_type()->kind() == c10::TypeKind::OptionalType) {
          stack.emplace_back();
          continue;
        }
        throw ArgError("missing argument '" + formal.name() + "' (" + formal.real_type()->str() + ")");
      }
      stack.push_back(ToIValue(env, v, formal.real_type(), formal, "argument '" + formal.name() + "'"));
    }
    if (have_kwargs && used_kwargs != kwargs.GetPropertyNames().Length()) {
      auto names = kwargs.GetPropertyNames();
      for (uint32_t i = 0; i < names.Length(); ++i) {
        const std::string k = names.Get(i).ToString().Utf8Value();
        if (!schema->argumentIndexWithName(k)) throw ArgError("unknown keyword argument '" + k + "'");
      }
    }
    op.callBoxed(&stack);
    if (discard || stack.empty()) return env.Undefined();
    if (stack.size() == 1) return FromIValue(env, stack[0]);
    Napi::Array out = Napi::Array::New(env, stack.size());
    for (size_t i = 0; i < stack.size(); ++i) out.Set(static_cast<uint32_t>(i), FromIValue(env, stack[i]));
    return out;
  });
}

Napi::Value ListSchemas(const Napi::CallbackInfo& info) {
  // [{name, overload, schema: "aten::add.Tensor(Tensor self, ...) -> Tensor"}], optionally filtered by a name prefix.
  Napi::Env env = info.Env();
  return Guard(env, "schemas", [&]() -> Napi::Value {
    const std::string prefix = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "";
    Napi::Array out = Napi::Array::New(env);
    uint32_t n = 0;
    for (const auto& opname : c10::Dispatcher::singleton().getAllOpNames()) {
      if (!prefix.empty() && opname.name.compare(0, prefix.size(), prefix) != 0) continue;
      auto handle = c10::Dispatcher::singleton().findSchema(opname);
      if (!handle || !handle->hasSchema()) continue;
      std::ostringstream s;
      s << handle->schema();
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", opname.name);
      o.Set("overload", opname.overload_name);
      o.Set("schema", s.str());
      out.Set(n++, o);
    }
    return out;
  });
}

}  // namespace inkwell
