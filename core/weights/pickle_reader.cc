#include "core/weights/pickle_reader.h"

#include <cstring>
#include <map>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"

namespace codiff {
namespace {

using Kind = PickleNode::Kind;

// What an allow-listed global means to this reader. Nothing is ever called:
// REDUCE on one of these builds a node of fixed meaning.
enum class GlobalRole {
  kOrderedDict,       // collections.OrderedDict() -> empty dict
  kRebuildTensor,     // torch._utils._rebuild_tensor(_v2)
  kRebuildParameter,  // torch._utils._rebuild_parameter(_with_state): its data
  kRebuildFromType,   // torch._tensor._rebuild_from_type_v2(func, type, args, state)
  kTensorType,        // torch.Tensor / torch.nn.parameter.Parameter: markers only
  kStorageType,       // torch.FloatStorage, ...: markers in persistent ids
  kTorchSize,         // torch.Size(tuple) -> the tuple
  kCodecsEncode,      // _codecs.encode(str, "latin1") -> bytes (protocol-2 bytes)
};

struct GlobalInfo {
  GlobalRole role;
  StorageDtype dtype = StorageDtype::kF32;
};

const std::map<std::string, GlobalInfo>& Globals() {
  static const auto* globals = new std::map<std::string, GlobalInfo>{
      {"collections.OrderedDict", {GlobalRole::kOrderedDict}},
      {"torch._utils._rebuild_tensor", {GlobalRole::kRebuildTensor}},
      {"torch._utils._rebuild_tensor_v2", {GlobalRole::kRebuildTensor}},
      {"torch._utils._rebuild_parameter", {GlobalRole::kRebuildParameter}},
      {"torch._utils._rebuild_parameter_with_state", {GlobalRole::kRebuildParameter}},
      {"torch._tensor._rebuild_from_type_v2", {GlobalRole::kRebuildFromType}},
      {"torch.Tensor", {GlobalRole::kTensorType}},
      {"torch.nn.parameter.Parameter", {GlobalRole::kTensorType}},
      {"torch.Size", {GlobalRole::kTorchSize}},
      {"_codecs.encode", {GlobalRole::kCodecsEncode}},
      {"torch.FloatStorage", {GlobalRole::kStorageType, StorageDtype::kF32}},
      {"torch.HalfStorage", {GlobalRole::kStorageType, StorageDtype::kF16}},
      {"torch.BFloat16Storage", {GlobalRole::kStorageType, StorageDtype::kBF16}},
      {"torch.DoubleStorage", {GlobalRole::kStorageType, StorageDtype::kF64}},
      {"torch.LongStorage", {GlobalRole::kStorageType, StorageDtype::kI64}},
      {"torch.IntStorage", {GlobalRole::kStorageType, StorageDtype::kI32}},
      {"torch.ShortStorage", {GlobalRole::kStorageType, StorageDtype::kI16}},
      {"torch.CharStorage", {GlobalRole::kStorageType, StorageDtype::kI8}},
      {"torch.ByteStorage", {GlobalRole::kStorageType, StorageDtype::kU8}},
      {"torch.BoolStorage", {GlobalRole::kStorageType, StorageDtype::kBool}},
  };
  return *globals;
}

// Pickle opcodes (Python's Lib/pickle.py names).
enum Op : uint8_t {
  MARK = '(',
  STOP = '.',
  POP = '0',
  POP_MARK = '1',
  DUP = '2',
  FLOAT = 'F',
  INT = 'I',
  BININT = 'J',
  BININT1 = 'K',
  LONG = 'L',
  BININT2 = 'M',
  NONE = 'N',
  PERSID = 'P',
  BINPERSID = 'Q',
  REDUCE = 'R',
  STRING = 'S',
  BINSTRING = 'T',
  SHORT_BINSTRING = 'U',
  UNICODE = 'V',
  BINUNICODE = 'X',
  APPEND = 'a',
  BUILD = 'b',
  GLOBAL = 'c',
  DICT = 'd',
  EMPTY_DICT = '}',
  APPENDS = 'e',
  GET = 'g',
  BINGET = 'h',
  INST = 'i',
  LONG_BINGET = 'j',
  LIST = 'l',
  EMPTY_LIST = ']',
  OBJ = 'o',
  PUT = 'p',
  BINPUT = 'q',
  LONG_BINPUT = 'r',
  SETITEM = 's',
  TUPLE = 't',
  EMPTY_TUPLE = ')',
  SETITEMS = 'u',
  BINFLOAT = 'G',
  PROTO = 0x80,
  NEWOBJ = 0x81,
  EXT1 = 0x82,
  EXT2 = 0x83,
  EXT4 = 0x84,
  TUPLE1 = 0x85,
  TUPLE2 = 0x86,
  TUPLE3 = 0x87,
  NEWTRUE = 0x88,
  NEWFALSE = 0x89,
  LONG1 = 0x8a,
  LONG4 = 0x8b,
  BINBYTES = 'B',
  SHORT_BINBYTES = 'C',
  SHORT_BINUNICODE = 0x8c,
  BINUNICODE8 = 0x8d,
  BINBYTES8 = 0x8e,
  EMPTY_SET = 0x8f,
  ADDITEMS = 0x90,
  FROZENSET = 0x91,
  NEWOBJ_EX = 0x92,
  STACK_GLOBAL = 0x93,
  MEMOIZE = 0x94,
  FRAME = 0x95,
  BYTEARRAY8 = 0x96,
  NEXT_BUFFER = 0x97,
  READONLY_BUFFER = 0x98,
};

constexpr int32_t kMark = -1;

class Unpickler {
 public:
  Unpickler(absl::Span<const uint8_t> bytes, const PickleLimits& limits)
      : bytes_(bytes), limits_(limits) {}

  absl::StatusOr<PickleTree> Run() {
    while (true) {
      if (pos_ >= bytes_.size()) return Error("the pickle ends before its STOP opcode");
      op_pos_ = pos_;
      const uint8_t op = bytes_[pos_++];
      if (op == STOP) {
        if (stack_.empty() || stack_.back() == kMark) return Error("STOP with an empty stack");
        tree_.root = stack_.back();
        tree_.consumed = pos_;
        return std::move(tree_);
      }
      absl::Status status = Step(op);
      if (!status.ok()) return status;
    }
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("pickle byte ", op_pos_, ": ", what));
  }

  // --- input ---------------------------------------------------------------
  absl::Status Need(size_t n) const {
    if (n > bytes_.size() - pos_) return Error("truncated (the pickle ends inside an opcode)");
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> ReadLE(size_t n) {
    if (auto s = Need(n); !s.ok()) return s;
    uint64_t v = 0;
    for (size_t i = 0; i < n; ++i) v |= static_cast<uint64_t>(bytes_[pos_ + i]) << (8 * i);
    pos_ += n;
    return v;
  }
  absl::StatusOr<std::string> ReadBytes(uint64_t n) {
    if (n > bytes_.size() - pos_) return Error("truncated (a string runs past the end)");
    std::string out(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return out;
  }
  absl::StatusOr<std::string> ReadLine() {
    const size_t start = pos_;
    while (pos_ < bytes_.size() && bytes_[pos_] != '\n') ++pos_;
    if (pos_ >= bytes_.size()) return Error("truncated (a text argument has no newline)");
    std::string out(reinterpret_cast<const char*>(bytes_.data() + start), pos_ - start);
    ++pos_;
    return out;
  }

  // --- nodes and stack -----------------------------------------------------
  absl::StatusOr<int32_t> NewNode(Kind kind) {
    if (tree_.nodes.size() >= limits_.max_nodes) return Error("too many values");
    tree_.nodes.emplace_back();
    tree_.nodes.back().kind = kind;
    return static_cast<int32_t>(tree_.nodes.size() - 1);
  }
  PickleNode& node(int32_t i) { return tree_.nodes[static_cast<size_t>(i)]; }
  absl::Status Push(int32_t i) {
    if (stack_.size() >= limits_.max_stack) return Error("stack too deep");
    stack_.push_back(i);
    return absl::OkStatus();
  }
  absl::Status PushNew(Kind kind, int64_t int_value = 0) {
    auto i = NewNode(kind);
    if (!i.ok()) return i.status();
    node(*i).int_value = int_value;
    return Push(*i);
  }
  absl::Status PushText(Kind kind, std::string text) {
    auto i = NewNode(kind);
    if (!i.ok()) return i.status();
    node(*i).text = std::move(text);
    return Push(*i);
  }
  absl::StatusOr<int32_t> Pop() {
    if (stack_.empty() || stack_.back() == kMark) return Error("stack underflow");
    const int32_t v = stack_.back();
    stack_.pop_back();
    return v;
  }
  absl::StatusOr<int32_t> Top() const {
    if (stack_.empty() || stack_.back() == kMark) return Error("stack underflow");
    return stack_.back();
  }
  // Pops everything above the topmost MARK (and the MARK).
  absl::StatusOr<std::vector<int32_t>> PopMark() {
    size_t mark = stack_.size();
    while (mark > 0 && stack_[mark - 1] != kMark) --mark;
    if (mark == 0) return Error("no MARK on the stack");
    std::vector<int32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark - 1);
    return items;
  }
  absl::Status CountItems(size_t n) {
    items_total_ += n;
    if (items_total_ > limits_.max_container_items) return Error("too many container items");
    return absl::OkStatus();
  }
  absl::Status PushTuple(std::vector<int32_t> items) {
    if (auto s = CountItems(items.size()); !s.ok()) return s;
    auto i = NewNode(Kind::kTuple);
    if (!i.ok()) return i.status();
    node(*i).items = std::move(items);
    return Push(*i);
  }
  absl::Status Memoize(uint64_t key) {
    if (stack_.empty() || stack_.back() == kMark) return Error("memo of an empty stack");
    if (memo_.size() >= limits_.max_stack && memo_.count(key) == 0) return Error("memo too large");
    memo_[key] = stack_.back();
    return absl::OkStatus();
  }
  absl::Status Recall(uint64_t key) {
    auto it = memo_.find(key);
    if (it == memo_.end()) return Error(absl::StrCat("memo key ", key, " was never stored"));
    return Push(it->second);
  }

  // --- container mutation ----------------------------------------------------
  absl::Status AppendTo(int32_t list, const std::vector<int32_t>& items) {
    PickleNode& target = node(list);
    if (target.kind != Kind::kList) return Error("APPEND to something that is not a list");
    if (auto s = CountItems(items.size()); !s.ok()) return s;
    target.items.insert(target.items.end(), items.begin(), items.end());
    return absl::OkStatus();
  }
  absl::Status SetItems(int32_t dict, const std::vector<int32_t>& kv) {
    if (kv.size() % 2 != 0) return Error("SETITEMS with an odd number of values");
    PickleNode& target = node(dict);
    if (target.kind != Kind::kDict) return Error("SETITEM on something that is not a dict");
    if (auto s = CountItems(kv.size() / 2); !s.ok()) return s;
    for (size_t i = 0; i < kv.size(); i += 2) target.entries.emplace_back(kv[i], kv[i + 1]);
    return absl::OkStatus();
  }

  // --- globals -----------------------------------------------------------------
  absl::Status PushGlobal(const std::string& module, const std::string& name) {
    const std::string full = absl::StrCat(module, ".", name);
    if (Globals().count(full) == 0) {
      return absl::PermissionDeniedError(absl::StrCat(
          "pickle byte ", op_pos_, ": refused global '", full,
          "': not one of the globals torch.save writes for tensors and containers, so the file "
          "is not a plain checkpoint (loading it with torch.load could run code); nothing was "
          "executed"));
    }
    return PushText(Kind::kGlobal, full);
  }
  const GlobalInfo* GlobalOf(int32_t i) const {
    const PickleNode& n = tree_.nodes[static_cast<size_t>(i)];
    if (n.kind != Kind::kGlobal) return nullptr;
    return &Globals().at(n.text);
  }

  absl::StatusOr<int64_t> IntArg(int32_t i, const char* what) const {
    const PickleNode& n = tree_.nodes[static_cast<size_t>(i)];
    if (n.kind != Kind::kInt && n.kind != Kind::kBool) {
      return Error(absl::StrCat(what, " must be an integer"));
    }
    return n.int_value;
  }
  absl::StatusOr<std::vector<int64_t>> IntTuple(int32_t i, const char* what) const {
    const PickleNode& n = tree_.nodes[static_cast<size_t>(i)];
    if (n.kind != Kind::kTuple && n.kind != Kind::kList) {
      return Error(absl::StrCat(what, " must be a tuple of integers"));
    }
    std::vector<int64_t> out;
    for (int32_t item : n.items) {
      auto v = IntArg(item, what);
      if (!v.ok()) return v.status();
      out.push_back(*v);
    }
    return out;
  }

  // _rebuild_tensor(_v2)(storage, storage_offset, size, stride, ...)
  absl::StatusOr<int32_t> RebuildTensor(const std::vector<int32_t>& args) {
    if (args.size() < 4) return Error("_rebuild_tensor needs (storage, offset, size, stride)");
    if (node(args[0]).kind != Kind::kStorage) {
      return Error("_rebuild_tensor's first argument is not a storage");
    }
    auto offset = IntArg(args[1], "storage offset");
    if (!offset.ok()) return offset.status();
    auto sizes = IntTuple(args[2], "tensor size");
    if (!sizes.ok()) return sizes.status();
    auto strides = IntTuple(args[3], "tensor stride");
    if (!strides.ok()) return strides.status();
    if (sizes->size() != strides->size()) return Error("tensor size and stride differ in length");
    auto t = NewNode(Kind::kTensor);
    if (!t.ok()) return t.status();
    PickleNode& tensor = node(*t);
    tensor.storage = args[0];
    tensor.storage_offset = *offset;
    tensor.sizes = *std::move(sizes);
    tensor.strides = *std::move(strides);
    return *t;
  }

  absl::StatusOr<int32_t> Apply(int32_t callable, int32_t args_node) {
    const GlobalInfo* info = GlobalOf(callable);
    if (info == nullptr) return Error("REDUCE on something that is not an allowed global");
    if (node(args_node).kind != Kind::kTuple) return Error("REDUCE arguments are not a tuple");
    const std::vector<int32_t> args = node(args_node).items;
    const std::string& name = node(callable).text;
    switch (info->role) {
      case GlobalRole::kOrderedDict: {
        if (!args.empty()) return Error("OrderedDict(...) with arguments is not supported");
        return NewNode(Kind::kDict);
      }
      case GlobalRole::kRebuildTensor:
        return RebuildTensor(args);
      case GlobalRole::kRebuildParameter: {
        if (args.empty() || node(args[0]).kind != Kind::kTensor) {
          return Error(absl::StrCat(name, " without a tensor"));
        }
        return args[0];
      }
      case GlobalRole::kRebuildFromType: {
        // (func, new_type, func_args, state): only plain tensors/parameters.
        if (args.size() < 3) return Error("_rebuild_from_type_v2 needs (func, type, args, ...)");
        const GlobalInfo* type = GlobalOf(args[1]);
        if (type == nullptr || type->role != GlobalRole::kTensorType) {
          return Error("_rebuild_from_type_v2 of a type other than Tensor/Parameter");
        }
        const GlobalInfo* func = GlobalOf(args[0]);
        if (func == nullptr || (func->role != GlobalRole::kRebuildTensor &&
                                func->role != GlobalRole::kRebuildParameter)) {
          return Error("_rebuild_from_type_v2 of a function that does not rebuild a tensor");
        }
        return Apply(args[0], args[2]);
      }
      case GlobalRole::kTorchSize: {
        if (args.size() != 1) return Error("torch.Size takes one tuple");
        return args[0];
      }
      case GlobalRole::kCodecsEncode: {
        if (args.empty() || node(args[0]).kind != Kind::kString) {
          return Error("_codecs.encode without a string");
        }
        // Protocol 2 writes bytes as encode(latin-1 text): undo the UTF-8
        // that the string node holds, one code point <= 0xFF per byte.
        const std::string& utf8 = node(args[0]).text;
        std::string raw;
        for (size_t i = 0; i < utf8.size(); ++i) {
          const auto c = static_cast<uint8_t>(utf8[i]);
          if (c < 0x80) {
            raw.push_back(static_cast<char>(c));
          } else if ((c == 0xC2 || c == 0xC3) && i + 1 < utf8.size()) {
            raw.push_back(static_cast<char>(((c & 0x03) << 6) | (utf8[++i] & 0x3F)));
          } else {
            return Error("_codecs.encode of text that is not latin-1");
          }
        }
        auto b = NewNode(Kind::kBytes);
        if (!b.ok()) return b.status();
        node(*b).text = std::move(raw);
        return *b;
      }
      case GlobalRole::kTensorType:
      case GlobalRole::kStorageType:
        break;
    }
    return Error(absl::StrCat("'", name, "' cannot be called here"));
  }

  // torch.save's persistent ids: ('storage', storage_type, key, location,
  // numel[, view_metadata]) where view_metadata (legacy format only) is None
  // or (view_key, offset, size).
  absl::Status PersistentLoad(int32_t pid) {
    const PickleNode& id = node(pid);
    if (id.kind != Kind::kTuple || id.items.empty() || node(id.items[0]).kind != Kind::kString) {
      return Error("persistent id is not a tuple starting with a string");
    }
    const std::vector<int32_t> parts = id.items;
    const std::string tag = node(parts[0]).text;
    if (tag == "module") {
      return Error(
          "the file pickles a whole nn.Module (torch.save(model)); save and import its "
          "state_dict() instead");
    }
    if (tag != "storage" || parts.size() < 5) {
      return Error(absl::StrCat("unsupported persistent id '", tag, "'"));
    }
    const GlobalInfo* type = GlobalOf(parts[1]);
    if (type == nullptr || type->role != GlobalRole::kStorageType) {
      return Error("persistent id without a known storage type");
    }
    const PickleNode& key = node(parts[2]);
    if (key.kind != Kind::kString && key.kind != Kind::kInt) {
      return Error("storage key is neither a string nor an integer");
    }
    const std::string key_text = key.kind == Kind::kString ? key.text : absl::StrCat(key.int_value);
    auto numel = IntArg(parts[4], "storage size");
    if (!numel.ok()) return numel.status();
    if (*numel < 0) return Error("negative storage size");
    auto s = NewNode(Kind::kStorage);
    if (!s.ok()) return s.status();
    PickleNode& storage = node(*s);
    storage.text = key_text;
    storage.storage_dtype = type->dtype;
    storage.storage_numel = *numel;
    if (parts.size() >= 6 && node(parts[5]).kind != Kind::kNone) {
      const PickleNode& view = node(parts[5]);
      if (view.kind != Kind::kTuple || view.items.size() != 3) {
        return Error("storage view metadata is not (key, offset, size)");
      }
      auto offset = IntArg(view.items[1], "storage view offset");
      if (!offset.ok()) return offset.status();
      auto size = IntArg(view.items[2], "storage view size");
      if (!size.ok()) return size.status();
      if (*offset < 0 || *size < 0 || *offset > *numel || *size > *numel - *offset) {
        return Error("storage view lies outside its storage");
      }
      node(*s).storage_view_offset = *offset;
      node(*s).storage_numel = *size;
      node(*s).int_value = *numel;  // the root storage's size
    } else {
      node(*s).int_value = *numel;
    }
    return Push(*s);
  }

  absl::Status PushLong(const std::string& little_endian) {
    if (little_endian.size() > 8) return Error("integer wider than 64 bits");
    uint64_t v = 0;
    for (size_t i = 0; i < little_endian.size(); ++i) {
      v |= static_cast<uint64_t>(static_cast<uint8_t>(little_endian[i])) << (8 * i);
    }
    if (!little_endian.empty() && little_endian.size() < 8 &&
        (static_cast<uint8_t>(little_endian.back()) & 0x80)) {
      v |= ~uint64_t{0} << (8 * little_endian.size());  // sign-extend
    }
    return PushNew(Kind::kInt, static_cast<int64_t>(v));
  }

  absl::Status Step(uint8_t op) {
    switch (op) {
      case PROTO: {
        auto v = ReadLE(1);
        if (!v.ok()) return v.status();
        if (*v > 5) return Error(absl::StrCat("pickle protocol ", *v, " is not supported"));
        return absl::OkStatus();
      }
      case FRAME: {
        auto v = ReadLE(8);
        return v.ok() ? absl::OkStatus() : v.status();
      }
      case MARK:
        if (stack_.size() >= limits_.max_stack) return Error("stack too deep");
        stack_.push_back(kMark);
        return absl::OkStatus();
      case POP:
        if (stack_.empty()) return Error("stack underflow");
        stack_.pop_back();
        return absl::OkStatus();
      case POP_MARK: {
        auto items = PopMark();
        return items.ok() ? absl::OkStatus() : items.status();
      }
      case DUP: {
        auto top = Top();
        if (!top.ok()) return top.status();
        return Push(*top);
      }
      case NONE:
        return PushNew(Kind::kNone);
      case NEWTRUE:
        return PushNew(Kind::kBool, 1);
      case NEWFALSE:
        return PushNew(Kind::kBool, 0);
      case BININT: {
        auto v = ReadLE(4);
        if (!v.ok()) return v.status();
        return PushNew(Kind::kInt, static_cast<int32_t>(static_cast<uint32_t>(*v)));
      }
      case BININT1:
      case BININT2: {
        auto v = ReadLE(op == BININT1 ? 1 : 2);
        if (!v.ok()) return v.status();
        return PushNew(Kind::kInt, static_cast<int64_t>(*v));
      }
      case LONG1:
      case LONG4: {
        auto n = ReadLE(op == LONG1 ? 1 : 4);
        if (!n.ok()) return n.status();
        auto bytes = ReadBytes(*n);
        if (!bytes.ok()) return bytes.status();
        return PushLong(*bytes);
      }
      case INT:
      case LONG: {
        auto line = ReadLine();
        if (!line.ok()) return line.status();
        std::string text = *line;
        if (op == INT && (text == "00" || text == "01")) return PushNew(Kind::kBool, text == "01");
        if (!text.empty() && text.back() == 'L') text.pop_back();
        int64_t v = 0;
        if (!absl::SimpleAtoi(text, &v)) return Error("malformed or too large text integer");
        return PushNew(Kind::kInt, v);
      }
      case BINFLOAT: {
        if (auto s = Need(8); !s.ok()) return s;
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | bytes_[pos_ + static_cast<size_t>(i)];
        pos_ += 8;
        double d;
        std::memcpy(&d, &bits, sizeof d);
        auto i = NewNode(Kind::kFloat);
        if (!i.ok()) return i.status();
        node(*i).float_value = d;
        return Push(*i);
      }
      case FLOAT: {
        auto line = ReadLine();
        if (!line.ok()) return line.status();
        double d = 0;
        if (!absl::SimpleAtod(*line, &d)) return Error("malformed text float");
        auto i = NewNode(Kind::kFloat);
        if (!i.ok()) return i.status();
        node(*i).float_value = d;
        return Push(*i);
      }
      case BINUNICODE:
      case SHORT_BINUNICODE:
      case BINUNICODE8:
      case BINSTRING:
      case SHORT_BINSTRING:
      case BINBYTES:
      case SHORT_BINBYTES:
      case BINBYTES8: {
        const size_t width =
            (op == SHORT_BINUNICODE || op == SHORT_BINSTRING || op == SHORT_BINBYTES) ? 1
            : (op == BINUNICODE8 || op == BINBYTES8)                                  ? 8
                                                                                      : 4;
        auto n = ReadLE(width);
        if (!n.ok()) return n.status();
        auto text = ReadBytes(*n);
        if (!text.ok()) return text.status();
        const bool is_bytes = op == BINBYTES || op == SHORT_BINBYTES || op == BINBYTES8;
        return PushText(is_bytes ? Kind::kBytes : Kind::kString, *std::move(text));
      }
      case UNICODE: {
        auto line = ReadLine();
        if (!line.ok()) return line.status();
        return PushText(Kind::kString, *std::move(line));
      }
      case EMPTY_LIST:
        return PushNew(Kind::kList);
      case EMPTY_DICT:
        return PushNew(Kind::kDict);
      case EMPTY_SET:
        return PushNew(Kind::kList);
      case EMPTY_TUPLE:
        return PushTuple({});
      case TUPLE: {
        auto items = PopMark();
        if (!items.ok()) return items.status();
        return PushTuple(*std::move(items));
      }
      case TUPLE1:
      case TUPLE2:
      case TUPLE3: {
        const size_t n = op - TUPLE1 + 1;
        std::vector<int32_t> items(n);
        for (size_t i = n; i > 0; --i) {
          auto v = Pop();
          if (!v.ok()) return v.status();
          items[i - 1] = *v;
        }
        return PushTuple(std::move(items));
      }
      case LIST:
      case FROZENSET: {
        auto items = PopMark();
        if (!items.ok()) return items.status();
        if (auto s = CountItems(items->size()); !s.ok()) return s;
        auto i = NewNode(Kind::kList);
        if (!i.ok()) return i.status();
        node(*i).items = *std::move(items);
        return Push(*i);
      }
      case DICT: {
        auto kv = PopMark();
        if (!kv.ok()) return kv.status();
        auto i = NewNode(Kind::kDict);
        if (!i.ok()) return i.status();
        if (auto s = SetItems(*i, *kv); !s.ok()) return s;
        return Push(*i);
      }
      case APPEND: {
        auto value = Pop();
        if (!value.ok()) return value.status();
        auto list = Top();
        if (!list.ok()) return list.status();
        return AppendTo(*list, {*value});
      }
      case APPENDS:
      case ADDITEMS: {
        auto items = PopMark();
        if (!items.ok()) return items.status();
        auto list = Top();
        if (!list.ok()) return list.status();
        return AppendTo(*list, *items);
      }
      case SETITEM: {
        auto value = Pop();
        if (!value.ok()) return value.status();
        auto key = Pop();
        if (!key.ok()) return key.status();
        auto dict = Top();
        if (!dict.ok()) return dict.status();
        return SetItems(*dict, {*key, *value});
      }
      case SETITEMS: {
        auto kv = PopMark();
        if (!kv.ok()) return kv.status();
        auto dict = Top();
        if (!dict.ok()) return dict.status();
        return SetItems(*dict, *kv);
      }
      case PUT: {
        auto line = ReadLine();
        if (!line.ok()) return line.status();
        uint64_t key = 0;
        if (!absl::SimpleAtoi(*line, &key)) return Error("malformed PUT key");
        return Memoize(key);
      }
      case BINPUT:
      case LONG_BINPUT: {
        auto key = ReadLE(op == BINPUT ? 1 : 4);
        if (!key.ok()) return key.status();
        return Memoize(*key);
      }
      case MEMOIZE:
        return Memoize(memo_.size());
      case GET: {
        auto line = ReadLine();
        if (!line.ok()) return line.status();
        uint64_t key = 0;
        if (!absl::SimpleAtoi(*line, &key)) return Error("malformed GET key");
        return Recall(key);
      }
      case BINGET:
      case LONG_BINGET: {
        auto key = ReadLE(op == BINGET ? 1 : 4);
        if (!key.ok()) return key.status();
        return Recall(*key);
      }
      case GLOBAL: {
        auto module = ReadLine();
        if (!module.ok()) return module.status();
        auto name = ReadLine();
        if (!name.ok()) return name.status();
        return PushGlobal(*module, *name);
      }
      case STACK_GLOBAL: {
        auto name = Pop();
        if (!name.ok()) return name.status();
        auto module = Pop();
        if (!module.ok()) return module.status();
        if (node(*name).kind != Kind::kString || node(*module).kind != Kind::kString) {
          return Error("STACK_GLOBAL operands are not strings");
        }
        return PushGlobal(node(*module).text, node(*name).text);
      }
      case REDUCE: {
        auto args = Pop();
        if (!args.ok()) return args.status();
        auto callable = Pop();
        if (!callable.ok()) return callable.status();
        auto result = Apply(*callable, *args);
        if (!result.ok()) return result.status();
        return Push(*result);
      }
      case NEWOBJ: {
        auto args = Pop();
        if (!args.ok()) return args.status();
        auto cls = Pop();
        if (!cls.ok()) return cls.status();
        const GlobalInfo* info = GlobalOf(*cls);
        if (info == nullptr || info->role != GlobalRole::kOrderedDict) {
          return Error("NEWOBJ of a class other than OrderedDict");
        }
        return PushNew(Kind::kDict);
      }
      case BUILD: {
        auto state = Pop();
        if (!state.ok()) return state.status();
        auto target = Top();
        if (!target.ok()) return target.status();
        // A state_dict's OrderedDict carries `_metadata` (module versions) as
        // instance state; it does not change the tensors, so it is dropped.
        if (node(*target).kind != Kind::kDict)
          return Error("BUILD on an object that is not a dict");
        return absl::OkStatus();
      }
      case BINPERSID: {
        auto pid = Pop();
        if (!pid.ok()) return pid.status();
        return PersistentLoad(*pid);
      }
      case PERSID:
        return Error("text persistent ids are not written by torch.save");
      case INST:
      case OBJ:
      case NEWOBJ_EX:
      case EXT1:
      case EXT2:
      case EXT4:
        return Error(absl::StrCat("opcode 0x", absl::Hex(op),
                                  " builds arbitrary objects and is not supported"));
      case STRING:
        return Error("protocol-0 STRING is not supported");
      case BYTEARRAY8:
      case NEXT_BUFFER:
      case READONLY_BUFFER:
        return Error("out-of-band buffers are not supported");
      default:
        return Error(absl::StrCat("unknown opcode 0x", absl::Hex(op)));
    }
  }

  absl::Span<const uint8_t> bytes_;
  PickleLimits limits_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  size_t items_total_ = 0;
  std::vector<int32_t> stack_;
  absl::flat_hash_map<uint64_t, int32_t> memo_;
  PickleTree tree_;
};

}  // namespace

size_t StorageDtypeSize(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kF64:
    case StorageDtype::kI64:
      return 8;
    case StorageDtype::kF32:
    case StorageDtype::kI32:
      return 4;
    case StorageDtype::kF16:
    case StorageDtype::kBF16:
    case StorageDtype::kI16:
      return 2;
    case StorageDtype::kI8:
    case StorageDtype::kU8:
    case StorageDtype::kBool:
      return 1;
  }
  return 1;
}

const char* StorageDtypeName(StorageDtype dtype) {
  switch (dtype) {
    case StorageDtype::kF32:
      return "float32";
    case StorageDtype::kF16:
      return "float16";
    case StorageDtype::kBF16:
      return "bfloat16";
    case StorageDtype::kF64:
      return "float64";
    case StorageDtype::kI64:
      return "int64";
    case StorageDtype::kI32:
      return "int32";
    case StorageDtype::kI16:
      return "int16";
    case StorageDtype::kI8:
      return "int8";
    case StorageDtype::kU8:
      return "uint8";
    case StorageDtype::kBool:
      return "bool";
  }
  return "?";
}

absl::StatusOr<PickleTree> ParseTorchPickle(absl::Span<const uint8_t> bytes,
                                            const PickleLimits& limits) {
  return Unpickler(bytes, limits).Run();
}

std::vector<std::string> AllowedPickleGlobals() {
  std::vector<std::string> names;
  for (const auto& [name, info] : Globals()) names.push_back(name);
  return names;
}

}  // namespace codiff
