// feitp storage: a tree of directories and files held in memory, shared by every Storage its
// factory makes and guarded by one mutex.
//
// Writes are always atomic here: an upload fills a private buffer and publishes it on commit()
// (replace, append to or resume the file as it is at that moment). abort(true) publishes what
// arrived, abort(false) publishes nothing, so a file the upload would have created never appears.
// A reader holds a snapshot of the content as it was when it opened the file.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "feitp/auth.hpp"
#include "feitp/storage.hpp"

namespace feitp {

namespace memory_detail {

using Bytes = std::vector<std::byte>;

struct Node {
  FileType type = FileType::file;
  std::uint32_t mode = 0644;
  std::int64_t mtime = 0;
  std::uint64_t id = 0;
  std::shared_ptr<const Bytes> data = std::make_shared<const Bytes>();  // files
  std::map<std::string, std::shared_ptr<Node>, std::less<>> children;   // directories
};

inline std::int64_t now() { return static_cast<std::int64_t>(std::time(nullptr)); }

}  // namespace memory_detail

using memory_detail::Bytes;
using memory_detail::Node;
using memory_detail::now;

struct MemoryStorageFactory::Tree {
  mutable std::mutex mu;
  std::shared_ptr<Node> root;
  std::uint64_t next_id = 1;

  Tree() : root(std::make_shared<Node>()) {
    root->type = FileType::directory;
    root->mode = 0755;
    root->mtime = now();
    root->id = next_id++;
  }

  std::shared_ptr<Node> make(FileType type, std::uint32_t mode) {
    auto n = std::make_shared<Node>();
    n->type = type;
    n->mode = mode;
    n->mtime = now();
    n->id = next_id++;
    return n;
  }
};

namespace {

using Tree = MemoryStorageFactory::Tree;

// Splits "/a/b/c" into components; "." , ".." and empty components are refused.
std::error_code split(std::string_view path, std::vector<std::string_view>& out) {
  out.clear();
  while (!path.empty() && path.front() == '/') path.remove_prefix(1);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  while (!path.empty()) {
    const auto slash = path.find('/');
    const std::string_view comp = path.substr(0, slash);
    if (comp.empty() || comp == "." || comp == ".." || comp.find('\0') != std::string_view::npos) {
      return errno_code(EINVAL);
    }
    out.push_back(comp);
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return {};
}

// Walks to the node of comps[0..n); ENOENT/ENOTDIR like a file system would.
Result<Node*> walk(Tree& t, const std::vector<std::string_view>& comps, std::size_t n) {
  Node* cur = t.root.get();
  for (std::size_t i = 0; i < n; ++i) {
    if (cur->type != FileType::directory) return errno_code(ENOTDIR);
    auto it = cur->children.find(comps[i]);
    if (it == cur->children.end()) return errno_code(ENOENT);
    cur = it->second.get();
  }
  return cur;
}

// The directory that holds the last component (which must exist as a path: not the root).
Result<Node*> parent_dir(Tree& t, const std::vector<std::string_view>& comps) {
  auto p = walk(t, comps, comps.size() - 1);
  if (!p) return p.error();
  if ((*p)->type != FileType::directory) return errno_code(ENOTDIR);
  return p;
}

FileInfo info_of(const Node& n, std::string_view name) {
  FileInfo i;
  i.name = name;
  i.type = n.type;
  i.size = n.type == FileType::file ? n.data->size() : 0;
  i.mtime = n.mtime;
  i.mode = n.mode;
  i.nlink = n.type == FileType::directory ? 2 : 1;
  i.unique = n.id;
  return i;
}

class MemoryReadFile final : public ReadFile {
 public:
  MemoryReadFile(std::shared_ptr<const Bytes> data, std::size_t pos) : data_(std::move(data)), pos_(pos) {}
  Result<std::size_t> read(std::span<std::byte> buf) override {
    const std::size_t n = pos_ >= data_->size() ? 0 : std::min(buf.size(), data_->size() - pos_);
    if (n != 0) std::memcpy(buf.data(), data_->data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::shared_ptr<const Bytes> data_;
  std::size_t pos_;
};

class MemoryWriteFile final : public WriteFile {
 public:
  MemoryWriteFile(std::shared_ptr<Tree> tree, std::vector<std::string> comps, WriteMode mode,
                  std::uint64_t offset)
      : tree_(std::move(tree)), comps_(std::move(comps)), mode_(mode), offset_(offset) {}
  // Never ended: abort(false), which publishes nothing.
  ~MemoryWriteFile() override { abort(false); }
  MemoryWriteFile(const MemoryWriteFile&) = delete;
  MemoryWriteFile& operator=(const MemoryWriteFile&) = delete;

  Result<std::size_t> write(std::span<const std::byte> data) override {
    if (done_) return errno_code(EBADF);
    buf_.insert(buf_.end(), data.begin(), data.end());
    return data.size();
  }

  // Commit::keep_previous changes nothing: without revert() (ENOTSUP) the server removes a
  // refused upload by its path.
  Status commit(Commit /*how*/) override {
    if (done_) return errno_code(EBADF);
    done_ = true;
    return publish();
  }

  void abort(bool keep_partial) override {
    if (done_) return;
    done_ = true;
    if (keep_partial) (void)publish();
  }

 private:
  Status publish() {
    std::lock_guard lock(tree_->mu);
    std::vector<std::string_view> comps(comps_.begin(), comps_.end());
    auto dir = parent_dir(*tree_, comps);
    if (!dir) return dir.error();
    auto& children = (*dir)->children;
    auto it = children.find(comps.back());
    if (it != children.end() && it->second->type == FileType::directory) { return errno_code(EISDIR); }
    if (it != children.end() && mode_ == WriteMode::exclusive) return errno_code(EEXIST);
    if (it == children.end()) {
      it = children.emplace(comps_.back(), tree_->make(FileType::file, 0644)).first;
    }
    Node& n = *it->second;
    auto data = std::make_shared<Bytes>();
    switch (mode_) {
      case WriteMode::truncate:
      case WriteMode::exclusive: *data = std::move(buf_); break;
      case WriteMode::append:
        data->reserve(n.data->size() + buf_.size());
        data->assign(n.data->begin(), n.data->end());
        data->insert(data->end(), buf_.begin(), buf_.end());
        break;
      case WriteMode::at_offset: {
        const std::size_t keep = std::min<std::uint64_t>(offset_, n.data->size());
        data->reserve(keep + buf_.size());
        data->assign(n.data->begin(), n.data->begin() + static_cast<std::ptrdiff_t>(keep));
        data->insert(data->end(), buf_.begin(), buf_.end());
        break;
      }
    }
    buf_.clear();
    n.data = std::move(data);
    n.mtime = now();
    return {};
  }

  std::shared_ptr<Tree> tree_;
  std::vector<std::string> comps_;
  WriteMode mode_;
  std::uint64_t offset_;
  Bytes buf_;
  bool done_ = false;
};

class MemoryStorage final : public Storage {
 public:
  explicit MemoryStorage(std::shared_ptr<Tree> tree) : tree_(std::move(tree)) {}

  [[nodiscard]] StorageCapabilities capabilities() const override {
    StorageCapabilities c;
    c.chmod = true;
    c.set_mtime = true;
    return c;
  }

  Result<FileInfo> stat(std::string_view path) override {
    std::vector<std::string_view> comps;
    if (auto ec = split(path, comps)) return ec;
    std::lock_guard lock(tree_->mu);
    auto n = walk(*tree_, comps, comps.size());
    if (!n) return n.error();
    return info_of(**n, comps.empty() ? std::string_view{} : comps.back());
  }

  Result<std::vector<FileInfo>> list(std::string_view path) override {
    std::vector<std::string_view> comps;
    if (auto ec = split(path, comps)) return ec;
    std::lock_guard lock(tree_->mu);
    auto n = walk(*tree_, comps, comps.size());
    if (!n) return n.error();
    if ((*n)->type != FileType::directory) return errno_code(ENOTDIR);
    std::vector<FileInfo> out;
    out.reserve((*n)->children.size());
    for (const auto& [name, child] : (*n)->children) out.push_back(info_of(*child, name));
    return out;
  }

  Result<std::unique_ptr<ReadFile>> open_read(std::string_view path, std::uint64_t offset) override {
    std::vector<std::string_view> comps;
    if (auto ec = split(path, comps)) return ec;
    std::lock_guard lock(tree_->mu);
    auto n = walk(*tree_, comps, comps.size());
    if (!n) return n.error();
    if ((*n)->type == FileType::directory) return errno_code(EISDIR);
    const std::size_t pos = offset > SIZE_MAX ? SIZE_MAX : static_cast<std::size_t>(offset);
    return std::unique_ptr<ReadFile>(std::make_unique<MemoryReadFile>((*n)->data, pos));
  }

  Result<std::unique_ptr<WriteFile>> open_write(std::string_view path, WriteMode mode,
                                                std::uint64_t offset) override {
    std::vector<std::string_view> comps;
    if (auto ec = split(path, comps)) return ec;
    if (comps.empty()) return errno_code(EISDIR);
    {
      std::lock_guard lock(tree_->mu);
      auto dir = parent_dir(*tree_, comps);
      if (!dir) return dir.error();
      auto it = (*dir)->children.find(comps.back());
      if (it != (*dir)->children.end()) {
        if (it->second->type == FileType::directory) return errno_code(EISDIR);
        if (mode == WriteMode::exclusive) return errno_code(EEXIST);
        if (mode == WriteMode::at_offset && offset > it->second->data->size()) { return errno_code(EINVAL); }
      } else if (mode == WriteMode::at_offset && offset != 0) {
        return errno_code(ENOENT);  // nothing to resume
      }
    }
    return std::unique_ptr<WriteFile>(std::make_unique<MemoryWriteFile>(
        tree_, std::vector<std::string>(comps.begin(), comps.end()), mode, offset));
  }

  Status mkdir(std::string_view path) override {
    std::vector<std::string_view> comps;
    if (auto ec = split(path, comps)) return ec;
    if (comps.empty()) return errno_code(EEXIST);
    std::lock_guard lock(tree_->mu);
    auto dir = parent_dir(*tree_, comps);
    if (!dir) return dir.error();
    auto& children = (*dir)->children;
    if (children.find(comps.back()) != children.end()) return errno_code(EEXIST);
    children.emplace(std::string(comps.back()), tree_->make(FileType::directory, 0755));
    (*dir)->mtime = now();
    return {};
  }

  Status rmdir(std::string_view path) override { return unlink(path, true); }
  Status remove(std::string_view path) override { return unlink(path, false); }

  Status rename(std::string_view from, std::string_view to) override {
    std::vector<std::string_view> a;
    std::vector<std::string_view> b;
    if (auto ec = split(from, a)) return ec;
    if (auto ec = split(to, b)) return ec;
    if (a.empty() || b.empty()) return errno_code(EBUSY);
    std::lock_guard lock(tree_->mu);
    auto da = parent_dir(*tree_, a);
    if (!da) return da.error();
    auto src = (*da)->children.find(a.back());
    if (src == (*da)->children.end()) return errno_code(ENOENT);
    auto db = parent_dir(*tree_, b);
    if (!db) return db.error();
    if (a == b) return {};
    // A directory cannot move into itself.
    if (b.size() > a.size() && std::equal(a.begin(), a.end(), b.begin())) { return errno_code(EINVAL); }
    std::shared_ptr<Node> node = src->second;
    auto dst = (*db)->children.find(b.back());
    if (dst != (*db)->children.end()) {
      const Node& d = *dst->second;
      if (node->type == FileType::directory) {
        if (d.type != FileType::directory) return errno_code(ENOTDIR);
        if (!d.children.empty()) return errno_code(ENOTEMPTY);
      } else if (d.type == FileType::directory) {
        return errno_code(EISDIR);
      }
      (*db)->children.erase(dst);
    }
    (*da)->children.erase(src);
    (*db)->children.emplace(std::string(b.back()), std::move(node));
    (*da)->mtime = (*db)->mtime = now();
    return {};
  }

  Status set_mtime(std::string_view path, std::int64_t mtime) override {
    return update(path, [mtime](Node& n) { n.mtime = mtime; });
  }

  Status chmod(std::string_view path, std::uint32_t mode) override {
    return update(path, [mode](Node& n) { n.mode = mode & 0777; });
  }

 private:
  template <class F>
  Status update(std::string_view path, F&& f) {
    std::vector<std::string_view> comps;
    if (auto ec = split(path, comps)) return ec;
    std::lock_guard lock(tree_->mu);
    auto n = walk(*tree_, comps, comps.size());
    if (!n) return n.error();
    f(**n);
    return {};
  }

  Status unlink(std::string_view path, bool dir_wanted) {
    std::vector<std::string_view> comps;
    if (auto ec = split(path, comps)) return ec;
    if (comps.empty()) return errno_code(dir_wanted ? EBUSY : EISDIR);
    std::lock_guard lock(tree_->mu);
    auto dir = parent_dir(*tree_, comps);
    if (!dir) return dir.error();
    auto it = (*dir)->children.find(comps.back());
    if (it == (*dir)->children.end()) return errno_code(ENOENT);
    const Node& n = *it->second;
    if (dir_wanted) {
      if (n.type != FileType::directory) return errno_code(ENOTDIR);
      if (!n.children.empty()) return errno_code(ENOTEMPTY);
    } else if (n.type == FileType::directory) {
      return errno_code(EISDIR);
    }
    (*dir)->children.erase(it);
    (*dir)->mtime = now();
    return {};
  }

  std::shared_ptr<Tree> tree_;
};

void count(const Node& n, std::size_t& files, std::uint64_t& bytes) {
  for (const auto& [name, child] : n.children) {
    if (child->type == FileType::file) {
      ++files;
      bytes += child->data->size();
    } else if (child->type == FileType::directory) {
      count(*child, files, bytes);
    }
  }
}

}  // namespace

MemoryStorageFactory::MemoryStorageFactory() : tree_(std::make_shared<Tree>()) {}
MemoryStorageFactory::~MemoryStorageFactory() = default;

Result<std::unique_ptr<Storage>> MemoryStorageFactory::create(const User& /*user*/) {
  return std::unique_ptr<Storage>(std::make_unique<MemoryStorage>(tree_));
}

std::size_t MemoryStorageFactory::file_count() const {
  std::lock_guard lock(tree_->mu);
  std::size_t files = 0;
  std::uint64_t bytes = 0;
  count(*tree_->root, files, bytes);
  return files;
}

std::uint64_t MemoryStorageFactory::total_bytes() const {
  std::lock_guard lock(tree_->mu);
  std::size_t files = 0;
  std::uint64_t bytes = 0;
  count(*tree_->root, files, bytes);
  return bytes;
}

}  // namespace feitp
