#include "runtime/trainer/trainer.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <thread>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "formats/byte_sink.h"
#include "formats/error.h"
#include "formats/output_guard.h"
#include "formats/progress.h"
#include "runtime/backend.h"
#include "runtime/model.h"
#include "runtime/tokenizer.h"
#include "runtime/trainer/adapter_state.h"
#include "runtime/trainer/data_parallel.h"
#include "runtime/trainer/loss_plot.h"
#include "runtime/trainer/lr_schedule.h"
#include "runtime/training_examples.h"

namespace ckpt::runtime {

namespace {

namespace fs = std::filesystem;
using json = nlohmann::ordered_json;

std::vector<TokenizedExample> tokenize_all(const TrainingData& data, const std::vector<size_t>& which, const Model& model, const Tokenizer& tok,
                                           const FinetuneOptions& o, size_t& cut) {
  std::vector<TokenizedExample> out;
  for (size_t i : which) {
    out.push_back(tokenize_record(tok, render_record(data.records[i], model, data.path), o.max_seq_length));
    cut += out.back().n_before_cut > out.back().ids.size();
  }
  return out;
}

TrainingData read_checked(const std::string& path, const char* flag) {
  TrainingData d = read_training_data(path);
  if (d.errors() > 0) {
    const auto& p = *std::find_if(d.problems.begin(), d.problems.end(), [](const DataProblem& q) { return q.error; });
    throw Error(ErrorCode::InvalidArgument, d.path, p.offset, p.field, fmt::format("line {}: {} ({} invalid records; run `ckpt data check`)", p.line, p.message, d.errors()));
  }
  if (d.records.empty()) throw Error(ErrorCode::InvalidArgument, d.path, Error::kNoOffset, flag, "has no records");
  return d;
}

void check_options(const FinetuneOptions& o) {
  auto bad = [](const char* flag, const std::string& why) { throw Error(ErrorCode::InvalidArgument, "", Error::kNoOffset, flag, why); };
  if (!(o.learning_rate > 0 && std::isfinite(o.learning_rate))) bad("--learning_rate", "must be a positive number");
  if (o.per_device_train_batch_size == 0) bad("--per_device_train_batch_size", "must be >= 1");
  if (o.gradient_accumulation_steps == 0) bad("--gradient_accumulation_steps", "must be >= 1");
  if (o.max_steps <= 0 && !(o.num_train_epochs > 0 && std::isfinite(o.num_train_epochs))) bad("--num_train_epochs", "must be > 0 (or give --max_steps)");
  if (!(o.lora_dropout >= 0 && o.lora_dropout < 1)) bad("--lora_dropout", "must be in [0, 1)");
  if (!(o.warmup_ratio >= 0 && o.warmup_ratio <= 1)) bad("--warmup_ratio", "must be in [0, 1]");
  if (!(o.eval_split >= 0 && o.eval_split < 1)) bad("--eval_split", "must be in [0, 1)");
  if (!(o.weight_decay >= 0 && std::isfinite(o.weight_decay))) bad("--weight_decay", "must be >= 0");
  if (!(o.max_grad_norm >= 0 && std::isfinite(o.max_grad_norm))) bad("--max_grad_norm", "must be >= 0 (0: no clipping)");
  if (!std::isfinite(o.lora_alpha) || o.lora_alpha == 0) bad("--lora_alpha", "must be a non-zero number");
  if (o.optim != "adamw_torch" && o.optim != "adamw_torch_fused") bad("--optim", "'" + o.optim + "': only adamw_torch is implemented");
  if (o.max_seq_length < 2) bad("--max_seq_length", "must be >= 2");
  if (o.logging_steps == 0) bad("--logging_steps", "must be >= 1");
  parse_lr_schedule(o.lr_scheduler_type);
}

std::string latest_checkpoint(const std::string& dir) {
  uint64_t best = 0;
  std::string path;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("checkpoint-", 0) != 0 || !fs::exists(e.path() / "trainer_state.json")) continue;
    const uint64_t step = std::strtoull(name.c_str() + 11, nullptr, 10);
    if (step >= best) best = step, path = e.path().string();
  }
  if (path.empty()) throw Error(ErrorCode::NotFound, dir, Error::kNoOffset, "--resume", "no complete checkpoint-N directory to resume from");
  return path;
}

struct LogState {
  std::vector<json> history;
  LossPoints train, eval;
};

void write_logs(const std::string& dir, const LogState& log, const std::string& title) {
  std::string lines;
  for (const auto& h : log.history) lines += h.dump() + "\n";
  write_text_file((fs::path(dir) / "training_log.jsonl").string(), lines);
  write_text_file((fs::path(dir) / "loss.svg").string(), loss_plot_svg(log.train, log.eval, title));
}

// The options that must agree for a checkpoint to continue a run.
json run_identity(const FinetuneOptions& o, const LoraSetup& s, uint64_t total_steps) {
  return {{"r", s.r},
          {"lora_alpha", s.alpha},
          {"learning_rate", o.learning_rate},
          {"per_device_train_batch_size", o.per_device_train_batch_size},
          {"gradient_accumulation_steps", o.gradient_accumulation_steps},
          {"seed", o.seed},
          {"max_seq_length", o.max_seq_length},
          {"packing", o.packing},
          {"no_shuffle", o.no_shuffle},
          {"total_steps", total_steps}};
}

// --device: CUDA needs a libtorch built with it (PyTorch's; Debian's libtorch-dev is CPU-only).
torch::Device training_device(const FinetuneOptions& o, bool distributed) {
  const Device wanted = parse_device(o.device);
  if (wanted == Device::Cpu) return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (wanted == Device::Cuda) {
    if (!cuda) {
      throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "--device",
                  "cuda: this libtorch sees no CUDA device (Debian's libtorch-dev is CPU-only: configure with PyTorch's libtorch, "
                  "-DCMAKE_PREFIX_PATH=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)'); README: GPU)");
    }
    if (distributed) throw Error(ErrorCode::Unsupported, "", Error::kNoOffset, "--device", "cuda with --nproc / several ranks is not supported yet (Gloo all-reduce is CPU)");
  }
  return cuda && !distributed ? torch::Device(torch::kCUDA, 0) : torch::Device(torch::kCPU);
}

}  // namespace

FinetuneReport run_finetune(const FinetuneOptions& o) {
  check_options(o);
  const auto t_start = std::chrono::steady_clock::now();
  auto dp = DataParallel::from_environment();
  const int rank = dp ? dp->rank() : 0, world = dp ? dp->world() : 1;
  const bool main_rank = rank == 0;
  const torch::Device device = training_device(o, dp != nullptr);
  auto print = [&](const std::string& line) {
    if (!main_rank) return;
    if (o.print) o.print(line); else fmt::print("{}\n", line);
  };
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());
  at::set_num_threads(static_cast<int>(std::max(1u, (o.threads ? o.threads : hw) / static_cast<unsigned>(o.threads ? 1 : world))));

  // Output directory: new, empty, or the run being resumed (or replaced with --force).
  std::string resume_dir;
  if (!o.resume.empty()) resume_dir = o.resume == "latest" ? latest_checkpoint(o.output) : o.resume;
  check_output_path(o.output, {o.base, o.data}, /*output_is_directory=*/true);
  if (main_rank) {
    std::error_code ec;
    if (fs::exists(o.output) && !fs::is_empty(o.output, ec) && resume_dir.empty() && !o.force) {
      throw Error(ErrorCode::InvalidArgument, o.output, Error::kNoOffset, "-o", "exists and is not empty; pass --resume to continue its run or --force to replace it");
    }
    fs::create_directories(o.output);
  }

  const Model model = load_model(o.base);
  const Tokenizer tok(model.vocab, o.base);
  const TrainingData train_data = read_checked(o.data, "--data");
  std::vector<size_t> train_idx(train_data.records.size()), eval_idx;
  for (size_t i = 0; i < train_idx.size(); ++i) train_idx[i] = i;
  TrainingData eval_file;
  const TrainingData* eval_data = nullptr;
  if (!o.eval_data.empty()) {
    eval_file = read_checked(o.eval_data, "--eval_data");
    eval_data = &eval_file;
    eval_idx.resize(eval_file.records.size());
    for (size_t i = 0; i < eval_idx.size(); ++i) eval_idx[i] = i;
  } else if (o.eval_split > 0) {
    const DataSplit split = split_training_data(train_data.records.size(), o.eval_split, o.seed);
    train_idx = split.train;
    eval_idx = split.validation;
    eval_data = &train_data;
  }
  size_t cut = 0;
  const auto examples = tokenize_all(train_data, train_idx, model, tok, o, cut);
  const auto eval_examples = eval_data ? tokenize_all(*eval_data, eval_idx, model, tok, o, cut) : std::vector<TokenizedExample>{};
  if (cut) print(fmt::format("warning: {} records longer than --max_seq_length {} were cut", cut, o.max_seq_length));
  std::vector<size_t> eval_order(eval_examples.size());
  for (size_t i = 0; i < eval_order.size(); ++i) eval_order[i] = i;
  const auto eval_sequences = build_sequences(eval_examples, eval_order, o.max_seq_length, false, o.train_on_prompt);

  const torch::Dtype compute = o.bf16 ? torch::kBFloat16 : torch::kFloat32;
  LoraSetup lora = create_lora(model, o, torch::kFloat32);
  place_lora(lora.params, device);  // initialised on the host (the same values as a CPU run), trained there
  TorchModel tm(model, static_cast<uint32_t>(std::max<uint64_t>(o.max_seq_length, 1)), compute, device);
  tm.set_lora(&lora.params, o.lora_dropout);
  tm.set_gradient_checkpointing(o.gradient_checkpointing);
  std::vector<torch::Tensor> params;
  for (const auto& p : lora.params) params.push_back(p.a), params.push_back(p.b);
  torch::optim::AdamW optimizer(params, torch::optim::AdamWOptions(o.learning_rate)
                                            .betas({o.adam_beta1, o.adam_beta2})
                                            .eps(o.adam_epsilon)
                                            .weight_decay(o.weight_decay));

  // Steps: a global batch is per_device_train_batch_size x gradient_accumulation_steps x ranks rows.
  const size_t bs = o.per_device_train_batch_size, global_batch = bs * o.gradient_accumulation_steps * static_cast<size_t>(world);
  uint64_t cached_epoch = UINT64_MAX;
  std::vector<TrainingSequence> epoch_rows;
  auto rows_of_epoch = [&](uint64_t epoch) -> const std::vector<TrainingSequence>& {
    if (epoch != cached_epoch) {
      epoch_rows = build_sequences(examples, epoch_order(examples.size(), o.seed, epoch, o.no_shuffle), o.max_seq_length, o.packing, o.train_on_prompt);
      cached_epoch = epoch;
    }
    return epoch_rows;
  };
  const size_t rows0 = rows_of_epoch(0).size();
  if (rows0 == 0) throw Error(ErrorCode::InvalidArgument, o.data, Error::kNoOffset, "--data", "no record has a token to train on");
  const uint64_t steps_per_epoch = (rows0 + global_batch - 1) / global_batch;
  const uint64_t total_steps = o.max_steps > 0 ? static_cast<uint64_t>(o.max_steps)
                                               : static_cast<uint64_t>(std::ceil(o.num_train_epochs * static_cast<double>(steps_per_epoch)));
  const uint64_t warmup = o.warmup_steps ? o.warmup_steps : static_cast<uint64_t>(std::ceil(o.warmup_ratio * static_cast<double>(total_steps)));
  const LrSchedule schedule = parse_lr_schedule(o.lr_scheduler_type);
  const uint64_t eval_every = o.eval_steps ? o.eval_steps : o.logging_steps;
  const json identity = run_identity(o, lora, total_steps);

  LogState log;
  uint64_t start_step = 0;
  if (!resume_dir.empty()) {
    std::ifstream in(fs::path(resume_dir) / "trainer_state.json");
    json state;
    try {
      state = json::parse(in);
    } catch (const json::exception&) {
      throw Error(ErrorCode::BadJson, (fs::path(resume_dir) / "trainer_state.json").string(), Error::kNoOffset, "trainer_state", "cannot be parsed");
    }
    if (state.value("run", json()) != identity) {
      throw Error(ErrorCode::InvalidArgument, resume_dir, Error::kNoOffset, "--resume",
                  "the checkpoint was made with other options: " + state.value("run", json()).dump());
    }
    start_step = state.value("global_step", uint64_t{0});
    for (const auto& h : state.value("log_history", json::array())) {
      log.history.push_back(h);
      if (h.contains("loss")) log.train.emplace_back(h["step"].get<double>(), h["loss"].get<double>());
      if (h.contains("eval_loss")) log.eval.emplace_back(h["step"].get<double>(), h["eval_loss"].get<double>());
    }
    load_lora_values(lora, resume_dir);
    torch::load(optimizer, (fs::path(resume_dir) / "optimizer.pt").string());
    print(fmt::format("resuming from {} at step {}", resume_dir, start_step));
  }

  print(fmt::format("finetune {} on {}: {} LoRA modules (r {}, alpha {}, {} trainable parameters), {} training rows, {} eval rows; {} steps of {} rows "
                    "({} per device x {} accumulation x {} ranks)",
                    o.base, device.str(), lora.params.size(), lora.r, lora.alpha, [&] {
                      int64_t n = 0;
                      for (const auto& p : params) n += p.numel();
                      return n;
                    }(), rows0, eval_sequences.size(), total_steps, global_batch, bs, o.gradient_accumulation_steps, world));

  auto evaluate = [&]() -> double {
    if (eval_sequences.empty()) return -1;
    torch::NoGradGuard no_grad;
    tm.set_training(false);
    torch::Tensor sums = torch::zeros({2}, torch::kFloat64);
    for (size_t i = static_cast<size_t>(rank) * bs; i < eval_sequences.size(); i += bs * static_cast<size_t>(world)) {
      std::vector<const TrainingSequence*> chunk;
      for (size_t j = i; j < std::min(eval_sequences.size(), i + bs); ++j) chunk.push_back(&eval_sequences[j]);
      const TorchBatch b = make_batch(chunk);
      sums[0] += tm.loss_sum(b).item<double>();
      sums[1] += static_cast<double>(b.n_targets);
    }
    if (dp) dp->all_reduce_sum({sums});
    return sums[1].item<double>() > 0 ? sums[0].item<double>() / sums[1].item<double>() : -1;
  };

  auto save_checkpoint = [&](uint64_t step) {
    const std::string dest = (fs::path(o.output) / fmt::format("checkpoint-{}", step)).string();
    StagingDir stage(dest, /*force=*/true);
    write_lora(lora, o, stage.path());
    torch::save(optimizer, (fs::path(stage.path()) / "optimizer.pt").string());
    json state = {{"global_step", step}, {"epoch", static_cast<double>(step) / static_cast<double>(steps_per_epoch)}, {"run", identity}};
    state["log_history"] = log.history;
    write_text_file((fs::path(stage.path()) / "trainer_state.json").string(), state.dump(2) + "\n");
    stage.commit();
  };

  FinetuneReport report;
  report.device = device.str();
  ProgressBar bar("finetune", total_steps - std::min(start_step, total_steps), o.progress && main_rank, ProgressBar::Unit::Steps);
  double window_loss = 0, window_tokens_per_s = 0;
  uint64_t window_steps = 0, window_tokens = 0;
  auto window_start = std::chrono::steady_clock::now();
  for (uint64_t step = start_step; step < total_steps; ++step) {
    const uint64_t epoch = step / steps_per_epoch, k = step % steps_per_epoch;
    const auto& rows = rows_of_epoch(epoch);
    const size_t first = std::min(rows.size(), k * global_batch);
    const size_t last = k + 1 == steps_per_epoch ? rows.size() : std::min(rows.size(), first + global_batch);
    int64_t step_targets = 0, step_tokens = 0;
    for (size_t i = first; i < last; ++i) step_targets += static_cast<int64_t>(rows[i].n_targets()), step_tokens += static_cast<int64_t>(rows[i].ids.size());
    tm.set_training(true);
    optimizer.zero_grad();
    torch::Tensor loss_total = torch::zeros({1}, torch::kFloat64);
    // This rank's micro-batches: chunks rank, rank + world, ... of bs rows each.
    for (uint32_t m = 0; m < o.gradient_accumulation_steps; ++m) {
      const size_t chunk = static_cast<size_t>(m) * static_cast<size_t>(world) + static_cast<size_t>(rank);
      const size_t b0 = first + chunk * bs, b1 = std::min(last, b0 + bs);
      if (b0 >= b1 || step_targets == 0) continue;
      std::vector<const TrainingSequence*> seqs;
      for (size_t i = b0; i < b1; ++i) seqs.push_back(&rows[i]);
      torch::manual_seed(o.seed + 1 + step * 65536 + chunk);  // dropout masks depend on the step and chunk only
      const TorchBatch batch = make_batch(seqs);
      torch::Tensor loss = tm.loss_sum(batch);
      (loss / static_cast<double>(step_targets)).backward();
      loss_total += loss.detach().to(torch::kCPU, torch::kFloat64);
    }
    if (dp) {
      std::vector<torch::Tensor> grads{loss_total};
      for (auto& p : params) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        grads.push_back(p.grad());
      }
      dp->all_reduce_sum(grads);
    }
    for (auto& p : params) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    }
    if (step_targets == 0) {
      print(fmt::format("warning: step {} has no token to train on; skipped", step + 1));
      continue;
    }
    const double grad_norm = o.max_grad_norm > 0 ? torch::nn::utils::clip_grad_norm_(params, o.max_grad_norm)
                                                 : torch::nn::utils::clip_grad_norm_(params, std::numeric_limits<double>::infinity());
    const double lr = learning_rate_at(schedule, o.learning_rate, step, warmup, total_steps);
    for (auto& g : optimizer.param_groups()) static_cast<torch::optim::AdamWOptions&>(g.options()).lr(lr);
    optimizer.step();
    const double step_loss = loss_total.item<double>() / static_cast<double>(step_targets);
    if (!std::isfinite(step_loss)) throw Error(ErrorCode::InvalidArgument, o.base, Error::kNoOffset, "loss", fmt::format("is {} at step {}; lower --learning_rate", step_loss, step + 1));
    window_loss += step_loss;
    ++window_steps;
    window_tokens += static_cast<uint64_t>(step_tokens);
    report.trained_tokens += static_cast<uint64_t>(step_tokens);
    bar.set_status(fmt::format("loss {:.4f} lr {:.2e}", step_loss, lr));
    bar.add(1);
    const uint64_t done = step + 1;
    json entry;
    if (done % o.logging_steps == 0 || done == total_steps) {
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
      window_tokens_per_s = secs > 0 ? static_cast<double>(window_tokens) / secs : 0;
      const double mean = window_loss / static_cast<double>(window_steps);
      entry = {{"step", done}, {"epoch", static_cast<double>(done) / static_cast<double>(steps_per_epoch)}, {"loss", mean}, {"learning_rate", lr},
               {"grad_norm", grad_norm}, {"tokens_per_second", window_tokens_per_s}};
      log.train.emplace_back(static_cast<double>(done), mean);
      if (log.train.size() == 1) report.first_loss = mean;
      report.last_loss = mean;
      window_loss = 0, window_steps = 0, window_tokens = 0;
      window_start = std::chrono::steady_clock::now();
    }
    if (!eval_sequences.empty() && (done % eval_every == 0 || done == total_steps)) {
      const double el = evaluate();
      if (entry.is_null()) entry = {{"step", done}, {"epoch", static_cast<double>(done) / static_cast<double>(steps_per_epoch)}};
      entry["eval_loss"] = el;
      log.eval.emplace_back(static_cast<double>(done), el);
      report.final_eval_loss = el;
    }
    if (!entry.is_null()) {
      log.history.push_back(entry);
      if (main_rank) {
        bar.finish();
        print(entry.dump());
      }
    }
    if (main_rank && o.save_steps && done % o.save_steps == 0 && done < total_steps) save_checkpoint(done);
    report.steps = done;
  }
  bar.finish();
  if (main_rank) {
    write_lora(lora, o, o.output);
    write_logs(o.output, log, fmt::format("ckpt finetune {} (r {}, lr {})", fs::path(o.base).filename().string(), lora.r, o.learning_rate));
  }
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_start).count();
  print(fmt::format("wrote {} (adapter_config.json, adapter_model.safetensors, training_log.jsonl, loss.svg) after {} steps in {:.1f} s", o.output,
                    report.steps, report.seconds));
  return report;
}

}  // namespace ckpt::runtime
