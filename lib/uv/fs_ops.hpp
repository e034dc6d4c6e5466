#pragma once

// The blocking file system calls behind uv::fs (private to lib/uv): each
// runs on the calling thread (a pool thread for a request with a callback,
// the caller's for the synchronous form), retries EINTR where libuv does,
// and turns errno into an error_code in the system category.

#include <pollux/core/result.hpp>
#include <pollux/uv/fs.hpp>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <sys/types.h>
#include <vector>

namespace pollux::uv::fs::ops {

using boost::system::error_code;

Result<File> open(const std::string& path, int flags, int mode);
error_code close(File fd);
Result<std::size_t>
read(File fd, const std::vector<boost::asio::mutable_buffer>& bufs, std::int64_t offset);
Result<std::size_t>
write(File fd, const std::vector<boost::asio::const_buffer>& bufs, std::int64_t offset);

Result<Stat> stat(const std::string& path);
Result<Stat> lstat(const std::string& path);
Result<Stat> fstat(File fd);
Result<StatFs> statfs(const std::string& path);

error_code unlink(const std::string& path);
error_code mkdir(const std::string& path, int mode);
Result<std::string> mkdtemp(const std::string& tpl);
Result<TempFile> mkstemp(const std::string& tpl);
error_code rmdir(const std::string& path);
Result<std::vector<Dirent>> scandir(const std::string& path);

Result<Dir> opendir(const std::string& path);
Result<std::vector<Dirent>> readdir(const Dir& dir, std::size_t n);
error_code closedir(const Dir& dir);

error_code rename(const std::string& from, const std::string& to);
error_code fsync(File fd);
error_code fdatasync(File fd);
error_code ftruncate(File fd, std::int64_t length);
error_code copyfile(const std::string& from, const std::string& to, int flags);
Result<std::size_t> sendfile(File out, File in, std::int64_t in_offset, std::size_t length);
error_code access(const std::string& path, int mode);
error_code chmod(const std::string& path, int mode);
error_code fchmod(File fd, int mode);
error_code utime(const std::string& path, double atime, double mtime);
error_code futime(File fd, double atime, double mtime);
error_code lutime(const std::string& path, double atime, double mtime);
error_code link(const std::string& path, const std::string& new_path);
error_code symlink(const std::string& target, const std::string& link_path);
Result<std::string> readlink(const std::string& path);
Result<std::string> realpath(const std::string& path);
error_code chown(const std::string& path, uid_t uid, gid_t gid);
error_code fchown(File fd, uid_t uid, gid_t gid);
error_code lchown(const std::string& path, uid_t uid, gid_t gid);

} // namespace pollux::uv::fs::ops
