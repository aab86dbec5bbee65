// Maps a shared-memory region the core created into the Node process, so that the native client
// moves tensors into and out of it with memcpy instead of one write(2) / read(2) per tensor (a
// system call that copies through the kernel and, for MBs, costs several times a memcpy here).
//
//   const { map, unmap } = require('cvp_region_map.node');
//   const ab = map(fd, byteLength);   // ArrayBuffer over the whole region, MAP_SHARED
//   unmap(ab);                        // detaches it first: later access sees 0 bytes, never freed memory
//
// The mapping is released by unmap, or when the ArrayBuffer is collected if unmap was never called.
#define NAPI_VERSION 8  // napi_detach_arraybuffer
#include <node_api.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>

namespace {

struct Mapping {
  void* addr;
  size_t length;
  bool mapped;
};

napi_value fail(napi_env env, const std::string& message) {
  napi_throw_error(env, nullptr, message.c_str());
  return nullptr;
}

void release(napi_env /*env*/, void* /*data*/, void* hint) {
  auto* m = static_cast<Mapping*>(hint);
  if (m->mapped) ::munmap(m->addr, m->length);
  delete m;
}

napi_value map_region(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 2)
    return fail(env, "map(fd, byteLength) takes two arguments");
  int64_t fd = -1, length = 0;
  if (napi_get_value_int64(env, argv[0], &fd) != napi_ok || napi_get_value_int64(env, argv[1], &length) != napi_ok ||
      fd < 0 || length <= 0 || fd > INT32_MAX)
    return fail(env, "map(fd, byteLength): a descriptor and a positive length");
  void* addr = ::mmap(nullptr, static_cast<size_t>(length), PROT_READ | PROT_WRITE, MAP_SHARED, static_cast<int>(fd), 0);
  if (addr == MAP_FAILED) return fail(env, std::string("mmap: ") + std::strerror(errno));
  auto* m = new Mapping{addr, static_cast<size_t>(length), true};
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, addr, m->length, release, m, &buffer) != napi_ok) {
    ::munmap(addr, m->length);
    delete m;
    return fail(env, "this Node refuses external ArrayBuffers");
  }
  // the unmap below finds its Mapping through the wrap; the ArrayBuffer's finalizer frees it
  if (napi_wrap(env, buffer, m, nullptr, nullptr, nullptr) != napi_ok) return fail(env, "cannot tag the mapping");
  return buffer;
}

napi_value unmap_region(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  void* found = nullptr;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc != 1 ||
      napi_remove_wrap(env, argv[0], &found) != napi_ok || found == nullptr)
    return fail(env, "unmap(buffer): a buffer that map() returned and that is still mapped");
  auto* m = static_cast<Mapping*>(found);
  // detach before unmapping: every view of the buffer then reads as empty instead of faulting
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok) return fail(env, "cannot detach the mapping");
  ::munmap(m->addr, m->length);
  m->mapped = false;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"map", nullptr, map_region, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"unmap", nullptr, unmap_region, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
  };
  napi_define_properties(env, exports, 2, props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
