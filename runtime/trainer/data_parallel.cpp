#include "runtime/trainer/data_parallel.h"

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <string>

#include "formats/error.h"

namespace ckpt::runtime {

struct DataParallel::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
};

DataParallel::~DataParallel() = default;

namespace {

long env_number(const char* name, long lo, long hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, name, "is not set (data parallel needs RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT)");
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end || n < lo || n > hi) {
    throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, name, "'" + std::string(v) + "' is not a number in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  }
  return n;
}

}  // namespace

std::unique_ptr<DataParallel> DataParallel::from_environment() {
  const char* ws = std::getenv("WORLD_SIZE");
  if (!ws || std::string(ws) == "1") return nullptr;
  std::unique_ptr<DataParallel> dp(new DataParallel());
  dp->world_ = static_cast<int>(env_number("WORLD_SIZE", 1, 4096));
  dp->rank_ = static_cast<int>(env_number("RANK", 0, dp->world_ - 1));
  const auto port = static_cast<uint16_t>(env_number("MASTER_PORT", 1, 65535));
  const char* addr = std::getenv("MASTER_ADDR");
  const std::string host = addr && *addr ? addr : "127.0.0.1";
  try {
    c10d::TCPStoreOptions opts;
    opts.port = port;
    opts.isServer = dp->rank_ == 0;
    opts.numWorkers = static_cast<size_t>(dp->world_);
    opts.timeout = std::chrono::minutes(5);
    dp->group_ = std::make_unique<Group>();
    dp->group_->store = c10::make_intrusive<c10d::TCPStore>(host, opts);
    auto options = c10d::ProcessGroupGloo::Options::create();
    options->devices.push_back(host == "127.0.0.1" || host == "localhost" ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                                                          : c10d::ProcessGroupGloo::createDefaultDevice());
    options->timeout = std::chrono::minutes(30);
    dp->group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(dp->group_->store, dp->rank_, dp->world_, options);
  } catch (const std::exception& e) {
    throw Error(ErrorCode::Io, host + ":" + std::to_string(port), Error::kNoOffset, "MASTER_ADDR", std::string("c10d Gloo process group: ") + e.what());
  }
  return dp;
}

void DataParallel::all_reduce_sum(const std::vector<torch::Tensor>& tensors) {
  if (tensors.empty()) return;
  std::vector<torch::Tensor> flat{torch::cat([&] {
    std::vector<torch::Tensor> parts;
    for (const auto& t : tensors) parts.push_back(t.reshape({-1}));
    return parts;
  }())};
  group_->pg->allreduce(flat)->wait();
  int64_t at = 0;
  for (const auto& t : tensors) {
    t.copy_(flat[0].narrow(0, at, t.numel()).view_as(t));
    at += t.numel();
  }
}

}  // namespace ckpt::runtime
