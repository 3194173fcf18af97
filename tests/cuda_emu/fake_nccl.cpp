// A one-rank NCCL for the CUDA emulator (nccl.h here), built as a shared library that
// cuda/process_group_nccl.cu loads like the real one (GPT_NCCL_LIBRARY). With one rank
// every collective is a copy of the rank's own data; this library checks the arguments
// NCCL would (rank, counts, types, root/peer = 0, balanced group calls, a send matched
// by a receive) and counts the calls, so a test can see that the group really used it.
#include <cstdlib>
#include <cstring>
#include <deque>

#include "nccl.h"

struct ncclComm {
  int nranks, rank;
};

namespace {
int g_group_depth = 0;
struct Pending {
  const void* buf;
  size_t bytes;
};
std::deque<Pending> g_sends;  // sends to self, matched by receives in order
long g_calls = 0;

size_t type_size(ncclDataType_t t) {
  switch (t) {
    case ncclInt32: return 4;
    case ncclFloat: return 4;
    case ncclDouble: return 8;
  }
  return 0;
}
ncclResult_t copy(const void* send, void* recv, size_t count, ncclDataType_t type, ncclComm_t comm) {
  if (!comm || comm->nranks != 1 || type_size(type) == 0) return ncclInvalidArgument;
  g_calls++;
  if (send != recv && count) std::memmove(recv, send, count * type_size(type));
  return ncclSuccess;
}
}  // namespace

extern "C" {
// For tests: how many data-moving calls were made.
long gpt_fake_nccl_calls() { return g_calls; }

ncclResult_t ncclGetVersion(int* version) {
  const char* v = std::getenv("GPT_FAKE_NCCL_VERSION_CODE");  // tests: an older library's code
  *version = v && *v ? std::atoi(v) : NCCL_VERSION_CODE;
  return ncclSuccess;
}
const char* ncclGetErrorString(ncclResult_t r) {
  switch (r) {
    case ncclSuccess: return "no error";
    case ncclInvalidArgument: return "invalid argument (fake one-rank NCCL of the CUDA emulator)";
    case ncclInvalidUsage: return "invalid usage (fake one-rank NCCL of the CUDA emulator)";
    default: return "error (fake one-rank NCCL of the CUDA emulator)";
  }
}
ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::memset(id, 0, sizeof *id);
  std::memcpy(id->internal, "gpt.cc fake nccl", 16);
  return ncclSuccess;
}
ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  if (nranks != 1 || rank != 0 || std::memcmp(id.internal, "gpt.cc fake nccl", 16) != 0) return ncclInvalidUsage;
  *comm = new ncclComm{nranks, rank};
  return ncclSuccess;
}
ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  delete comm;
  return g_sends.empty() && g_group_depth == 0 ? ncclSuccess : ncclInvalidUsage;
}
ncclResult_t ncclCommAbort(ncclComm_t comm) {
  delete comm;
  g_sends.clear();
  g_group_depth = 0;
  return ncclSuccess;
}
ncclResult_t ncclAllReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                           ncclComm_t comm, cudaStream_t) {
  return op == ncclSum ? copy(send, recv, count, type, comm) : ncclInvalidArgument;
}
ncclResult_t ncclReduce(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op, int root,
                        ncclComm_t comm, cudaStream_t) {
  return op == ncclSum && root == 0 ? copy(send, recv, count, type, comm) : ncclInvalidArgument;
}
ncclResult_t ncclBroadcast(const void* send, void* recv, size_t count, ncclDataType_t type, int root, ncclComm_t comm,
                           cudaStream_t) {
  return root == 0 ? copy(send, recv, count, type, comm) : ncclInvalidArgument;
}
ncclResult_t ncclReduceScatter(const void* send, void* recv, size_t count, ncclDataType_t type, ncclRedOp_t op,
                               ncclComm_t comm, cudaStream_t) {
  return op == ncclSum ? copy(send, recv, count, type, comm) : ncclInvalidArgument;
}
ncclResult_t ncclAllGather(const void* send, void* recv, size_t count, ncclDataType_t type, ncclComm_t comm,
                           cudaStream_t) {
  return copy(send, recv, count, type, comm);
}
ncclResult_t ncclSend(const void* send, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t) {
  if (!comm || peer != 0 || type_size(type) == 0 || g_group_depth == 0) return ncclInvalidUsage;
  g_sends.push_back({send, count * type_size(type)});
  return ncclSuccess;
}
ncclResult_t ncclRecv(void* recv, size_t count, ncclDataType_t type, int peer, ncclComm_t comm, cudaStream_t) {
  if (!comm || peer != 0 || g_sends.empty() || g_sends.front().bytes != count * type_size(type))
    return ncclInvalidUsage;
  g_calls++;
  std::memmove(recv, g_sends.front().buf, g_sends.front().bytes);
  g_sends.pop_front();
  return ncclSuccess;
}
ncclResult_t ncclGroupStart() {
  g_group_depth++;
  return ncclSuccess;
}
ncclResult_t ncclGroupEnd() {
  if (g_group_depth == 0) return ncclInvalidUsage;
  return --g_group_depth == 0 && !g_sends.empty() ? ncclInvalidUsage : ncclSuccess;
}
}
